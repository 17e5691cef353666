package server

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	tea "charm.land/bubbletea/v2"
	"charm.land/ssh"
	"charm.land/wish/v2"
	"charm.land/wish/v2/activeterm"
	"charm.land/wish/v2/bubbletea"
	"github.com/charmbracelet/colorprofile"
	gossh "golang.org/x/crypto/ssh"

	"github.com/jitdesk/jitdesk/approvals"
	"github.com/jitdesk/jitdesk/ui"
)

// SSHConfig configures the SSH console.
type SSHConfig struct {
	Service *approvals.Service
	Logger  *slog.Logger
	Addr    string
	// HostKeyPath is where the host key lives; created once (ed25519, 0600)
	// and reused so clients see a stable fingerprint. Required.
	HostKeyPath string
	// IdleTimeout ends a session after this long without input from the
	// approver (output does not count: the console redraws countdowns).
	IdleTimeout time.Duration // default 15m
	// MaxSession ends any session after this long.
	MaxSession time.Duration // default 12h
	// HandshakeTimeout bounds the SSH handshake.
	HandshakeTimeout time.Duration // default 10s
	// MaxSessions caps concurrent sessions in total; MaxSessionsPerKey per approver key.
	MaxSessions       int // default 200
	MaxSessionsPerKey int // default 5
	// ConnectionsPerMinute limits new connections from one address.
	ConnectionsPerMinute int // default 30
	Bell                 bool
}

// SSHServer is the SSH console server.
type SSHServer struct {
	srv *ssh.Server
	cfg SSHConfig
	log *slog.Logger

	mu       sync.Mutex
	total    int
	perKey   map[string]int
	attempts map[string][]time.Time
}

const loginKey = "jitdesk-login"
const fingerprintKey = "jitdesk-fingerprint"

