package server

import (
	"errors"
	"strings"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// A command gets a one-line explanation and exit status 1, and nothing runs.
func TestExecIsExplainedAndRefused(t *testing.T) {
	f := newSSH(t, time.Minute)
	c, err := dial(f.addr, "bob", gossh.PublicKeys(f.bob))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, pty := range []bool{false, true} {
		sess, err := c.NewSession()
		if err != nil {
			t.Fatal(err)
		}
		if pty {
			if err := sess.RequestPty("xterm", 24, 80, gossh.TerminalModes{}); err != nil {
				t.Fatal(err)
			}
		}
		out, err := sess.CombinedOutput("cat /etc/passwd")
		var exit *gossh.ExitError
		if !errors.As(err, &exit) || exit.ExitStatus() != 1 {
			t.Fatalf("pty=%v: exec: %v, want exit status 1", pty, err)
		}
		if !strings.Contains(string(out), "commands are not run here") || strings.Contains(string(out), "root:") {
			t.Fatalf("pty=%v: exec output %q", pty, out)
		}
	}
}

// X11 forwarding is refused and the session carries on; agent forwarding
// is granted (the console asks the forwarded agent for decision signatures,
// see agentSource).
func TestX11ForwardingIsRefusedAndAgentForwardingGranted(t *testing.T) {
	f := newSSH(t, time.Minute)
	c, err := dial(f.addr, "bob", gossh.PublicKeys(f.bob))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	sess, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	if err := agent.RequestAgentForwarding(sess); err != nil {
		t.Fatalf("agent forwarding was refused: %v", err)
	}
	x11 := gossh.Marshal(struct {
		Single   bool
		Protocol string
		Cookie   string
		Screen   uint32
	}{false, "MIT-MAGIC-COOKIE-1", "00000000000000000000000000000000", 0})
	if ok, err := sess.SendRequest("x11-req", true, x11); err != nil || ok {
		t.Fatalf("x11 forwarding: ok=%v err=%v", ok, err)
	}
	var out syncBuffer
	sess.Stdout = &out
	if err := sess.RequestPty("xterm-256color", 24, 100, gossh.TerminalModes{}); err != nil {
		t.Fatal(err)
	}
	if err := sess.Shell(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, &out, "(bob)")
}
