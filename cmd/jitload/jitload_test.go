package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jitdesk/jitdesk/approvals"
)

// The smoke tests run each mode at a small size; the big runs are flags of
// the command, not tests (see BENCHMARKS.md).

func TestHTTPSmoke(t *testing.T) {
	rep, err := runHTTP(context.Background(), httpConfig{
		Server: "inproc", Levels: []int{1, 8}, Requests: 50, PerLevel: 20 * time.Second,
		Waiters: 20, Deciders: 2, Baseline: true, Dir: t.TempDir(), WaitTimeout: 30 * time.Second,
	}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range rep.Intake {
		if p.Created != 50 || p.ByStatus["201"] != 50 {
			t.Errorf("%s at %d: %d created of %d sent (%v)", p.Handler, p.Concurrency, p.Created, p.Sent, p.ByStatus)
		}
	}
	lp := rep.LongPoll
	if lp.Correct != 20 || lp.Wrong+lp.StillPending+lp.Failed != 0 || lp.Wake.N != 20 {
		t.Errorf("long-poll: %+v; want every one of 20 waiters to get exactly its own outcome", lp)
	}
	v := rep.Verify
	if !v.OK || v.Accepted != 2*50+20 || v.Rows != v.Accepted || v.CreatedEvents != v.Rows || !v.AuditVerified {
		t.Errorf("verify: %+v", v)
	}
}

// TestVerifyCatchesLossAndDuplication checks the checker: a 201 without a
// row is lost, a row without a 201 is unacknowledged, and either fails.
func TestVerifyCatchesLossAndDuplication(t *testing.T) {
	ctx := context.Background()
	fx, err := newFixture(ctx, t.TempDir(), "", "http://jitload.invalid", "verify", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer fx.Close()
	var ids []string
	for i := range 3 {
		r, err := fx.svc.Submit(ctx, approvals.NewRequest{TemplateKey: fx.tmpl, Requester: "load-x", Reason: fmt.Sprint("r", i)})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.ID)
	}
	if v := verify(ctx, fx, "load-x", ids); !v.OK || v.Rows != 3 || v.CreatedEvents != 3 {
		t.Fatalf("all answered and stored: %+v", v)
	}
	if v := verify(ctx, fx, "load-x", append(ids[:3:3], "01NOSUCHREQUEST00000000000")); v.OK || v.Lost != 1 {
		t.Errorf("a 201 without a row: %+v; want lost 1 and not OK", v)
	}
	if v := verify(ctx, fx, "load-x", ids[:2]); v.OK || v.Unacknowledged != 1 {
		t.Errorf("a row without a 201: %+v; want unacknowledged 1 and not OK", v)
	}
	if v := verify(ctx, fx, "load-x", append(ids[:3:3], ids[0])); v.OK || v.Lost != 1 {
		t.Errorf("one id answered twice: %+v; want it counted and not OK", v)
	}
}

func TestSSHSmoke(t *testing.T) {
	dir := t.TempDir()
	heap, stacks := filepath.Join(dir, "heap.pprof"), filepath.Join(dir, "goroutines.txt")
	rep, err := runSSH(context.Background(), sshConfig{
		Sessions: 3, Changes: 6, Every: 200 * time.Millisecond, Lag: 2, Width: 100, Height: 30,
		Timeout: 10 * time.Second, InProc: true, Dir: dir, HeapProfile: heap, Goroutines: stacks,
	}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	// The profiles are taken with the sessions open: the heap one is a
	// pprof file (gzip), the goroutine one lists each session's watcher.
	if b, err := os.ReadFile(heap); err != nil || len(b) < 2 || b[0] != 0x1f || b[1] != 0x8b {
		t.Errorf("heap profile: %v, %d bytes, want a gzip-compressed pprof file", err, len(b))
	}
	if b, err := os.ReadFile(stacks); err != nil || !strings.Contains(string(b), "server.(*SSHServer).watch") {
		t.Errorf("goroutine profile: %v; want the sessions' watchers in it", err)
	}
	if rep.Missed != 0 || rep.Seen != 3*6 || rep.Update.N != 18 {
		t.Errorf("ssh: seen %d, missed %d; want every session to show all 6 requests", rep.Seen, rep.Missed)
	}
	if rep.BytesPerSess == 0 {
		t.Error("sessions received no output")
	}
}

func TestConsoleSmoke(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	fx, err := newFixture(ctx, dir, "", "http://jitload.invalid", "console", 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := fx.addHistory(ctx, 300, 30); err != nil {
		t.Fatal(err)
	}
	path := fx.path
	fx.Close()
	rep, err := runConsole(ctx, consoleConfig{
		DB: path, As: driverLogin, Width: 120, Height: 40, Repeat: 3, Starts: 1,
		Filters: "0::p,2:zzq:x", Timeout: 20 * time.Second,
	}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Counts != [3]int{30, 30, 270} {
		t.Errorf("tab counts %v; want [30 30 270]", rep.Counts)
	}
	if rep.FirstFrame.N != 1 || rep.Move.N != 3 || rep.PageDown.N != 3 || len(rep.Filters) != 2 || len(rep.Tab) < 3 {
		t.Errorf("missing measurements: %+v", rep)
	}
}

func TestNameGenDiffersEverywhere(t *testing.T) {
	g := &nameGen{rnd: newRand(1), used: map[string]bool{}}
	var prev []string
	for range 2000 {
		n := g.next()
		for _, p := range prev[max(0, len(prev)-nameWindow):] {
			for i := range n {
				if n[i] == p[i] {
					t.Fatalf("%s shares position %d with %s", n, i, p)
				}
			}
		}
		prev = append(prev, n)
	}
}
