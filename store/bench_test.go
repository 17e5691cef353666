package store

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jitdesk/jitdesk/approvals"
)

// BenchmarkBareInsertTx is the baseline for the write benchmarks: one row in
// its own transaction on the same durable settings (WAL, synchronous=FULL,
// BEGIN IMMEDIATE), with no jitdesk code at all. Its cost is the fsync.
func BenchmarkBareInsertTx(b *testing.B) {
	path := filepath.Join(b.TempDir(), "bare.db")
	db, err := sql.Open("sqlite", writeDSN(path))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if _, err := db.Exec(`CREATE TABLE t (id TEXT PRIMARY KEY, body TEXT NOT NULL, at INTEGER NOT NULL)`); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		tx, err := db.Begin()
		if err != nil {
			b.Fatal(err)
		}
		if _, err := tx.Exec(`INSERT INTO t VALUES (?, ?, ?)`, fmt.Sprint(i), "payload of a typical request row", i); err != nil {
			b.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkInsertRequestTx: a request row plus its audit event in one Update.
func BenchmarkInsertRequestTx(b *testing.B) {
	db := openTemp(b)
	seedBasics(b, db)
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		err := db.Update(ctx, func(tx approvals.Tx) error {
			if err := tx.InsertRequest(req(i, "k8s", "mallory", approvals.StatusPending)); err != nil {
				return err
			}
			_, err := tx.AppendAudit(approvals.AuditEvent{At: base, Actor: "app", Action: "request.created", Subject: "x"})
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkApproveToToken: Service.Approve completing a quorum of one —
// review, status change, grant, EdDSA token and three audit events in one
// transaction, every rule checked. Its baseline is BenchmarkApproveFloor
// (issue 13's target: at most 1.4× the floor).
func BenchmarkApproveToToken(b *testing.B) {
	db, svc, reqs, digests, clock := approvalFixture(b, b.N)
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		clock.Advance(time.Millisecond)
		out, err := svc.Approve(ctx, approvals.ApproveInput{RequestID: reqs[i].ID, Approver: "alice", Digest: digests[i]})
		if err != nil || out.Token == "" {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	_ = db
}

// BenchmarkApproveFloor is what an approval cannot go below: one
// BEGIN IMMEDIATE transaction with synchronous=FULL on the same schema
// writing the same rows as an approval (a review, the status change, a
// grant, three audit events) from constant values, plus one ed25519.Sign of
// a token-sized input — no reads, no checks, no JSON.
func BenchmarkApproveFloor(b *testing.B) {
	db, _, reqs, _, _ := approvalFixture(b, b.N)
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	signingInput := make([]byte, 700) // about an access token's header and claims
	conn := db.write
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		sig := ed25519.Sign(priv, signingInput)
		tx, err := conn.Begin()
		if err != nil {
			b.Fatal(err)
		}
		id := reqs[i].ID
		stmts := []struct {
			q    string
			args []any
		}{
			{`INSERT INTO reviews (request_id, approver, decision, comment, signature_digest, grant_ttl_ms, at) VALUES (?, 'alice', 'approve', '', '', 3600000, 1)`, []any{id}},
			{`UPDATE requests SET status = 'approved', decided_at = 1, decided_by = 'alice', approvals = 1 WHERE id = ?`, []any{id}},
			{`INSERT INTO grants (id, request_id, app_id, subject, audience, scope, issued_at, expires_at, kid, token, break_glass) SELECT ?, id, app_id, 'mallory', 'aud', 'k8s', 1, 2, 'kid', ?, 0 FROM requests WHERE id = ?`, []any{"G" + id, fmt.Sprintf("%x", sig), id}},
		}
		for k := 0; k < 3; k++ {
			stmts = append(stmts, struct {
				q    string
				args []any
			}{`INSERT INTO audit_events (seq, at, actor, action, subject, payload, prev_hash, hash) VALUES (?, 1, 'alice', 'x', ?, '{}', 'p', 'h')`, []any{int64(10_000_000 + i*3 + k), id}})
		}
		for _, st := range stmts {
			if _, err := tx.Exec(st.q, st.args...); err != nil {
				b.Fatal(err)
			}
		}
		if err := tx.Commit(); err != nil {
			b.Fatal(err)
		}
	}
}

var (
	millionOnce sync.Once
	millionDB   *DB
	millionErr  error
)

// Shape of the million-row benchmark database: the newest millionPending
// requests are pending (enough to show what COUNT(*) costs at that size),
// the rest decided an hour after creation. Row i is created at base+i s, is
// on template k8s (group sre, so alice's "needs me") when i is even, db
// otherwise, and requested by user(i mod 1000).
const (
	millionTotal   = 1_000_000
	millionPending = 150_000
)

func millionID(i int) string { return fmt.Sprintf("R%07d", i) }

// millionRows builds (once per benchmark process) the million-row database
// with BulkInsertRequests in batches of 10,000, as the demo loader does.
func millionRows(b *testing.B) *DB {
	millionOnce.Do(func() {
		dir, err := tempDirOutsideTest()
		if err != nil {
			millionErr = err
			return
		}
		db, err := Open(filepath.Join(dir, "million.db"))
		if err != nil {
			millionErr = err
			return
		}
		seedBasics(b, db)
		start := time.Now()
		const batch = 10_000
		for done := 0; done < millionTotal; done += batch {
			reqs := make([]approvals.Request, 0, batch)
			evs := make([]approvals.AuditEvent, 0, batch)
			for i := done; i < done+batch; i++ {
				status := approvals.StatusExpired
				if i >= millionTotal-millionPending {
					status = approvals.StatusPending
				}
				r := req(i, []string{"k8s", "db"}[i%2], fmt.Sprintf("user%d", i%1000), status)
				r.ID = millionID(i)
				r.CreatedAt = base.Add(time.Duration(i) * time.Second)
				if status != approvals.StatusPending {
					r.DecidedAt = r.CreatedAt.Add(time.Hour)
				}
				reqs = append(reqs, r)
				evs = append(evs, approvals.AuditEvent{At: r.CreatedAt, Actor: "app:app1", Action: "request.created", Subject: r.ID, Payload: []byte(`{"template":"k8s"}`)})
			}
			if err := db.BulkInsertRequests(context.Background(), reqs, evs); err != nil {
				millionErr = err
				return
			}
		}
		fmt.Printf("built %d requests (+%d audit events) with BulkInsertRequests in %s\n", millionTotal, millionTotal, time.Since(start).Round(time.Millisecond))
		if fi, err := os.Stat(db.Path()); err == nil {
			fmt.Printf("database file: %d MiB\n", fi.Size()>>20)
		}
		millionDB = db
	})
	if millionErr != nil {
		b.Fatal(millionErr)
	}
	return millionDB
}

// BenchmarkRequestsPage50 reads one page of 50 from 1,000,000 requests in
// each way the console and API list them, and counts what two of them
// select. Compare with BenchmarkOffsetPage50Deep.
func BenchmarkRequestsPage50(b *testing.B) {
	db := millionRows(b)
	cursor := func(i int, decided bool) *approvals.Cursor {
		at := base.Add(time.Duration(i) * time.Second)
		if decided {
			at = at.Add(time.Hour)
		}
		return &approvals.Cursor{At: at, ID: millionID(i)}
	}
	firstPending := millionTotal - millionPending
	cases := []struct {
		name  string
		q     approvals.RequestQuery
		count bool
	}{
		{"pending-first", approvals.RequestQuery{Scope: approvals.ScopePending, Limit: 50}, false},
		{"pending-deep-keyset", approvals.RequestQuery{Scope: approvals.ScopePending, After: cursor(firstPending+100_000, false), Limit: 50}, false},
		{"needs-me-first", approvals.RequestQuery{Scope: approvals.ScopePending, EligibleFor: "alice", Limit: 50}, false},
		{"needs-me-deep-keyset", approvals.RequestQuery{Scope: approvals.ScopePending, EligibleFor: "alice", After: cursor(firstPending+100_000, false), Limit: 50}, false},
		{"history-first", approvals.RequestQuery{Scope: approvals.ScopeDecided, Limit: 50}, false},
		{"history-deep-keyset", approvals.RequestQuery{Scope: approvals.ScopeDecided, After: cursor(100_000, true), Limit: 50}, false},
		// The rows OFFSET 900000 finds in BenchmarkOffsetPage50Deep, walked
		// to from either side.
		{"all-deep-keyset", approvals.RequestQuery{Scope: approvals.ScopeAll, After: cursor(100_000, false), Limit: 50}, false},
		{"all-deep-keyset-before", approvals.RequestQuery{Scope: approvals.ScopeAll, Before: cursor(99_949, false), Limit: 50}, false},
		{"requester-history", approvals.RequestQuery{Scope: approvals.ScopeAll, Requester: "user42", Limit: 50}, false},
		// user42 also matches user420..user429: about 1 pending row in 90.
		{"filter-pending", approvals.RequestQuery{Scope: approvals.ScopePending, Filter: "user42", Limit: 50}, false},
		// The worst case: nothing matches, so the whole scope is scanned.
		{"filter-pending-nomatch", approvals.RequestQuery{Scope: approvals.ScopePending, Filter: "no such text", Limit: 50}, false},
		{"count-pending-150k", approvals.RequestQuery{Scope: approvals.ScopePending}, true},
		{"count-needs-me-75k", approvals.RequestQuery{Scope: approvals.ScopePending, EligibleFor: "alice"}, true},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				err := db.View(context.Background(), func(tx approvals.ReadTx) error {
					if c.count {
						n, err := tx.CountRequests(c.q)
						if err == nil && n == 0 {
							err = fmt.Errorf("count 0")
						}
						return err
					}
					rs, err := tx.Requests(c.q)
					if err == nil && len(rs) != 50 && c.q.Filter != "no such text" {
						err = fmt.Errorf("page of %d", len(rs))
					}
					return err
				})
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkOffsetPage50Deep is the thing not to do: the "all" page found
// with OFFSET 900000 instead of a keyset cursor (the same rows as
// all-deep-keyset above). SQLite builds every skipped row, joins included.
func BenchmarkOffsetPage50Deep(b *testing.B) {
	db := millionRows(b)
	for i := 0; i < b.N; i++ {
		rows, err := db.read.Query(`SELECT ` + requestCols + requestFrom + ` ORDER BY r.created_at DESC, r.id DESC LIMIT 50 OFFSET 900000`)
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		for rows.Next() {
			if _, err := scanRequest(rows); err != nil {
				b.Fatal(err)
			}
			n++
		}
		rows.Close()
		if n != 50 {
			b.Fatalf("got %d rows", n)
		}
	}
}

// TestMain removes the million-row database a benchmark run built.
func TestMain(m *testing.M) {
	code := m.Run()
	if millionDB != nil {
		millionDB.Close()
		os.RemoveAll(filepath.Dir(millionDB.Path()))
	}
	os.Exit(code)
}

// tempDirOutsideTest gives the shared million-row database a folder that
// outlives any one sub-benchmark (b.TempDir is removed when it ends).
func tempDirOutsideTest() (string, error) { return os.MkdirTemp("", "jitdesk-bench-") }

// BenchmarkShortFilterPending: a two-character filter that matches nothing
// ("zz") over 100,000 pending requests — the trigram index needs three
// characters, so short filters over the pending scope use the pending
// requests' character pairs (migration 0014): issue 13's target is a p95 of
// 20 ms for the whole page query. The count beside it is what the tab label
// reruns; one-char is a one-character filter matching nothing (a prefix of
// the pair tokens); dense a two-character filter every row matches (more
// than narrowMax, so the scan, which fills the page at once). Each reports
// its p50 and p95 (run with -benchtime 200x or more for a stable p95).
func BenchmarkShortFilterPending(b *testing.B) {
	db := openTemp(b)
	seedBasics(b, db)
	ctx := context.Background()
	const n = 100_000
	for done := 0; done < n; done += 10_000 {
		reqs := make([]approvals.Request, 0, 10_000)
		for i := done; i < done+10_000; i++ {
			r := req(i, []string{"k8s", "db"}[i%2], fmt.Sprintf("user%d", i%1000), approvals.StatusPending)
			r.ID = fmt.Sprintf("P%07d", i)
			r.CreatedAt = base.Add(time.Duration(i) * time.Second)
			reqs = append(reqs, r)
		}
		if err := db.BulkInsertRequests(ctx, reqs, nil); err != nil {
			b.Fatal(err)
		}
	}
	cases := []struct {
		name   string
		filter string
		count  bool
		want   int
	}{
		{"page", "zz", false, 0},
		{"count", "zz", true, 0},
		{"one-char", "~", false, 0},
		{"dense", "us", false, 50},
	}
	for _, c := range cases {
		q := approvals.RequestQuery{Scope: approvals.ScopePending, Filter: c.filter, Limit: 50}
		b.Run(c.name, func(b *testing.B) {
			took := make([]time.Duration, 0, b.N)
			for i := 0; i < b.N; i++ {
				start := time.Now()
				if err := db.View(ctx, func(tx approvals.ReadTx) error {
					got := 0
					var err error
					if c.count {
						got, err = tx.CountRequests(q)
					} else {
						var rs []approvals.Request
						rs, err = tx.Requests(q)
						got = len(rs)
					}
					if err == nil && got != c.want {
						err = fmt.Errorf("%q: %d rows, want %d", c.filter, got, c.want)
					}
					return err
				}); err != nil {
					b.Fatal(err)
				}
				took = append(took, time.Since(start))
			}
			reportQuantiles(b, took)
		})
	}
}

// reportQuantiles reports the p50 and p95 of per-iteration times in ms.
func reportQuantiles(b *testing.B, took []time.Duration) {
	if len(took) == 0 {
		return
	}
	slices.Sort(took)
	at := func(q float64) float64 {
		return float64(took[min(len(took)-1, int(q*float64(len(took))))].Microseconds()) / 1000
	}
	b.ReportMetric(at(0.50), "p50-ms")
	b.ReportMetric(at(0.95), "p95-ms")
}
