package server

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"github.com/jitdesk/jitdesk/approvals"
)

func newSigner(t *testing.T) gossh.Signer {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := gossh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// addApprover registers login with a fresh key and returns the key.
func (f *sshFixture) addApprover(t *testing.T, login, name string) gossh.Signer {
	t.Helper()
	s := newSigner(t)
	key, err := approvals.ParseSSHKey(string(gossh.MarshalAuthorizedKey(s.PublicKey())))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.svc.AddApprover(context.Background(), "test", approvals.Approver{Login: login, Name: name, SSHKeys: []approvals.SSHKey{key}}); err != nil {
		t.Fatal(err)
	}
	return s
}

// withRequests gives the fixture an application and a template bob and
// carol may decide, and returns a function that submits one request.
func (f *sshFixture) withRequests(t *testing.T) func() {
	t.Helper()
	ctx := context.Background()
	if _, err := f.svc.Init(ctx, "test"); err != nil {
		t.Fatal(err)
	}
	app, err := f.svc.CreateApplication(ctx, "test", "payments", "https://payments.example")
	if err != nil {
		t.Fatal(err)
	}
	if err := f.svc.AddTemplate(ctx, "test", approvals.Template{Key: "k8s", AppID: app.ID, Title: "K8s exec",
		Type: approvals.TypeApprove, Approvers: []string{"bob", "carol"}}); err != nil {
		t.Fatal(err)
	}
	return func() {
		t.Helper()
		if _, err := f.svc.Submit(ctx, approvals.NewRequest{AppID: app.ID, TemplateKey: "k8s", Requester: "alice", Reason: "ssh test"}); err != nil {
			t.Fatal(err)
		}
	}
}

// session is one console opened over SSH.
type session struct {
	sess *gossh.Session
	out  *syncBuffer
	done chan error
}

// consoleAs opens an interactive session with key at cols×rows and waits
// for the console to show want.
func (f *sshFixture) consoleAs(t *testing.T, key gossh.Signer, cols, rows int, want string) session {
	t.Helper()
	c, err := dial(f.addr, "x", gossh.PublicKeys(key))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	sess, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	out := &syncBuffer{}
	sess.Stdout = out
	if _, err := sess.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := sess.RequestPty("xterm-256color", rows, cols, gossh.TerminalModes{}); err != nil {
		t.Fatal(err)
	}
	if err := sess.Shell(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, out, want)
	done := make(chan error, 1)
	go func() { done <- sess.Wait() }()
	return session{sess: sess, out: out, done: done}
}

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// rssBytes is this process's resident set (client and server together).
func rssBytes() uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseUint(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}

const mib = 1 << 20

// Five sessions on one key claim a 60000×60000 terminal, at login and again
// by window-change (what took the server down: gigabytes for one session).
// Their sizes are clamped, the server's memory stays bounded, and a normal
// session beside them still gets live updates.
func TestHostileTerminalSizesKeepMemoryBounded(t *testing.T) {
	f := newSSH(t, time.Minute)
	carol := f.addApprover(t, "carol", "Carol Jensen")
	submit := f.withRequests(t)

	base, baseRSS := heapInUse(), rssBytes()
	normal := f.consoleAs(t, carol, 100, 30, "(carol)")
	withNormal := heapInUse()

	var hostile []session
	for range DefaultMaxSessionsPerKey {
		s := f.consoleAs(t, f.bob, 60000, 60000, "(bob)")
		before := len(s.out.String())
		if err := s.sess.WindowChange(60000, 60000); err != nil {
			t.Fatal(err)
		}
		// The console redraws after the resize: wait for that output.
		deadline := time.Now().Add(hangGuard)
		for len(s.out.String()) == before && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		hostile = append(hostile, s)
	}
	withHostile, hostileRSS := heapInUse(), rssBytes()
	perHostile := (float64(withHostile) - float64(withNormal)) / float64(len(hostile)) / mib
	t.Logf("Go heap in use: %.1f MiB before, %.1f MiB with one 100×30 session (+%.2f MiB), %.1f MiB with %d more at 60000×60000 (+%.2f MiB each, clamped to %d×%d)",
		float64(base)/mib, float64(withNormal)/mib, (float64(withNormal)-float64(base))/mib,
		float64(withHostile)/mib, len(hostile), perHostile, MaxPTYColumns, MaxPTYRows)
	t.Logf("process RSS (test client and server): %.1f MiB before, %.1f MiB after", float64(baseRSS)/mib, float64(hostileRSS)/mib)

	// Unclamped, one such session is 3.6e9 cells; clamped, each is at most
	// 60,000. 64 MiB a session is generous for that and far below gigabytes.
	if grown := float64(withHostile) - float64(base); grown > 6*64*mib {
		t.Fatalf("heap grew %.0f MiB for six sessions", grown/mib)
	}
	clamped := fmt.Sprintf(`"width":%d,"height":%d`, MaxPTYColumns, MaxPTYRows)
	if n := strings.Count(f.logs.String(), clamped); n != len(hostile) {
		t.Fatalf("%d sessions logged the clamped size %s, want %d:\n%s", n, clamped, len(hostile), f.logs.String())
	}

	submit()
	waitFor(t, normal.out, "pending 1")
	for i, s := range hostile {
		select {
		case err := <-s.done:
			t.Fatalf("hostile session %d ended: %v", i, err)
		default:
		}
		waitFor(t, s.out, "pending 1")
	}
}

func TestPTYAndWindowChangeAreClampedOnTheWire(t *testing.T) {
	big := gossh.Marshal(ptyRequest{Term: "xterm", Columns: 60000, Rows: 60000, PixW: 1 << 30, PixH: 1 << 30})
	out, ok := clampPTYRequest(big)
	var p ptyRequest
	if !ok || gossh.Unmarshal(out, &p) != nil || p.Columns != MaxPTYColumns || p.Rows != MaxPTYRows || p.PixW != 0 || p.Term != "xterm" {
		t.Fatalf("pty-req clamped to %+v (ok %v)", p, ok)
	}
	small := gossh.Marshal(ptyRequest{Term: "xterm", Columns: 80, Rows: 24, PixW: 640, PixH: 480})
	if out, ok := clampPTYRequest(small); !ok || string(out) != string(small) {
		t.Fatal("an ordinary pty-req was changed")
	}
	if _, ok := clampPTYRequest(gossh.Marshal(ptyRequest{Term: strings.Repeat("x", 4096)})); ok {
		t.Fatal("a 4 KiB TERM name was accepted")
	}
	var w windowChange
	if gossh.Unmarshal(clampWindowChange(gossh.Marshal(windowChange{Columns: 1 << 31, Rows: 7})), &w) != nil || w.Columns != MaxPTYColumns || w.Rows != 7 {
		t.Fatalf("window-change clamped to %+v", w)
	}
}

// Failed authentications from one address, not connections, are limited,
// and never against a registered key: a stranger behind the same NAT as an
// approver cannot lock the approver out.
func TestStrangerFailuresNeverLockOutARegisteredKey(t *testing.T) {
	f := newSSHWith(t, func(c *SSHConfig) { c.IdleTimeout = time.Minute; c.FailedAuthsPerMinute = 3 })
	stranger := newSigner(t)
	for i := range 6 {
		if c, err := dial(f.addr, "bob", gossh.PublicKeys(stranger)); err == nil {
			c.Close()
			t.Fatalf("stranger's attempt %d got in", i+1)
		}
	}
	// More connections than the old per-address connection limit (30 a
	// minute), all from the stranger's address, all with bob's key.
	for i := range DefaultConnectionsPerMinute + 5 {
		c, err := dial(f.addr, "bob", gossh.PublicKeys(f.bob))
		if err != nil {
			t.Fatalf("bob's connection %d after the stranger's failures: %v", i+1, err)
		}
		c.Close()
	}
	if !strings.Contains(f.logs.String(), "over the limit") {
		t.Fatalf("the limit was never reached:\n%s", f.logs.String())
	}
}

// Over the limit each refused key waits before its refusal, so guessing
// slows to one key per delay per connection; a registered key offered
// after refused ones on the same connection still gets in.
func TestOverTheLimitRefusedKeysWaitAndRegisteredKeysDoNot(t *testing.T) {
	f := newSSHWith(t, func(c *SSHConfig) { c.FailedAuthsPerMinute = 1; c.failDelay = 200 * time.Millisecond })
	if c, err := dial(f.addr, "x", gossh.PublicKeys(newSigner(t))); err == nil {
		c.Close()
		t.Fatal("an unknown key got in")
	}
	start := time.Now()
	c, err := dial(f.addr, "x", gossh.PublicKeys(newSigner(t), newSigner(t), f.bob))
	if err != nil {
		t.Fatalf("bob's key after two refused ones, over the limit: %v", err)
	}
	c.Close()
	if el := time.Since(start); el < 2*f.srv.failDelay {
		t.Fatalf("two refused keys over the limit took %v, want at least %v", el, 2*f.srv.failDelay)
	}
	if !strings.Contains(f.logs.String(), "over the limit") {
		t.Fatalf("the limit was not logged:\n%s", f.logs.String())
	}
	// bob alone is not delayed at all: nothing of his is counted.
	start = time.Now()
	c, err = dial(f.addr, "bob", gossh.PublicKeys(f.bob))
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	t.Logf("bob's own connection over the stranger's limit took %v", time.Since(start))
}
