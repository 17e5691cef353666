package store

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
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
	db, err := sql.Open("sqlite", dsn(path, "_txlock=immediate", "_pragma=journal_mode(WAL)", "_pragma=synchronous(FULL)"))
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
// transaction. Compare with BenchmarkBareInsertTx.
func BenchmarkApproveToToken(b *testing.B) {
	db := openTemp(b)
	ctx := context.Background()
	svc := approvals.New(db, approvals.Options{Clock: approvals.NewManualClock(base)})
	if _, err := svc.Init(ctx, "bench"); err != nil {
		b.Fatal(err)
	}
	app, _ := svc.CreateApplication(ctx, "bench", "payments", "aud")
	_ = svc.AddApprover(ctx, "bench", approvals.Approver{Login: "alice", Name: "Alice"})
	if err := svc.AddTemplate(ctx, "bench", approvals.Template{Key: "k8s", AppID: app.ID, Title: "K8s", Type: approvals.TypeApprove, Approvers: []string{"alice"}}); err != nil {
		b.Fatal(err)
	}
	ins := make([]approvals.NewRequest, b.N)
	at := make([]time.Time, b.N)
	for i := range ins {
		ins[i] = approvals.NewRequest{TemplateKey: "k8s", Requester: "mallory", Reason: "bench"}
		at[i] = base
	}
	reqs, evs, err := svc.PrepareRequests(ctx, ins, at)
	if err != nil {
		b.Fatal(err)
	}
	if err := db.BulkInsertRequests(ctx, reqs, evs); err != nil {
		b.Fatal(err)
	}
	digests := make([]string, b.N)
	for i, r := range reqs {
		d, err := svc.Get(ctx, r.ID)
		if err != nil {
			b.Fatal(err)
		}
		digests[i] = d.Digest
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		out, err := svc.Approve(ctx, approvals.ApproveInput{RequestID: reqs[i].ID, Approver: "alice", Digest: digests[i]})
		if err != nil || out.Token == "" {
			b.Fatal(err)
		}
	}
}

var (
	millionOnce sync.Once
	millionDB   *DB
	millionErr  error
)

// millionRows builds (once per benchmark process) a database of 1,000,000
// requests: 990,000 decided history and 10,000 pending.
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
		const total, batch = 1_000_000, 20_000
		for done := 0; done < total; done += batch {
			reqs := make([]approvals.Request, 0, batch)
			for i := done; i < done+batch; i++ {
				status := approvals.StatusExpired
				if i >= total-10_000 {
					status = approvals.StatusPending
				}
				r := req(i, []string{"k8s", "db"}[i%2], fmt.Sprintf("user%d", i%1000), status)
				r.ID = fmt.Sprintf("R%07d", i)
				r.CreatedAt = base.Add(time.Duration(i) * time.Second)
				if status != approvals.StatusPending {
					r.DecidedAt = r.CreatedAt.Add(time.Hour)
				}
				reqs = append(reqs, r)
			}
			if err := db.BulkInsertRequests(context.Background(), reqs, nil); err != nil {
				millionErr = err
				return
			}
		}
		fmt.Printf("built 1,000,000 requests in %s\n", time.Since(start).Round(time.Millisecond))
		millionDB = db
	})
	if millionErr != nil {
		b.Fatal(millionErr)
	}
	return millionDB
}

// BenchmarkRequestsPage50 reads one page of 50 from 1,000,000 requests in
// each way the console and API list them.
func BenchmarkRequestsPage50(b *testing.B) {
	db := millionRows(b)
	deep := &approvals.Cursor{At: base.Add(100_000 * time.Second), ID: "R0100000"}
	for _, c := range []struct {
		name string
		q    approvals.RequestQuery
	}{
		{"pending-first", approvals.RequestQuery{Scope: approvals.ScopePending, Limit: 50}},
		{"needs-me", approvals.RequestQuery{Scope: approvals.ScopePending, EligibleFor: "alice", Limit: 50}},
		{"history-first", approvals.RequestQuery{Scope: approvals.ScopeDecided, Limit: 50}},
		{"all-deep-keyset", approvals.RequestQuery{Scope: approvals.ScopeAll, Before: deep, Limit: 50}},
		{"filter-requester", approvals.RequestQuery{Scope: approvals.ScopePending, Filter: "user42", Limit: 50}},
	} {
		b.Run(c.name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				err := db.View(context.Background(), func(tx approvals.ReadTx) error {
					rs, err := tx.Requests(c.q)
					if err == nil && len(rs) == 0 {
						err = fmt.Errorf("empty page")
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

// BenchmarkOffsetPage50Deep is the thing not to do: the same page found with
// OFFSET 900000, for comparison with the keyset pages above.
func BenchmarkOffsetPage50Deep(b *testing.B) {
	db := millionRows(b)
	for i := 0; i < b.N; i++ {
		rows, err := db.read.Query(`SELECT ` + requestCols + requestFrom + ` ORDER BY r.created_at DESC, r.id DESC LIMIT 50 OFFSET 900000`)
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		for rows.Next() {
			n++
		}
		rows.Close()
		if n != 50 {
			b.Fatalf("got %d rows", n)
		}
	}
}

// tempDirOutsideTest gives the shared million-row database a folder that
// outlives any one sub-benchmark (b.TempDir is removed when it ends).
func tempDirOutsideTest() (string, error) { return os.MkdirTemp("", "jitdesk-bench-") }
