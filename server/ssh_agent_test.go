package server

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"

	"github.com/jitdesk/jitdesk/keysign"
)

// agentClient is an SSH client that serves keyring on every agent channel
// the server opens, counting the channels opened and closed.
type agentClient struct {
	c              *gossh.Client
	opened, closed atomic.Int32
	closedCh       chan struct{}
}

func dialWithAgent(t *testing.T, addr string, key gossh.Signer, keyring agent.Agent) *agentClient {
	t.Helper()
	c, err := dial(addr, "bob", gossh.PublicKeys(key))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	ac := &agentClient{c: c, closedCh: make(chan struct{}, 16)}
	chans := c.HandleChannelOpen("auth-agent@openssh.com")
	go func() {
		for nc := range chans {
			ch, reqs, err := nc.Accept()
			if err != nil {
				continue
			}
			ac.opened.Add(1)
			go gossh.DiscardRequests(reqs)
			go func() {
				_ = agent.ServeAgent(keyring, ch) // returns once the server closes the channel
				ch.Close()
				ac.closed.Add(1)
				ac.closedCh <- struct{}{}
			}()
		}
	}()
	return ac
}

// openConsole starts a PTY shell on c, forwarding the agent first when
// forward is set, and waits for the console.
func openConsole(t *testing.T, c *gossh.Client, forward bool) {
	t.Helper()
	sess, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sess.Close() })
	if forward {
		if err := agent.RequestAgentForwarding(sess); err != nil {
			t.Fatal(err)
		}
	}
	out := &syncBuffer{}
	sess.Stdout = out
	if _, err := sess.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := sess.RequestPty("xterm-256color", 24, 100, gossh.TerminalModes{}); err != nil {
		t.Fatal(err)
	}
	if err := sess.Shell(); err != nil {
		t.Fatal(err)
	}
	waitOutput(out, "(bob)")
}

// waitOutput waits, as long as it takes, until buf shows want.
func waitOutput(buf *syncBuffer, want string) {
	for !strings.Contains(buf.String(), want) {
		time.Sleep(10 * time.Millisecond)
	}
}

// liveSession returns the state of the server's one console session once
// it is registered.
func (f *sshFixture) liveSession(t *testing.T) *sessionState {
	t.Helper()
	for {
		f.srv.mu.Lock()
		for _, st := range f.srv.programs {
			f.srv.mu.Unlock()
			return st
		}
		f.srv.mu.Unlock()
		time.Sleep(5 * time.Millisecond)
	}
}

func TestForwardedAgentSignsThroughOneChannelThatIsClosedAfter(t *testing.T) {
	f := newSSH(t, time.Minute)
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	keyring := agent.NewKeyring()
	if err := keyring.Add(agent.AddedKey{PrivateKey: priv}); err != nil {
		t.Fatal(err)
	}
	ac := dialWithAgent(t, f.addr, f.bob, keyring)
	openConsole(t, ac.c, true)
	if n := ac.opened.Load(); n != 0 {
		t.Fatalf("the server opened %d agent channels before anything was to be signed", n)
	}
	st := f.liveSession(t)

	ag, closer, err := agentSource(st.sess)(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	keys, err := ag.List()
	if err != nil || len(keys) != 1 {
		t.Fatalf("forwarded agent lists %d keys, %v", len(keys), err)
	}
	pub, _ := gossh.ParsePublicKey(keys[0].Blob)
	sig, err := ag.Sign(pub, []byte("statement"))
	if err != nil {
		t.Fatal(err)
	}
	if err := pub.Verify([]byte("statement"), sig); err != nil {
		t.Fatalf("signature from the forwarded agent: %v", err)
	}
	if n := ac.opened.Load(); n != 1 {
		t.Fatalf("%d agent channels opened for one signature, want 1", n)
	}
	if err := closer.Close(); err != nil {
		t.Fatal(err)
	}
	<-ac.closedCh // the client sees its agent channel closed
	if ac.opened.Load() != 1 || ac.closed.Load() != 1 {
		t.Fatalf("opened %d, closed %d agent channels", ac.opened.Load(), ac.closed.Load())
	}
}

func TestWithoutAgentForwardingTheSourceSaysNoAgent(t *testing.T) {
	f := newSSH(t, time.Minute)
	ac := dialWithAgent(t, f.addr, f.bob, agent.NewKeyring())
	openConsole(t, ac.c, false)
	st := f.liveSession(t)
	_, _, err := agentSource(st.sess)(context.Background())
	if !errors.Is(err, keysign.ErrNoAgent) {
		t.Fatalf("source without ssh -A: %v, want ErrNoAgent", err)
	}
	if n := ac.opened.Load(); n != 0 {
		t.Fatalf("the server opened %d agent channels to a client that did not forward its agent", n)
	}
}
