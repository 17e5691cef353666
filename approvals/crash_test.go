package approvals_test

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jitdesk/jitdesk/approvals"
	"github.com/jitdesk/jitdesk/pgstore"
	"github.com/jitdesk/jitdesk/tokens"
)

// TestMain doubles as the crash worker: with JITDESK_CRASH_DB set (a SQLite
// file, or a PostgreSQL DSN when JITDESK_CRASH_STORE=postgres), the test
// binary writes to that database in a loop until it is killed.
func TestMain(m *testing.M) {
	if location := os.Getenv("JITDESK_CRASH_DB"); location != "" {
		seed, _ := strconv.ParseUint(os.Getenv("JITDESK_CRASH_SEED"), 10, 64)
		crashWorker(os.Getenv("JITDESK_CRASH_STORE"), location, seed)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// crashWorker submits (through intake and directly), approves, denies and
// revokes, forever, on the system clock (the database's on PostgreSQL, as
// every node of a deployment would).
func crashWorker(kind, location string, seed uint64) {
	db, err := openStore(kind, location)
	if err != nil {
		fmt.Println("open:", err)
		os.Exit(3)
	}
	opts := approvals.Options{Issuer: "https://jitdesk.test"}
	if pg, ok := db.(*pgstore.DB); ok {
		opts.Clock = pg.Clock()
	}
	svc := approvals.New(db, opts)
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(seed, seed+1))
	app, err := svc.Application(ctx, "payments")
	if err != nil {
		fmt.Println("app:", err)
		os.Exit(3)
	}
	approvers := []string{"alice", "bob", "carol"}
	// The killer waits for this line before it starts its random wait, so
	// a slow start (a loaded machine, the race detector) still leaves the
	// worker time to write: no round is a kill before the first write.
	announced := false
	wrote := func(err error) {
		if err == nil && !announced {
			announced = true
			fmt.Println(crashWriting)
		}
	}
	for i := 0; ; i++ {
		switch rng.IntN(5) {
		case 0, 1:
			var c tokens.IntakeClaims
			now := time.Now()
			c.Issuer, c.Subject, c.ID = app.ID, fmt.Sprint("user", rng.IntN(50)), fmt.Sprintf("%d-%d-%d", seed, i, now.UnixNano())
			c.Audience = []string{"https://jitdesk.test"}
			c.IssuedAt, c.ExpiresAt = jwtDate(now), jwtDate(now.Add(time.Minute))
			tok, _ := tokens.SignIntake(app.Secret, c)
			in := approvals.NewRequest{TemplateKey: "iam", Reason: "crash loop"}
			if rng.IntN(2) == 0 {
				in = approvals.NewRequest{TemplateKey: "k8s", Reason: "crash loop", Metadata: map[string]string{"namespace": "x"}}
			}
			_, _, err := svc.SubmitIntake(ctx, tok, in)
			wrote(err)
		default:
			page, _ := svc.List(ctx, approvals.RequestQuery{Scope: approvals.ScopePending, Limit: 20})
			if len(page) == 0 {
				continue
			}
			r := page[rng.IntN(len(page))]
			d, err := svc.Get(ctx, r.ID)
			if err != nil {
				continue
			}
			who := approvers[rng.IntN(len(approvers))]
			if rng.IntN(4) == 0 {
				_, err := svc.Deny(ctx, approvals.DenyInput{RequestID: r.ID, Approver: who, Digest: d.Digest, Comment: "no"})
				wrote(err)
			} else if out, err := svc.Approve(ctx, approvals.ApproveInput{RequestID: r.ID, Approver: who, Digest: d.Digest}); err == nil && out.Grant != nil && rng.IntN(3) == 0 {
				wrote(err)
				svc.Revoke(ctx, approvals.RevokeInput{ID: out.Grant.ID, Approver: who, Reason: "crash loop"})
			}
		}
	}
}

// checkConsistent proves what must hold after any crash: SQLite integrity
// (on SQLite), the audit chain, and no half-decided request.
func checkConsistent(t *testing.T, be *backend) (requests, grants int) {
	t.Helper()
	db, err := openStore(be.name(), be.location()) // opens and serves again without repair
	if err != nil {
		t.Fatalf("reopen after kill: %v", err)
	}
	defer db.Close()
	ctx := context.Background()
	integrityCheck(t, db)
	svc := approvals.New(db, approvals.Options{Issuer: "https://jitdesk.test"})
	if _, err := svc.VerifyAudit(ctx); err != nil {
		t.Fatal(err)
	}
	issued := map[string]bool{}
	announced := map[int64]string{} // audit seq → webhook event it must have queued
	var before int64
	for {
		evs, err := svc.AuditLog(ctx, before, 1000)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range evs {
			if e.Action == "grant.issued" {
				issued[e.Subject] = true
			}
			if typ, _ := approvals.WebhookEventOf(e.Action); typ != "" {
				announced[e.Seq] = typ
			}
		}
		if len(evs) < 1000 {
			break
		}
		before = evs[len(evs)-1].Seq
	}
	q := approvals.RequestQuery{Scope: approvals.ScopeAll, Limit: 500}
	for {
		page, err := svc.List(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range page {
			requests++
			d, err := svc.Get(ctx, r.ID)
			if err != nil {
				t.Fatalf("request %s: %v", r.ID, err)
			}
			approvalsSeen := 0
			denied := false
			for _, rv := range d.Reviews {
				if rv.Decision == approvals.DecisionApprove {
					approvalsSeen++
				} else {
					denied = true
				}
			}
			if approvalsSeen != r.Approvals {
				t.Fatalf("request %s counts %d approvals but has %d reviews", r.ID, r.Approvals, approvalsSeen)
			}
			switch r.Status {
			case approvals.StatusApproved:
				if d.Grant == nil || !issued[d.Grant.ID] || approvalsSeen < d.Template.Quorum {
					t.Fatalf("approved request %s without its grant, audit event or quorum", r.ID)
				}
				grants++
			case approvals.StatusDenied:
				if !denied {
					t.Fatalf("denied request %s has no deny review", r.ID)
				}
			case approvals.StatusPending:
				if denied || approvalsSeen >= d.Template.Quorum {
					t.Fatalf("pending request %s is half-decided", r.ID)
				}
			}
		}
		if len(page) < q.Limit {
			break
		}
		last := page[len(page)-1]
		q.After = &approvals.Cursor{At: last.CreatedAt, ID: last.ID}
	}
	if len(issued) != grants {
		t.Fatalf("%d grant.issued events but %d approved requests", len(issued), grants)
	}
	checkOutbox(t, ctx, svc, announced)
	return requests, grants
}

// checkOutbox proves the webhook outbox matches the audit log after a
// crash: the hook (added before any worker ran, subscribed to everything)
// has exactly one delivery per announced event and none for anything else.
func checkOutbox(t *testing.T, ctx context.Context, svc *approvals.Service, announced map[int64]string) {
	t.Helper()
	queued := map[int64]int{}
	q := approvals.WebhookLogQuery{Limit: 500}
	for {
		ds, err := svc.WebhookLog(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range ds {
			queued[d.Seq]++
			if typ, ok := announced[d.Seq]; !ok || typ != d.EventType {
				t.Fatalf("delivery %d for audit event %d (%s) that announces %q", d.ID, d.Seq, d.EventType, typ)
			}
		}
		if len(ds) < q.Limit {
			break
		}
		q.Before = ds[len(ds)-1].ID
	}
	for seq, typ := range announced {
		if queued[seq] != 1 {
			t.Fatalf("audit event %d (%s) has %d webhook deliveries, want 1", seq, typ, queued[seq])
		}
	}
}

// crashWriting is the line a crash worker prints once it has written.
const crashWriting = "crash worker: writing"

func crashDB(t *testing.T) *backend {
	t.Helper()
	f := newFixture(t) // app, approvers, templates k8s (sre group: alice, bob) and iam (quorum 2)
	// A hook on every event, never delivered (no deliverer runs): its
	// outbox must match the audit log after every kill (checkOutbox).
	if _, err := f.svc.AddWebhook(context.Background(), "test", "http://127.0.0.1:9/crash", nil); err != nil {
		t.Fatal(err)
	}
	f.db.Close()
	return f.be
}

func killLoop(t *testing.T, be *backend, workers, rounds int) {
	t.Helper()
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	for round := 0; round < rounds; round++ {
		var wg sync.WaitGroup
		for w := 0; w < workers; w++ {
			cmd := exec.Command(os.Args[0])
			cmd.Env = append(os.Environ(), "JITDESK_CRASH_STORE="+be.name(), "JITDESK_CRASH_DB="+be.location(), fmt.Sprint("JITDESK_CRASH_SEED=", round*10+w))
			var errOut strings.Builder
			cmd.Stderr = &errOut
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			writing := make(chan struct{})
			var out strings.Builder
			read := make(chan struct{})
			go func() { // until the worker dies: its output, and when it first wrote
				defer close(read)
				sc := bufio.NewScanner(stdout)
				for sc.Scan() {
					if sc.Text() == crashWriting {
						close(writing)
						continue
					}
					out.WriteString(sc.Text() + "\n")
				}
			}()
			wait := time.Duration(rng.IntN(250)) * time.Millisecond
			wg.Add(1)
			go func() {
				defer wg.Done()
				select {
				case <-writing:
					time.Sleep(wait)
				case <-read: // it ended before writing: say why below
				}
				cmd.Process.Signal(syscall.SIGKILL)
				<-read
				cmd.Wait()
				if strings.Contains(out.String(), "open:") || strings.Contains(out.String(), "app:") {
					t.Errorf("worker could not start: %s%s", out.String(), errOut.String())
				}
			}()
		}
		wg.Wait()
		checkConsistent(t, be)
	}
}

func TestSIGKILLAtRandomMomentsLeavesAConsistentDatabase(t *testing.T) {
	be := crashDB(t)
	killLoop(t, be, 1, 12)
	reqs, grants := checkConsistent(t, be)
	if reqs == 0 || grants == 0 {
		t.Fatalf("the workers did too little to prove anything: %d requests, %d grants", reqs, grants)
	}
	t.Logf("after 12 kills: %d requests, %d grants, all consistent", reqs, grants)
}

func TestSIGKILLWithTwoWritingProcessesLeavesAConsistentDatabase(t *testing.T) {
	be := crashDB(t)
	killLoop(t, be, 2, 8)
	reqs, grants := checkConsistent(t, be)
	t.Logf("after 8 double kills: %d requests, %d grants, all consistent", reqs, grants)
}
