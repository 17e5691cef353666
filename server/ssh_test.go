package server

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"github.com/jitdesk/jitdesk/approvals"
	"github.com/jitdesk/jitdesk/store"
)

type sshFixture struct {
	svc     *approvals.Service
	db      *store.DB
	addr    string
	bob     gossh.Signer
	dir     string
	hostKey string
	srv     *SSHServer
	logs    *syncBuffer
}

func newSSH(t *testing.T, idle time.Duration) *sshFixture {
	t.Helper()
	return newSSHWith(t, func(c *SSHConfig) { c.IdleTimeout = idle })
}

func newSSHWith(t *testing.T, configure func(*SSHConfig)) *sshFixture {
	t.Helper()
	return newSSHWithService(t, approvals.Options{}, configure)
}

// newSSHWithService is newSSHWith with the Service built from opts (its
// Issuer set here).
func newSSHWithService(t *testing.T, opts approvals.Options, configure func(*SSHConfig)) *sshFixture {
	t.Helper()
	dir := t.TempDir()
	db, err := store.Open(filepath.Join(dir, "j.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	opts.Issuer = issuer
	svc := approvals.New(db, opts)
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	signer, _ := gossh.NewSignerFromKey(priv)
	key, err := approvals.ParseSSHKey(string(gossh.MarshalAuthorizedKey(signer.PublicKey())))
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.AddApprover(context.Background(), "test", approvals.Approver{Login: "bob", Name: "Bob Okafor", SSHKeys: []approvals.SSHKey{key}}); err != nil {
		t.Fatal(err)
	}
	hostKey := filepath.Join(dir, "host", "ssh_host_ed25519_key")
	logs := &syncBuffer{}
	cfg := SSHConfig{Service: svc, HostKeyPath: hostKey, Logger: slog.New(slog.NewJSONHandler(logs, nil))}
	configure(&cfg)
	s, err := NewSSHServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(l)
	t.Cleanup(func() { s.Close() })
	return &sshFixture{svc: svc, db: db, addr: l.Addr().String(), bob: signer, dir: dir, hostKey: hostKey, srv: s, logs: logs}
}

func dial(addr, user string, auth ...gossh.AuthMethod) (*gossh.Client, error) {
	return gossh.Dial("tcp", addr, &gossh.ClientConfig{User: user, Auth: auth, HostKeyCallback: gossh.InsecureIgnoreHostKey(), Timeout: hangGuard})
}

// syncBuffer collects session output safely across goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// hangGuard is how long a test waits for an event before it calls the
// wait a hang. It is never a performance bound: on a loaded machine a
// console may take seconds to draw, and a test must not fail for that.
const hangGuard = time.Minute

func waitFor(t *testing.T, buf *syncBuffer, want string) {
	t.Helper()
	deadline := time.Now().Add(hangGuard)
	for time.Now().Before(deadline) {
		if strings.Contains(buf.String(), want) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("output never showed %q; got %q", want, buf.String())
}

func TestApproverKeyGetsTheirOwnConsole(t *testing.T) {
	f := newSSH(t, time.Minute)
	// The user name the client sends is ignored: the key decides who this is.
	c, err := dial(f.addr, "root", gossh.PublicKeys(f.bob))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	sess, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	var out syncBuffer
	sess.Stdout = &out
	stdin, _ := sess.StdinPipe()
	if err := sess.RequestPty("xterm-256color", 24, 100, gossh.TerminalModes{}); err != nil {
		t.Fatal(err)
	}
	if err := sess.Shell(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, &out, "(bob)")
	stdin.Write([]byte("q"))
	if fi, err := os.Stat(f.hostKey); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("host key must be created 0600: %v %v", fi, err)
	}
}

func TestHostKeyIsCreatedOnceAndReused(t *testing.T) {
	f := newSSH(t, time.Minute)
	before, _ := os.ReadFile(f.hostKey)
	if _, err := NewSSHServer(SSHConfig{Service: approvals.New(nil, approvals.Options{}), HostKeyPath: f.hostKey}); err != nil {
		t.Fatal(err)
	}
	after, _ := os.ReadFile(f.hostKey)
	if !bytes.Equal(before, after) {
		t.Fatal("the host key changed")
	}
	if _, err := NewSSHServer(SSHConfig{Service: approvals.New(nil, approvals.Options{})}); err == nil {
		t.Fatal("a server without a host key path must not start")
	}
}

func TestUnknownKeysAndPasswordsAreRefused(t *testing.T) {
	f := newSSH(t, time.Minute)
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	stranger, _ := gossh.NewSignerFromKey(priv)
	if c, err := dial(f.addr, "bob", gossh.PublicKeys(stranger)); err == nil {
		c.Close()
		t.Fatal("an unknown key was accepted")
	}
	if c, err := dial(f.addr, "bob", gossh.Password("bob")); err == nil {
		c.Close()
		t.Fatal("password authentication was accepted")
	}
}

func TestOnlyInteractiveSessionsWithAPTY(t *testing.T) {
	f := newSSH(t, time.Minute)
	c, err := dial(f.addr, "bob", gossh.PublicKeys(f.bob))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	sess, _ := c.NewSession()
	if out, err := sess.CombinedOutput("cat /etc/passwd"); err == nil {
		t.Fatalf("exec was allowed: %s", out)
	}
	sess, _ = c.NewSession()
	if err := sess.RequestSubsystem("sftp"); err == nil {
		t.Fatal("sftp subsystem was allowed")
	}
	sess, _ = c.NewSession()
	var out syncBuffer
	sess.Stdout = &out
	if err := sess.Shell(); err != nil {
		t.Fatal(err)
	}
	sess.Wait()
	if !strings.Contains(out.String(), "PTY") {
		t.Fatalf("no-PTY session must be told why: %q", out.String())
	}
	if _, err := c.Dial("tcp", "127.0.0.1:22"); err == nil {
		t.Fatal("port forwarding was allowed")
	}
}

func TestIdleSessionsEndWithoutInput(t *testing.T) {
	f := newSSH(t, 300*time.Millisecond)
	c, err := dial(f.addr, "bob", gossh.PublicKeys(f.bob))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	sess, _ := c.NewSession()
	var out syncBuffer
	sess.Stdout = &out
	sess.RequestPty("xterm", 24, 80, gossh.TerminalModes{})
	if err := sess.Shell(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- sess.Wait() }()
	select {
	case <-done:
	case <-time.After(hangGuard):
		t.Fatalf("idle session still open after %v (timeout 300ms)", hangGuard)
	}
	if !strings.Contains(out.String(), "without input") {
		t.Fatalf("the approver must be told why: %q", out.String())
	}
}

// console opens an interactive PTY session as bob and waits for the console.
func (f *sshFixture) console(t *testing.T) (*gossh.Session, *syncBuffer, io.WriteCloser, chan error) {
	t.Helper()
	c, err := dial(f.addr, "bob", gossh.PublicKeys(f.bob))
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
	stdin, _ := sess.StdinPipe()
	if err := sess.RequestPty("xterm-256color", 24, 100, gossh.TerminalModes{}); err != nil {
		t.Fatal(err)
	}
	if err := sess.Shell(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, out, "(bob)")
	done := make(chan error, 1)
	go func() { done <- sess.Wait() }()
	return sess, out, stdin, done
}

func waitDone(t *testing.T, done chan error, within time.Duration, what string) {
	t.Helper()
	select {
	case <-done:
	case <-time.After(within):
		t.Fatalf("%s: session still open after %v", what, within)
	}
}

func TestUnknownKeyIsLoggedWithItsFingerprint(t *testing.T) {
	f := newSSH(t, time.Minute)
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	stranger, _ := gossh.NewSignerFromKey(priv)
	if c, err := dial(f.addr, "bob", gossh.PublicKeys(stranger)); err == nil {
		c.Close()
		t.Fatal("an unknown key was accepted")
	}
	if fp := gossh.FingerprintSHA256(stranger.PublicKey()); !strings.Contains(f.logs.String(), fp) {
		t.Fatalf("refusal not logged with fingerprint %s:\n%s", fp, f.logs.String())
	}
}

func TestInputKeepsTheSessionAliveOutputDoesNot(t *testing.T) {
	f := newSSH(t, time.Second)
	_, out, stdin, done := f.console(t)
	// Typing (cursor down, harmless) every 100ms for 3s keeps it open,
	// three idle timeouts long (the timeout is ten keystrokes long, so a
	// loaded machine's late wake-ups do not close it).
	for range 30 {
		time.Sleep(100 * time.Millisecond)
		select {
		case <-done:
			t.Fatalf("session closed although the approver was typing: %q", out.String())
		default:
		}
		stdin.Write([]byte("\x1b[B"))
	}
	// Then silence: closed soon after the timeout, whatever the console draws.
	waitDone(t, done, hangGuard, "idle after input stopped")
	if !strings.Contains(out.String(), "without input") {
		t.Fatalf("the approver must be told why: %q", out.String())
	}
}

func TestMaxSessionLength(t *testing.T) {
	f := newSSHWith(t, func(c *SSHConfig) { c.IdleTimeout = time.Minute; c.MaxSession = 700 * time.Millisecond })
	_, out, stdin, done := f.console(t)
	go func() {
		for range 40 {
			time.Sleep(100 * time.Millisecond)
			if _, err := stdin.Write([]byte("\x1b[B")); err != nil {
				return
			}
		}
	}()
	waitDone(t, done, hangGuard, "max session")
	if !strings.Contains(out.String(), "maximum length") {
		t.Fatalf("the approver must be told why: %q", out.String())
	}
}

func TestSessionCapPerKey(t *testing.T) {
	f := newSSHWith(t, func(c *SSHConfig) { c.IdleTimeout = time.Minute; c.MaxSessionsPerKey = 1 })
	f.console(t)
	c, err := dial(f.addr, "bob", gossh.PublicKeys(f.bob))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	sess, _ := c.NewSession()
	var out syncBuffer
	sess.Stdout = &out
	sess.RequestPty("xterm", 24, 80, gossh.TerminalModes{})
	if err := sess.Shell(); err != nil {
		t.Fatal(err)
	}
	sess.Wait()
	if !strings.Contains(out.String(), "too many open sessions") {
		t.Fatalf("second session: %q", out.String())
	}
}

func TestRemoteForwardingRefused(t *testing.T) {
	f := newSSH(t, time.Minute)
	c, err := dial(f.addr, "bob", gossh.PublicKeys(f.bob))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if l, err := c.Listen("tcp", "127.0.0.1:0"); err == nil {
		l.Close()
		t.Fatal("remote port forwarding was allowed")
	}
}

func TestHostKeyReadableByOthersIsRefused(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "key")
	if err := ensureHostKey(path); err != nil {
		t.Fatal(err)
	}
	os.Chmod(path, 0o644)
	if _, err := NewSSHServer(SSHConfig{Service: approvals.New(nil, approvals.Options{}), HostKeyPath: path}); err == nil {
		t.Fatal("a world-readable host key was accepted")
	}
}

func TestShutdownEndsConsolesWithAReason(t *testing.T) {
	f := newSSH(t, time.Minute)
	_, out, _, done := f.console(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := f.srv.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	waitDone(t, done, hangGuard, "shutdown")
	if !strings.Contains(out.String(), "shutting down") {
		t.Fatalf("the approver must be told why: %q", out.String())
	}
}
