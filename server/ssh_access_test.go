package server

import (
	"context"
	"strings"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"github.com/jitdesk/jitdesk/approvals"
	"github.com/jitdesk/jitdesk/store"
)

func TestRemovedKeyEndsItsLiveSession(t *testing.T) {
	f := newSSH(t, time.Minute)
	s := f.consoleAs(t, f.bob, 100, 24, "(bob)")
	start := time.Now()
	if _, err := f.svc.RemoveApproverKey(context.Background(), "test", "bob", gossh.FingerprintSHA256(f.bob.PublicKey())); err != nil {
		t.Fatal(err)
	}
	waitDone(t, s.done, hangGuard, "key removed")
	t.Logf("session ended %v after the key was removed", time.Since(start))
	if !strings.Contains(s.out.String(), "it was removed") {
		t.Fatalf("the approver must be told why: %q", s.out.String())
	}
	if c, err := dial(f.addr, "bob", gossh.PublicKeys(f.bob)); err == nil {
		c.Close()
		t.Fatal("a removed key still logs in")
	}
}

// The approver is disabled from another process (the CLI), as an operator
// would: the server hears of it through the store's change feed, ends that
// approver's session and no one else's.
func TestDisabledApproverLosesTheirSessionsOnly(t *testing.T) {
	f := newSSH(t, time.Minute)
	carol := f.addApprover(t, "carol", "Carol Jensen")
	submit := f.withRequests(t)
	bob1 := f.consoleAs(t, f.bob, 100, 24, "(bob)")
	bob2 := f.consoleAs(t, f.bob, 100, 24, "(bob)")
	other := f.consoleAs(t, carol, 100, 24, "(carol)")

	cli, err := store.Open(f.db.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	start := time.Now()
	if _, err := approvals.New(cli, approvals.Options{Issuer: issuer}).SetApproverEnabled(context.Background(), "admin", "bob", false); err != nil {
		t.Fatal(err)
	}
	for _, s := range []session{bob1, bob2} {
		waitDone(t, s.done, hangGuard, "approver disabled")
		if !strings.Contains(s.out.String(), "was disabled") {
			t.Fatalf("the approver must be told why: %q", s.out.String())
		}
	}
	t.Logf("both sessions ended %v after another process disabled the approver", time.Since(start))
	select {
	case err := <-other.done:
		t.Fatalf("carol's session ended too: %v", err)
	default:
	}
	submit()
	waitFor(t, other.out, "pending 1")
	if !strings.Contains(f.logs.String(), "access withdrawn") {
		t.Fatalf("no log line for the ended sessions:\n%s", f.logs.String())
	}
}
