package server

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
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
	addr    string
	bob     gossh.Signer
	dir     string
	hostKey string
}

func newSSH(t *testing.T, idle time.Duration) *sshFixture {
	t.Helper()
	dir := t.TempDir()
	db, err := store.Open(filepath.Join(dir, "j.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	svc := approvals.New(db, approvals.Options{Issuer: issuer})
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
	s, err := NewSSHServer(SSHConfig{Service: svc, HostKeyPath: hostKey, IdleTimeout: idle})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(l)
	t.Cleanup(func() { s.Close() })
	return &sshFixture{addr: l.Addr().String(), bob: signer, dir: dir, hostKey: hostKey}
}

func dial(addr, user string, auth ...gossh.AuthMethod) (*gossh.Client, error) {
	return gossh.Dial("tcp", addr, &gossh.ClientConfig{User: user, Auth: auth, HostKeyCallback: gossh.InsecureIgnoreHostKey(), Timeout: 5 * time.Second})
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

func waitFor(t *testing.T, buf *syncBuffer, want string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
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
	case <-time.After(5 * time.Second):
		t.Fatal("idle session still open after 5s (timeout 300ms)")
	}
	if !strings.Contains(out.String(), "without input") {
		t.Fatalf("the approver must be told why: %q", out.String())
	}
}