// NewSSHServer builds the SSH console. It refuses to run without a host key
// path (Wish would otherwise write a key into the working directory) and
// installs only public-key authentication (with no handler at all, Wish
// accepts every connection).
func NewSSHServer(cfg SSHConfig) (*SSHServer, error) {
	if cfg.Service == nil {
		return nil, errors.New("ssh: no service")
	}
	if cfg.HostKeyPath == "" {
		return nil, errors.New("ssh: a host key path is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 15 * time.Minute
	}
	if cfg.MaxSession <= 0 {
		cfg.MaxSession = 12 * time.Hour
	}
	if cfg.HandshakeTimeout <= 0 {
		cfg.HandshakeTimeout = 10 * time.Second
	}
	if cfg.MaxSessions <= 0 {
		cfg.MaxSessions = 200
	}
	if cfg.MaxSessionsPerKey <= 0 {
		cfg.MaxSessionsPerKey = 5
	}
	if cfg.ConnectionsPerMinute <= 0 {
		cfg.ConnectionsPerMinute = 30
	}
	if err := ensureHostKey(cfg.HostKeyPath); err != nil {
		return nil, err
	}
	s := &SSHServer{cfg: cfg, log: cfg.Logger, perKey: map[string]int{}, attempts: map[string][]time.Time{}}
	srv, err := wish.NewServer(
		wish.WithAddress(cfg.Addr),
		wish.WithHostKeyPath(cfg.HostKeyPath),
		wish.WithPublicKeyAuth(s.authenticate),
		wish.WithMaxTimeout(cfg.MaxSession),
		wish.WithMiddleware(
			bubbletea.MiddlewareWithProgramHandler(s.program),
			s.limitSessions,
			activeterm.Middleware(),
		),
	)
	if err != nil {
		return nil, fmt.Errorf("ssh: %w", err)
	}
	srv.HandshakeTimeout = cfg.HandshakeTimeout
	srv.ConnCallback = s.rateLimit
	// Only interactive shells: exec requests and subsystems (scp, sftp) are refused.
	srv.SessionRequestCallback = func(sess ssh.Session, requestType string) bool {
		if requestType != "shell" {
			s.log.Warn("ssh request refused", "type", requestType, "login", sess.Context().Value(loginKey))
			return false
		}
		return true
	}
	srv.SubsystemHandlers = map[string]ssh.SubsystemHandler{}
	srv.LocalPortForwardingCallback = nil
	srv.ReversePortForwardingCallback = nil
	s.srv = srv
	return s, nil
}

// ListenAndServe serves until Shutdown.
func (s *SSHServer) ListenAndServe() error { return s.srv.ListenAndServe() }

// Serve serves on l until Shutdown.
func (s *SSHServer) Serve(l net.Listener) error { return s.srv.Serve(l) }

// Shutdown stops accepting connections and waits for sessions to end or ctx.
func (s *SSHServer) Shutdown(ctx context.Context) error { return s.srv.Shutdown(ctx) }

// Close closes the server and every session at once.
func (s *SSHServer) Close() error { return s.srv.Close() }

// ensureHostKey creates an ed25519 host key (0600) unless one exists.
func ensureHostKey(path string) error {
	if _, err := os.Stat(path); err == nil {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("ssh host key: %w", err)
	}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	block, err := gossh.MarshalPrivateKey(priv, "jitdesk host key")
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("ssh host key: %w", err)
	}
	if err := pem.Encode(f, block); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// authenticate maps the offered public key to an approver. The identity is
// the key's owner, never the user name the client sent.
func (s *SSHServer) authenticate(ctx ssh.Context, key ssh.PublicKey) bool {
	fp := gossh.FingerprintSHA256(key)
	lctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	a, err := s.cfg.Service.ApproverBySSHKey(lctx, fp)
	if err != nil {
		s.log.Warn("ssh key refused", "fingerprint", fp, "user", ctx.User(), "remote", ctx.RemoteAddr().String())
		return false
	}
	ctx.SetValue(loginKey, a.Login)
	ctx.SetValue(fingerprintKey, fp)
	return true
}

// rateLimit refuses addresses that open too many connections per minute.
func (s *SSHServer) rateLimit(ctx ssh.Context, conn net.Conn) net.Conn {
	host, _, _ := net.SplitHostPort(conn.RemoteAddr().String())
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	recent := s.attempts[host][:0]
	for _, t := range s.attempts[host] {
		if now.Sub(t) < time.Minute {
			recent = append(recent, t)
		}
	}
	if len(recent) >= s.cfg.ConnectionsPerMinute {
		s.attempts[host] = recent
		s.log.Warn("ssh connection rate limited", "remote", host)
		return nil
	}
	s.attempts[host] = append(recent, now)
	if len(s.attempts) > 10_000 { // bound memory under a scan
		for h, ts := range s.attempts {
			if len(ts) == 0 || now.Sub(ts[len(ts)-1]) > time.Minute {
				delete(s.attempts, h)
			}
		}
	}
	return conn
}

// limitSessions caps sessions in total and per key.
func (s *SSHServer) limitSessions(next ssh.Handler) ssh.Handler {
	return func(sess ssh.Session) {
		fp, _ := sess.Context().Value(fingerprintKey).(string)
		s.mu.Lock()
		if s.total >= s.cfg.MaxSessions || s.perKey[fp] >= s.cfg.MaxSessionsPerKey {
			s.mu.Unlock()
			wish.Println(sess, "jitdesk: too many open sessions; close one and try again")
			_ = sess.Exit(1)
			return
		}
		s.total++
		s.perKey[fp]++
		s.mu.Unlock()
		defer func() {
			s.mu.Lock()
			s.total--
			s.perKey[fp]--
			if s.perKey[fp] == 0 {
				delete(s.perKey, fp)
			}
			s.mu.Unlock()
		}()
		next(sess)
	}
}

// program builds one session's console: its own model, size and colour
// profile, with input watched for idleness.
func (s *SSHServer) program(sess ssh.Session) *tea.Program {
	login, _ := sess.Context().Value(loginKey).(string)
	if login == "" {
		return nil
	}
	pty, _, ok := sess.Pty()
	if !ok {
		return nil
	}
	envs := append(sess.Environ(), "TERM="+pty.Term)
	in := &idleReader{r: sess, last: time.Now()}
	m := ui.New(ui.Options{Service: s.cfg.Service, Login: login, Bell: s.cfg.Bell, Notify: s.cfg.Bell})
	p := tea.NewProgram(m,
		tea.WithInput(in),
		tea.WithOutput(sess),
		tea.WithColorProfile(colorprofile.Env(envs)),
		tea.WithEnvironment(envs),
		tea.WithWindowSize(pty.Window.Width, pty.Window.Height),
		tea.WithFilter(func(_ tea.Model, msg tea.Msg) tea.Msg {
			if _, ok := msg.(tea.SuspendMsg); ok {
				return tea.ResumeMsg{}
			}
			return msg
		}),
	)
	s.log.Info("ssh session", "login", login, "remote", sess.RemoteAddr().String(), "term", pty.Term)
	go s.watchIdle(sess, in, p)
	return p
}

// watchIdle ends the session when the approver has typed nothing for the
// idle timeout.
func (s *SSHServer) watchIdle(sess ssh.Session, in *idleReader, p *tea.Program) {
	tick := min(s.cfg.IdleTimeout/4, time.Second)
	t := time.NewTicker(max(tick, 10*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-sess.Context().Done():
			return
		case <-t.C:
			if in.idle() >= s.cfg.IdleTimeout {
				s.log.Info("ssh session idle", "login", sess.Context().Value(loginKey))
				p.Quit()
				_, _ = io.WriteString(sess, "\r\njitdesk: session closed after "+s.cfg.IdleTimeout.String()+" without input\r\n")
				_ = sess.Close()
				return
			}
		}
	}
}

// idleReader records when the approver last sent input.
type idleReader struct {
	r    io.Reader
	mu   sync.Mutex
	last time.Time
}

func (i *idleReader) Read(p []byte) (int, error) {
	n, err := i.r.Read(p)
	if n > 0 {
		i.mu.Lock()
		i.last = time.Now()
		i.mu.Unlock()
	}
	return n, err
}

func (i *idleReader) idle() time.Duration {
	i.mu.Lock()
	defer i.mu.Unlock()
	return time.Since(i.last)
}
