package store

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jitdesk/jitdesk/approvals"
)

// seedEscalation adds, beside seedBasics' k8s and db templates (which do
// not escalate), an "esc" template that escalates every 10 minutes up to
// 3 steps, and inserts the given requests.
func seedEscalation(t testing.TB, db *DB, reqs []approvals.Request) {
	t.Helper()
	seedBasics(t, db)
	err := db.Update(context.Background(), func(tx approvals.Tx) error {
		return tx.InsertTemplate(approvals.Template{Key: "esc", AppID: "app1", Name: "Esc", Title: "Escalating", Type: approvals.TypeApprove,
			Approvers: []string{"bob"}, Quorum: 1, DefaultTTL: time.Hour, MaxTTL: time.Hour, PendingTimeout: 24 * time.Hour,
			EscalateAfter: 10 * time.Minute, EscalateCap: 3})
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.BulkInsertRequests(context.Background(), reqs, nil); err != nil {
		t.Fatal(err)
	}
	// Bulk loading starts every request at level 0; raise the ones asked.
	err = db.Update(context.Background(), func(tx approvals.Tx) error {
		for _, r := range reqs {
			if r.Escalation > 0 {
				if ok, err := tx.SetEscalation(r.ID, 0, r.Escalation); err != nil || !ok {
					return fmt.Errorf("raise %s to %d: ok=%v %v", r.ID, r.Escalation, ok, err)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func escReq(id, tmpl string, age time.Duration, level int, status approvals.Status, now time.Time) approvals.Request {
	r := approvals.Request{ID: id, TemplateKey: tmpl, AppID: "app1", Requester: "alice", Reason: "r", Metadata: map[string]string{"ns": "x"},
		TTL: time.Hour, CreatedAt: now.Add(-age), ExpiresAt: now.Add(24 * time.Hour), Status: status, Escalation: level}
	if status != approvals.StatusPending {
		r.DecidedAt, r.DecidedBy = now, "bob"
	}
	return r
}

func dueIDs(t *testing.T, db *DB, now time.Time) []string {
	t.Helper()
	var ids []string
	err := db.View(context.Background(), func(tx approvals.ReadTx) error {
		rs, err := tx.DueEscalations(now, 100)
		ids = idsOf(rs)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

// Only pending requests of escalating templates whose next step is due
// (level L is due after (L+1) periods) and below the cap come back, oldest
// first; other templates' requests, however old, never do.
func TestDueEscalationsReturnsOnlyDueStepsOfEscalatingTemplatesOldestFirst(t *testing.T) {
	db := openTemp(t)
	now := base.Add(48 * time.Hour)
	seedEscalation(t, db, []approvals.Request{
		escReq("E-young", "esc", 9*time.Minute, 0, approvals.StatusPending, now),  // first step not due yet
		escReq("E-due0", "esc", 11*time.Minute, 0, approvals.StatusPending, now),  // first step due
		escReq("E-done1", "esc", 15*time.Minute, 1, approvals.StatusPending, now), // second step not due until 20m
		escReq("E-due1", "esc", 25*time.Minute, 1, approvals.StatusPending, now),  // second step due
		escReq("E-cap", "esc", 5*time.Hour, 3, approvals.StatusPending, now),      // at the cap
		escReq("E-decided", "esc", 5*time.Hour, 0, approvals.StatusApproved, now), // not pending
		escReq("K-old", "k8s", 5*time.Hour, 0, approvals.StatusPending, now),      // template does not escalate
	})
	got := fmt.Sprint(dueIDs(t, db, now))
	if want := "[E-due1 E-due0]"; got != want {
		t.Fatalf("due escalations = %s, want %s", got, want)
	}
}

// The sweeper's query reads escalating templates' pending requests through
// requests_pending_by_template, never a scan of all pending requests.
func TestDueEscalationsQueryPlanUsesThePerTemplatePendingIndex(t *testing.T) {
	db := openTemp(t)
	rows, err := db.read.Query(`EXPLAIN QUERY PLAN `+dueEscalationsSQL, 0, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, notused int
		var detail string
		if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	text := fmt.Sprint(plan)
	for _, p := range plan {
		if strings.HasPrefix(p, "SCAN r") && !strings.Contains(p, "requests_pending_by_template") {
			t.Fatalf("requests scanned without the per-template index: %s", text)
		}
	}
	if !strings.Contains(text, "requests_pending_by_template") {
		t.Fatalf("plan does not use requests_pending_by_template: %s", text)
	}
}

// dueEscalationsWalkSQL is the query DueEscalations ran before
// requests_pending_by_template: the walk of every pending request in
// creation order, kept as the baseline of BenchmarkDueEscalations.
const dueEscalationsWalkSQL = `SELECT ` + requestCols + requestFrom + `
	WHERE r.status = 'pending' AND t.escalate_after_ms > 0 AND r.escalation < t.escalate_cap
	  AND r.created_at + (r.escalation + 1) * t.escalate_after_ms <= ?
	ORDER BY r.created_at, r.id LIMIT ?`

// BenchmarkDueEscalations: one sweeper look with 100,000 pending requests
// of a template that does not escalate and 50 of one that does (10 due),
// against the earlier walk of the pending index in the same run.
func BenchmarkDueEscalations(b *testing.B) {
	db, err := Open(b.TempDir() + "/esc.db")
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	now := base.Add(48 * time.Hour)
	var reqs []approvals.Request
	for i := range 100_000 {
		reqs = append(reqs, escReq(fmt.Sprintf("K%06d", i), "k8s", time.Duration(i)*time.Second, 0, approvals.StatusPending, now))
	}
	for i := range 50 {
		age := time.Duration(i) * time.Minute / 5 // 0–10 min: the oldest are due
		if i >= 40 {
			age = 20*time.Minute + time.Duration(i)*time.Second
		}
		reqs = append(reqs, escReq(fmt.Sprintf("E%03d", i), "esc", age, 0, approvals.StatusPending, now))
	}
	seedEscalation(b, db, reqs)
	count := func(b *testing.B, q string, args ...any) int {
		n := 0
		err := db.View(context.Background(), func(approvals.ReadTx) error {
			rows, err := db.read.Query(q, args...)
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				n++
			}
			return rows.Err()
		})
		if err != nil {
			b.Fatal(err)
		}
		return n
	}
	b.Run("per-template-index", func(b *testing.B) {
		for b.Loop() {
			if n := count(b, dueEscalationsSQL, ms(now), ms(now), 100); n != 10 {
				b.Fatalf("due = %d, want 10", n)
			}
		}
	})
	b.Run("baseline-walk-all-pending", func(b *testing.B) {
		for b.Loop() {
			if n := count(b, dueEscalationsWalkSQL, ms(now), 100); n != 10 {
				b.Fatalf("due = %d, want 10", n)
			}
		}
	})
}
