package store

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jitdesk/jitdesk/approvals"
)

var base = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

func openTemp(t testing.TB) *DB {
	t.Helper()
	db, err := Open(filepath.Join(t.TempDir(), "sub", "jitdesk.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// seedBasics adds one application, approvers alice (sre), bob (dba), carol,
// and templates "k8s" (group sre) and "db" (approver bob).
func seedBasics(t testing.TB, db *DB) {
	t.Helper()
	err := db.Update(context.Background(), func(tx approvals.Tx) error {
		if err := tx.InsertApplication(approvals.Application{ID: "app1", Name: "payments", Audience: "aud", Secret: make([]byte, 32), CreatedAt: base}); err != nil {
			return err
		}
		for _, a := range []approvals.Approver{
			{Login: "alice", Name: "Alice", Groups: []string{"sre"}, SSHKeys: []approvals.SSHKey{{Fingerprint: "SHA256:abc", AuthorizedKey: "ssh-ed25519 AAAA"}}},
			{Login: "bob", Name: "Bob", Groups: []string{"dba"}},
			{Login: "carol", Name: "Carol"},
		} {
			if err := tx.InsertApprover(a); err != nil {
				return err
			}
		}
		if err := tx.InsertTemplate(approvals.Template{Key: "k8s", AppID: "app1", Name: "K8s", Title: "K8s exec", Type: approvals.TypeApprove, Groups: []string{"sre"}, Quorum: 1, DefaultTTL: time.Hour, MaxTTL: time.Hour, PendingTimeout: time.Hour,
			Fields: []approvals.MetadataField{{Name: "ns", Required: true}, {Name: "ticket", Default: "x"}}}); err != nil {
			return err
		}
		return tx.InsertTemplate(approvals.Template{Key: "db", AppID: "app1", Name: "DB", Title: "Prod DB write", Type: approvals.TypeSignAndApprove, Approvers: []string{"bob"}, Quorum: 1, DefaultTTL: time.Hour, MaxTTL: time.Hour, PendingTimeout: time.Hour})
	})
	if err != nil {
		t.Fatal(err)
	}
}

func req(i int, tmpl, requester string, status approvals.Status) approvals.Request {
	r := approvals.Request{
		ID: fmt.Sprintf("R%05d", i), TemplateKey: tmpl, AppID: "app1", Requester: requester, Reason: fmt.Sprintf("reason %d", i),
		Metadata: map[string]string{"ns": "x"}, TTL: time.Hour, CreatedAt: base.Add(time.Duration(i/3) * time.Second), // ties on purpose
		ExpiresAt: base.Add(48 * time.Hour), Status: status,
	}
	if status != approvals.StatusPending {
		r.DecidedAt, r.DecidedBy = base.Add(time.Duration(1000-i/2)*time.Second), "bob"
	}
	return r
}

func TestOpenCreatesPrivateFileWithDurableSettings(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b")
	db, err := Open(filepath.Join(dir, "j.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	fi, err := os.Stat(filepath.Join(dir, "j.db"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("database file mode %v, %v; want 0600", fi.Mode().Perm(), err)
	}
	if di, _ := os.Stat(dir); di.Mode().Perm() != 0o700 {
		t.Fatalf("folder mode %v, want 0700", di.Mode().Perm())
	}
	conn, err := db.write.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for pragma, want := range map[string]string{"journal_mode": "wal", "foreign_keys": "1", "synchronous": "2", "busy_timeout": "10000"} {
		var got string
		if err := conn.QueryRowContext(context.Background(), "PRAGMA "+pragma).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("PRAGMA %s = %s, want %s", pragma, got, want)
		}
	}
}

func TestReopenIsIdempotent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j.db")
	for i := 0; i < 3; i++ {
		db, err := Open(path)
		if err != nil {
			t.Fatalf("open #%d: %v", i, err)
		}
		db.Close()
	}
}

func TestDatabaseFromANewerJitdeskIsRefusedUntouched(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j.db")
	db, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.write.Exec(fmt.Sprintf("PRAGMA user_version = %d", SchemaVersion()+1)); err != nil {
		t.Fatal(err)
	}
	db.Close()
	before, _ := os.ReadFile(path)
	_, err = Open(path)
	if !errors.Is(err, approvals.ErrSchemaTooNew) || !strings.Contains(err.Error(), "upgrade jitdesk") {
		t.Fatalf("got %v, want ErrSchemaTooNew", err)
	}
	after, _ := os.ReadFile(path)
	if !bytes.Equal(before, after) {
		t.Fatal("the newer database was modified")
	}
}

func TestRowsRoundTripAndDuplicatesAreConflicts(t *testing.T) {
	db := openTemp(t)
	seedBasics(t, db)
	ctx := context.Background()
	err := db.Update(ctx, func(tx approvals.Tx) error {
		if err := tx.InsertApplication(approvals.Application{ID: "app2", Name: "payments", Audience: "a", Secret: []byte("s")}); !errors.Is(err, approvals.ErrConflict) {
			t.Errorf("duplicate app name: %v", err)
		}
		if err := tx.InsertApprover(approvals.Approver{Login: "dave", Name: "D", SSHKeys: []approvals.SSHKey{{Fingerprint: "SHA256:abc"}}}); !errors.Is(err, approvals.ErrConflict) {
			t.Errorf("duplicate ssh key: %v", err)
		}
		return errors.New("roll back")
	})
	if err == nil {
		t.Fatal("want the rollback error back")
	}
	_ = db.View(ctx, func(tx approvals.ReadTx) error {
		a, err := tx.ApproverBySSHKey("SHA256:abc")
		if err != nil || a.Login != "alice" || len(a.Groups) != 1 {
			t.Errorf("approver by key: %+v %v", a, err)
		}
		if _, err := tx.Approver("dave"); !errors.Is(err, approvals.ErrNotFound) {
			t.Errorf("rolled-back approver exists: %v", err)
		}
		tm, err := tx.Template("k8s")
		if err != nil || len(tm.Fields) != 2 || !tm.Fields[0].Required || tm.Fields[1].Default != "x" || tm.Groups[0] != "sre" {
			t.Errorf("template: %+v %v", tm, err)
		}
		return nil
	})
}

func TestDecisionsOnlyMovePendingRequests(t *testing.T) {
	db := openTemp(t)
	seedBasics(t, db)
	ctx := context.Background()
	err := db.Update(ctx, func(tx approvals.Tx) error {
		if err := tx.InsertRequest(req(1, "k8s", "mallory", approvals.StatusPending)); err != nil {
			return err
		}
		if err := tx.InsertReview(approvals.Review{RequestID: "R00001", Approver: "alice", Decision: approvals.DecisionApprove, At: base}); err != nil {
			return err
		}
		if err := tx.InsertReview(approvals.Review{RequestID: "R00001", Approver: "alice", Decision: approvals.DecisionDeny, At: base}); !errors.Is(err, approvals.ErrAlreadyReviewed) {
			t.Errorf("second review: %v", err)
		}
		if err := tx.SetRequestStatus("R00001", approvals.StatusApproved, base, "alice"); err != nil {
			return err
		}
		err := tx.SetRequestStatus("R00001", approvals.StatusDenied, base, "bob")
		if !errors.Is(err, approvals.ErrNotPending) || !strings.Contains(err.Error(), "approved by alice") {
			t.Errorf("second decision: %v", err)
		}
		if err := tx.SetRequestStatus("nope", approvals.StatusDenied, base, "bob"); !errors.Is(err, approvals.ErrNotFound) {
			t.Errorf("unknown request: %v", err)
		}
		r, _ := tx.Request("R00001")
		if r.Approvals != 1 || r.Status != approvals.StatusApproved || r.TemplateTitle != "K8s exec" || r.AppName != "payments" || r.Metadata["ns"] != "x" {
			t.Errorf("request: %+v", r)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestHistoryIsAppendOnly(t *testing.T) {
	db := openTemp(t)
	seedBasics(t, db)
	ctx := context.Background()
	if err := db.Update(ctx, func(tx approvals.Tx) error {
		if err := tx.InsertRequest(req(1, "db", "m", approvals.StatusPending)); err != nil {
			return err
		}
		if err := tx.InsertSignature(approvals.StoredSignature{Digest: "d1", RequestID: "R00001", Approver: "bob", Kind: "typed", Canonical: []byte("{}"), SignedAt: base}); err != nil {
			return err
		}
		_, err := tx.AppendAudit(approvals.AuditEvent{At: base, Actor: "a", Action: "x", Subject: "s"})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	for _, stmt := range []string{
		"UPDATE audit_events SET actor = 'evil'", "DELETE FROM audit_events",
		"UPDATE signatures SET kind = 'drawn'", "DELETE FROM signatures",
		"DELETE FROM requests",
	} {
		_, err := db.write.Exec(stmt)
		if err == nil || !(strings.Contains(err.Error(), "append-only") || strings.Contains(err.Error(), "kept forever")) {
			t.Errorf("%s: got %v, want it refused", stmt, err)
		}
	}
}

func TestAuditEventsChainWithApprovalsChainHash(t *testing.T) {
	db := openTemp(t)
	ctx := context.Background()
	for i := 0; i < 5; i++ {
		if err := db.Update(ctx, func(tx approvals.Tx) error {
			_, err := tx.AppendAudit(approvals.AuditEvent{At: base.Add(time.Duration(i) * time.Nanosecond * 1234567), Actor: "a", Action: "x", Subject: strconv.Itoa(i), Payload: []byte(`{"k":1}`)})
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	_ = db.View(ctx, func(tx approvals.ReadTx) error {
		evs, err := tx.AuditEvents(0, 100)
		if err != nil || len(evs) != 5 {
			t.Fatalf("events: %d %v", len(evs), err)
		}
		prev := ""
		for _, e := range evs {
			if e.PrevHash != prev || approvals.ChainHash(prev, e) != e.Hash {
				t.Fatalf("event %d does not rehash", e.Seq)
			}
			prev = e.Hash
		}
		seq, head, _ := tx.AuditHead()
		if seq != 5 || head != prev {
			t.Fatalf("head %d %s", seq, head)
		}
		return nil
	})
}

func seedRequests(t testing.TB, db *DB, n int) {
	t.Helper()
	var reqs []approvals.Request
	for i := 0; i < n; i++ {
		status := approvals.StatusPending
		if i%4 == 3 {
			status = approvals.StatusExpired
		}
		tmpl, requester := "k8s", fmt.Sprintf("user%d", i%7)
		if i%5 == 0 {
			tmpl = "db"
		}
		if i%11 == 0 {
			requester = "alice"
		}
		reqs = append(reqs, req(i, tmpl, requester, status))
	}
	if err := db.BulkInsertRequests(context.Background(), reqs, nil); err != nil {
		t.Fatal(err)
	}
}

func walk(t *testing.T, db *DB, q approvals.RequestQuery, cursor func(approvals.Request) approvals.Cursor) []string {
	t.Helper()
	var ids []string
	var pages [][]approvals.Request
	for {
		var page []approvals.Request
		_ = db.View(context.Background(), func(tx approvals.ReadTx) error {
			var err error
			page, err = tx.Requests(q)
			if err != nil {
				t.Fatal(err)
			}
			return nil
		})
		if len(page) == 0 {
			break
		}
		pages = append(pages, page)
		for _, r := range page {
			ids = append(ids, r.ID)
		}
		c := cursor(page[len(page)-1])
		q.After = &c
	}
	// Walk back from the end with Before: the same pages in reverse.
	var back []string
	c := cursor(pages[len(pages)-1][0])
	q.After, q.Before = nil, &c
	for {
		var page []approvals.Request
		_ = db.View(context.Background(), func(tx approvals.ReadTx) error {
			page, _ = tx.Requests(q)
			return nil
		})
		if len(page) == 0 {
			break
		}
		back = append(append([]string{}, idsOf(page)...), back...)
		c := cursor(page[0])
		q.Before = &c
	}
	back = append(back, idsOf(pages[len(pages)-1])...)
	if strings.Join(back, ",") != strings.Join(ids, ",") {
		t.Fatalf("backward walk differs from forward walk:\n%v\n%v", back, ids)
	}
	return ids
}

func idsOf(rs []approvals.Request) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.ID
	}
	return out
}

func TestKeysetPagesVisitEveryRowOnceInOrderBothWays(t *testing.T) {
	db := openTemp(t)
	seedBasics(t, db)
	seedRequests(t, db, 300)
	created := func(r approvals.Request) approvals.Cursor { return approvals.Cursor{At: r.CreatedAt, ID: r.ID} }
	decided := func(r approvals.Request) approvals.Cursor { return approvals.Cursor{At: r.DecidedAt, ID: r.ID} }
	pending := walk(t, db, approvals.RequestQuery{Scope: approvals.ScopePending, Limit: 17}, created)
	all := walk(t, db, approvals.RequestQuery{Scope: approvals.ScopeAll, Limit: 23}, created)
	hist := walk(t, db, approvals.RequestQuery{Scope: approvals.ScopeDecided, Limit: 9}, decided)
	if len(pending) != 225 || len(all) != 300 || len(hist) != 75 {
		t.Fatalf("counts pending=%d all=%d decided=%d", len(pending), len(all), len(hist))
	}
	for i := 1; i < len(pending); i++ {
		if pending[i-1] >= pending[i] { // ids follow created_at order here
			t.Fatalf("pending not oldest first at %d", i)
		}
	}
	for i := 1; i < len(all); i++ {
		if all[i-1] <= all[i] {
			t.Fatalf("all not newest first at %d", i)
		}
	}
}

func TestNeedsMeKeepsOnlyRequestsTheApproverCanStillDecide(t *testing.T) {
	db := openTemp(t)
	seedBasics(t, db)
	seedRequests(t, db, 60)
	ctx := context.Background()
	// alice reviewed R00001.
	if err := db.Update(ctx, func(tx approvals.Tx) error {
		return tx.InsertReview(approvals.Review{RequestID: "R00001", Approver: "alice", Decision: approvals.DecisionApprove, At: base})
	}); err != nil {
		t.Fatal(err)
	}
	_ = db.View(ctx, func(tx approvals.ReadTx) error {
		rs, err := tx.Requests(approvals.RequestQuery{Scope: approvals.ScopePending, EligibleFor: "alice", Limit: 500})
		if err != nil {
			t.Fatal(err)
		}
		n, _ := tx.CountRequests(approvals.RequestQuery{Scope: approvals.ScopePending, EligibleFor: "alice"})
		if n != len(rs) {
			t.Errorf("count %d != listed %d", n, len(rs))
		}
		for _, r := range rs {
			if r.TemplateKey != "k8s" || r.Requester == "alice" || r.ID == "R00001" || r.Status != approvals.StatusPending {
				t.Errorf("alice must not see %+v", r)
			}
		}
		if len(rs) == 0 {
			t.Error("alice sees nothing")
		}
		rs, _ = tx.Requests(approvals.RequestQuery{Scope: approvals.ScopePending, EligibleFor: "carol"})
		if len(rs) != 0 {
			t.Errorf("carol is on no template, sees %d", len(rs))
		}
		rs, _ = tx.Requests(approvals.RequestQuery{Scope: approvals.ScopePending, EligibleFor: "bob", Limit: 500})
		for _, r := range rs {
			if r.TemplateKey != "db" {
				t.Errorf("bob sees %s", r.TemplateKey)
			}
		}
		return nil
	})
}

func TestFilterTreatsPercentAndUnderscoreLiterally(t *testing.T) {
	db := openTemp(t)
	seedBasics(t, db)
	ctx := context.Background()
	r1 := req(1, "k8s", "a_b", approvals.StatusPending)
	r2 := req(2, "k8s", "axb", approvals.StatusPending)
	r3 := req(3, "k8s", "zed", approvals.StatusPending)
	r3.Reason = "100% needed"
	if err := db.BulkInsertRequests(ctx, []approvals.Request{r1, r2, r3}, nil); err != nil {
		t.Fatal(err)
	}
	_ = db.View(ctx, func(tx approvals.ReadTx) error {
		for filter, want := range map[string]string{"a_b": "R00001", "0%": "R00003", "AXB": "R00002", "prod db": ""} {
			rs, err := tx.Requests(approvals.RequestQuery{Scope: approvals.ScopePending, Filter: filter})
			if err != nil {
				t.Fatal(err)
			}
			got := strings.Join(idsOf(rs), ",")
			if got != want {
				t.Errorf("filter %q: got %q want %q", filter, got, want)
			}
		}
		rs, _ := tx.Requests(approvals.RequestQuery{Scope: approvals.ScopeAll, Filter: "K8s EXEC"})
		if len(rs) != 3 {
			t.Errorf("filter by template title: %d", len(rs))
		}
		return nil
	})
}

func TestListQueriesUseIndexesWithoutSorting(t *testing.T) {
	db := openTemp(t)
	seedBasics(t, db)
	seedRequests(t, db, 50)
	cur := &approvals.Cursor{At: base, ID: "R00010"}
	for name, q := range map[string]approvals.RequestQuery{
		"pending first page": {Scope: approvals.ScopePending},
		"pending next page":  {Scope: approvals.ScopePending, After: cur},
		"decided first page": {Scope: approvals.ScopeDecided},
		"decided prev page":  {Scope: approvals.ScopeDecided, Before: cur},
		"all first page":     {Scope: approvals.ScopeAll},
		"needs me":           {Scope: approvals.ScopePending, EligibleFor: "alice", After: cur},
		"requester history":  {Scope: approvals.ScopeAll, Requester: "alice"},
	} {
		clause, args := listSQL(q, false)
		rows, err := db.read.Query(`EXPLAIN QUERY PLAN SELECT `+requestCols+requestFrom+clause, args...)
		if err != nil {
			t.Fatal(err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, notused int
			var detail string
			rows.Scan(&id, &parent, &notused, &detail)
			plan = append(plan, detail)
		}
		rows.Close()
		p := strings.Join(plan, " | ")
		if strings.Contains(p, "TEMP B-TREE FOR ORDER BY") || !strings.Contains(p, "requests_by_") {
			t.Errorf("%s: plan %s", name, p)
		}
	}
}

func TestChangeFeedNoticesWritesFromOtherConnectionsAndProcesses(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j.db")
	db, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	other, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	ch, stop := db.Subscribe()
	defer stop()
	time.Sleep(2 * FeedInterval) // let the feed take its first reading
	for i, writer := range []*DB{other, db} {
		if err := writer.Update(context.Background(), func(tx approvals.Tx) error {
			_, err := tx.AppendAudit(approvals.AuditEvent{At: base, Actor: "a", Action: "x", Subject: strconv.Itoa(i)})
			return err
		}); err != nil {
			t.Fatal(err)
		}
		select {
		case <-ch:
		case <-time.After(2 * time.Second):
			t.Fatalf("write %d not noticed within 2s", i)
		}
	}
}

// TestMain doubles as the worker process of
// TestTwoProcessesOfReadThenWriteTransactionsNeverSeeBusy.
func TestMain(m *testing.M) {
	if path := os.Getenv("JITDESK_STORE_HELPER_DB"); path != "" {
		os.Exit(counterWorker(path))
	}
	os.Exit(m.Run())
}

// counterWorker runs 4 goroutines of read-then-write transactions and
// returns 1 if any failed (printing why, and whether it was SQLITE_BUSY).
func counterWorker(path string) int {
	n, _ := strconv.Atoi(os.Getenv("JITDESK_STORE_HELPER_N"))
	db, err := Open(path)
	if err != nil {
		fmt.Println(err)
		return 1
	}
	defer db.Close()
	var wg sync.WaitGroup
	errs := make(chan error, 4*n)
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < n; i++ {
				errs <- db.Update(context.Background(), func(atx approvals.Tx) error {
					tx := atx.(*tx)
					var v int
					if err := tx.queryRow(`SELECT CAST(name AS INTEGER) FROM approvers WHERE login = 'counter'`).Scan(&v); err != nil {
						return err
					}
					_, err := tx.exec(`UPDATE approvers SET name = ? WHERE login = 'counter'`, strconv.Itoa(v+1))
					return err
				})
			}
		}()
	}
	wg.Wait()
	close(errs)
	code := 0
	for err := range errs {
		if err != nil {
			fmt.Println("busy:", IsBusy(err), err)
			code = 1
		}
	}
	return code
}

func TestTwoProcessesOfReadThenWriteTransactionsNeverSeeBusy(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j.db")
	db, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(context.Background(), func(tx approvals.Tx) error {
		return tx.InsertApprover(approvals.Approver{Login: "counter", Name: "0"})
	}); err != nil {
		t.Fatal(err)
	}
	const perGoroutine = 50
	var wg sync.WaitGroup
	outs := make([]string, 2)
	for p := 0; p < 2; p++ {
		wg.Add(1)
		go func(p int) {
			defer wg.Done()
			cmd := exec.Command(os.Args[0])
			cmd.Env = append(os.Environ(), "JITDESK_STORE_HELPER_DB="+path, "JITDESK_STORE_HELPER_N="+strconv.Itoa(perGoroutine))
			out, err := cmd.CombinedOutput()
			if err != nil {
				outs[p] = fmt.Sprintf("process %d: %v\n%s", p, err, out)
			}
		}(p)
	}
	wg.Wait()
	for _, o := range outs {
		if o != "" {
			t.Error(o)
		}
	}
	var v string
	if err := db.read.QueryRow(`SELECT name FROM approvers WHERE login = 'counter'`).Scan(&v); err != nil {
		t.Fatal(err)
	}
	if want := strconv.Itoa(2 * 4 * perGoroutine); v != want {
		t.Fatalf("counter %s, want %s: updates were lost", v, want)
	}
	db.Close()
}

func TestIntakeJTIsAreSingleUsePerApplication(t *testing.T) {
	db := openTemp(t)
	ctx := context.Background()
	use := func(app, jti string) error {
		return db.Update(ctx, func(tx approvals.Tx) error { return tx.UseIntakeJTI(app, jti, base.Add(time.Minute), base) })
	}
	if err := use("a", "j1"); err != nil {
		t.Fatal(err)
	}
	if err := use("a", "j1"); !errors.Is(err, approvals.ErrReplay) {
		t.Fatalf("replay: %v", err)
	}
	if err := use("b", "j1"); err != nil {
		t.Fatalf("same jti of another application: %v", err)
	}
}

func TestIntegrityCheckPassesOnAFreshDatabase(t *testing.T) {
	db := openTemp(t)
	seedBasics(t, db)
	if err := db.IntegrityCheck(context.Background()); err != nil {
		t.Fatal(err)
	}
}

var _ = sql.ErrNoRows
