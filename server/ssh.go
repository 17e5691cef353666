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
	"charm.land/wish/v2/bubbletea"
	wishrecover "charm.land/wish/v2/recover"
	"github.com/charmbracelet/colorprofile"
	gossh "golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"

	"github.com/jitdesk/jitdesk/approvals"
	"github.com/jitdesk/jitdesk/keysign"
	"github.com/jitdesk/jitdesk/metrics"
	"github.com/jitdesk/jitdesk/ui"
)

// Defaults of SSHConfig.
const (
	DefaultIdleTimeout          = 15 * time.Minute
	DefaultMaxSession           = 12 * time.Hour
	DefaultHandshakeTimeout     = 10 * time.Second
	DefaultMaxSessions          = 200
	DefaultMaxSessionsPerKey    = 5
	DefaultFailedAuthsPerMinute = 20
	// DefaultConnectionsPerMinute is kept for old configurations; see
	// SSHConfig.ConnectionsPerMinute.
	DefaultConnectionsPerMinute = 30
)

// Bounds on a session's terminal. The console's memory grows with the
// window's area (Bubble Tea keeps cell buffers of the whole screen, and the
// views render every row): a client claiming a 60000×60000 terminal had the
// server allocate gigabytes for one session. 400×150 is more than any real
// screen shows at a readable font (a 3840×2160 display at a 9-pixel-wide,
// 14-pixel-high cell is about 420×150) and measured about 14.5 MiB of heap a
// session at the bound (1 MiB at 100×30), so the per-key session cap keeps
// one key's share near 75 MiB. Larger requests are clamped, not refused:
// the approver still gets a console, drawn in the window's top-left
// 400×150.
const (
	MaxPTYColumns = 400
	MaxPTYRows    = 150
)

// SSHConfig configures the SSH console.
type SSHConfig struct {
	Service *approvals.Service
	Logger  *slog.Logger
	Addr    string
	// HostKeyPath is where the host key lives; created once (ed25519, 0600)
	// and reused so clients see a stable fingerprint. Required: without it
	// Wish would write a key into the working directory.
	HostKeyPath string
	// IdleTimeout ends a session after this long without input from the
	// approver (output does not count: the console redraws countdowns).
	IdleTimeout time.Duration // default 15m
	// MaxSession ends any session after this long.
	MaxSession time.Duration // default 12h
	// HandshakeTimeout bounds the SSH handshake, authentication included.
	HandshakeTimeout time.Duration // default 10s
	// MaxSessions caps concurrent sessions in total; MaxSessionsPerKey per
	// approver key.
	MaxSessions       int // default 200
	MaxSessionsPerKey int // default 5
	// FailedAuthsPerMinute is how many refused keys one IP address may
	// offer in a minute. Beyond it, each further refused key from that
	// address is answered only after a delay (a second), so guessing runs at
	// one key a second per connection, and is logged once a minute instead
	// of once per key. A registered key is never refused or delayed for it,
	// even on the same connection after refused ones, and connections are
	// not counted: a stranger behind the same NAT as an approver cannot
	// lock the approver out.
	FailedAuthsPerMinute int // default 20
	// Deprecated: connections are no longer limited per address (that let
	// a stranger behind an approver's NAT lock the approver out); failed
	// authentications are, see FailedAuthsPerMinute. Ignored.
	ConnectionsPerMinute int
	// failDelay replaces the one-second wait of a refused key over the
	// limit (tests).
	failDelay time.Duration
	// Bell rings the terminal bell and sends a desktop notification (OSC 9
	// and OSC 777; the approver's own terminal shows it, over SSH too)
	// when a new request needs the approver. false is quiet.
	Bell bool
	// Metrics, when set, exports the number of open sessions and counts
	// refused keys (auth_failures_total{method="ssh"}).
	Metrics *metrics.Metrics
}

// SSHServer is the SSH console server: one console per session, as the
// approver who owns the authenticating key.
type SSHServer struct {
	srv *ssh.Server
	cfg SSHConfig
	log *slog.Logger

	mu       sync.Mutex
	closing  bool
	total    int
	perKey   map[string]int
	failures map[string]*authFailures // by remote host
	programs map[*tea.Program]*sessionState

	failDelay time.Duration // how long a refused key over the limit waits
	authLog   *authLogLimiter
	// shared is what every console session would build identically (styles,
	// key bindings): built once here, read-only, handed to each session.
	shared *ui.Shared

	accessOnce sync.Once     // starts the access re-check (ssh_access.go)
	stopOnce   sync.Once     // stops it
	stop       chan struct{} // closed by Shutdown and Close
	kick       chan struct{} // a re-check is wanted without a store change
}

// authFailures are one address's refused keys in the current minute.
type authFailures struct {
	times    []time.Time
	loggedAt time.Time // last "over the limit" log line
}

// Context keys set on an SSH session.
type ctxKey string

const (
	loginKey       ctxKey = "jitdesk-login"
	fingerprintKey ctxKey = "jitdesk-fingerprint"
	stateKey       ctxKey = "jitdesk-session"
)

// sessionState is what the session's watchers share with its farewell.
type sessionState struct {
	login       string
	fingerprint string             // of the plain key, for a certificate that of its key
	cert        *gossh.Certificate // the certificate the session logged in with, or nil
	sess        ssh.Session
	prog        *tea.Program

	mu     sync.Mutex
	reason string // why the server ended the session, told to the approver
}

func (st *sessionState) end(reason string) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.reason == "" {
		st.reason = reason
	}
}

func (st *sessionState) why() string {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.reason
}

// NewSSHServer builds the SSH console. It refuses to run without a host key
// path (Wish would otherwise write a key into the working directory) and
// installs only public-key authentication (with no handler at all, Wish
// accepts every connection).
func NewSSHServer(cfg SSHConfig) (*SSHServer, error) {
	if cfg.Service == nil {
		return nil, errors.New("ssh: no service")
	}
	if cfg.HostKeyPath == "" {
		return nil, errors.New("ssh: a host key path is required (the key is created there once and reused)")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.MaxSession <= 0 {
		cfg.MaxSession = DefaultMaxSession
	}
	if cfg.HandshakeTimeout <= 0 {
		cfg.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if cfg.MaxSessions <= 0 {
		cfg.MaxSessions = DefaultMaxSessions
	}
	if cfg.MaxSessionsPerKey <= 0 {
		cfg.MaxSessionsPerKey = DefaultMaxSessionsPerKey
	}
	if cfg.FailedAuthsPerMinute <= 0 {
		cfg.FailedAuthsPerMinute = DefaultFailedAuthsPerMinute
	}
	if err := ensureHostKey(cfg.HostKeyPath); err != nil {
		return nil, err
	}
	s := &SSHServer{
		cfg: cfg, log: cfg.Logger,
		perKey: map[string]int{}, failures: map[string]*authFailures{}, programs: map[*tea.Program]*sessionState{},
		stop: make(chan struct{}), kick: make(chan struct{}, 1), failDelay: time.Second,
		authLog: newAuthLogLimiter(nil), shared: ui.NewShared(),
	}
	cfg.Metrics.SetSSHSessions(s.sessions)
	if cfg.failDelay > 0 {
		s.failDelay = cfg.failDelay
	}
	// Middlewares run last-first: requirePTY, then identify, then
	// limitSessions, then the console; farewell runs after the console ends.
	// recover keeps one session's panic from taking the server down.
	srv, err := wish.NewServer(
		wish.WithAddress(cfg.Addr),
		wish.WithHostKeyPath(cfg.HostKeyPath),
		wish.WithPublicKeyAuth(s.authenticate),
		// A hard backstop behind the session's own MaxSession timer.
		wish.WithMaxTimeout(cfg.MaxSession+time.Minute),
		wish.WithMiddleware(wishrecover.MiddlewareWithLogger(printfLogger{s.log},
			s.farewell,
			bubbletea.MiddlewareWithProgramHandler(s.program),
			s.limitSessions,
			s.identify,
			s.requirePTY,
		)),
	)
	if err != nil {
		return nil, fmt.Errorf("ssh: %w", err)
	}
	if srv.PasswordHandler != nil || srv.KeyboardInteractiveHandler != nil || srv.PublicKeyHandler == nil {
		return nil, errors.New("ssh: only public-key authentication may be configured")
	}
	srv.HandshakeTimeout = cfg.HandshakeTimeout
	// Only interactive shells. Subsystems (scp, sftp) are refused outright;
	// an exec request is let through only so that requirePTY can say in one
	// line why no command runs here (OpenSSH would otherwise just print
	// "exec request failed").
	srv.SessionRequestCallback = func(sess ssh.Session, requestType string) bool {
		if requestType != "shell" && requestType != "exec" {
			s.log.Warn("ssh request refused", "type", requestType, "remote", sess.RemoteAddr().String(),
				"fingerprint", keyFingerprint(sess))
			return false
		}
		return true
	}
	// Sessions only: no port forwarding in either direction, no global
	// requests, whatever the library's defaults become.
	srv.SubsystemHandlers = map[string]ssh.SubsystemHandler{}
	srv.ChannelHandlers = map[string]ssh.ChannelHandler{"session": s.sessionChannelHandler}
	srv.RequestHandlers = map[string]ssh.RequestHandler{}
	srv.LocalPortForwardingCallback = nil
	srv.ReversePortForwardingCallback = nil
	s.srv = srv
	return s, nil
}

// printfLogger adapts slog to Wish's Printf loggers.
type printfLogger struct{ log *slog.Logger }

func (p printfLogger) Printf(format string, v ...any) {
	p.log.Error("ssh", "msg", fmt.Sprintf(format, v...))
}

// ListenAndServe serves on the configured address until Shutdown.
func (s *SSHServer) ListenAndServe() error { return s.srv.ListenAndServe() }

// Serve serves on l until Shutdown.
func (s *SSHServer) Serve(l net.Listener) error { return s.srv.Serve(l) }

// restartNotice is what approvers read when the server shuts down under
// them; serve usually stops to restart.
const restartNotice = "jitdesk is restarting or shutting down; your session has ended, reconnect in a moment"

// Shutdown stops accepting connections, ends every console (each approver is
// told why), waits for the sessions to finish or ctx to end, then closes
// what is left (connections without a session). It returns nil when every
// session ended before ctx did.
func (s *SSHServer) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing = true
	progs := make(map[*tea.Program]*sessionState, len(s.programs))
	for p, st := range s.programs {
		progs[p] = st
	}
	s.mu.Unlock()
	// The library's Shutdown closes the listeners, then waits for every
	// connection, including idle ones clients keep open; it is cancelled
	// once the sessions are done.
	shCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	shut := make(chan struct{})
	go func() { _ = s.srv.Shutdown(shCtx); close(shut) }()
	for p, st := range progs {
		st.end(restartNotice)
		p.Quit()
	}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for s.sessions() > 0 && ctx.Err() == nil {
		select {
		case <-ctx.Done():
		case <-tick.C:
		}
	}
	cancel()
	<-shut
	_ = s.srv.Close()
	s.stopAccessChecks()
	return ctx.Err()
}

func (s *SSHServer) sessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.total
}

// Close closes the server and every session at once.
func (s *SSHServer) Close() error {
	s.stopAccessChecks()
	return s.srv.Close()
}

// ensureHostKey creates an ed25519 host key (0600) unless one exists, and
// refuses a key file others can read.
func ensureHostKey(path string) error {
	if fi, err := os.Stat(path); err == nil {
		if fi.Mode().Perm()&0o077 != 0 {
			return fmt.Errorf("ssh host key %s is readable by others (mode %v); chmod 600 it", path, fi.Mode().Perm())
		}
		return nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("ssh host key: %w", err)
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
	if errors.Is(err, os.ErrExist) {
		return nil // another process created it first
	}
	if err != nil {
		return fmt.Errorf("ssh host key: %w", err)
	}
	if err := pem.Encode(f, block); err != nil {
		f.Close()
		os.Remove(path)
		return fmt.Errorf("ssh host key: %w", err)
	}
	return f.Close()
}

// authenticate accepts a public key that belongs to an approver. It only
// answers yes or no: the session's identity is looked up again from the key
// that actually authenticated (identify), never from anything the client
// said and never from state left by an earlier, unsigned key query. A
// registered key is accepted whatever else came from its address; a
// refused one counts against the address (see FailedAuthsPerMinute).
func (s *SSHServer) authenticate(ctx ssh.Context, key ssh.PublicKey) bool {
	fp := gossh.FingerprintSHA256(key)
	lctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := s.approverFor(lctx, key, ctx.RemoteAddr())
	if err == nil {
		return true
	}
	remote := ctx.RemoteAddr().String()
	host, _, _ := net.SplitHostPort(remote)
	reason := sshRefusalReason(key, err)
	s.cfg.Metrics.AuthFailed(metrics.MethodSSH, reason)
	over, logIt := s.authFailed(host)
	if over {
		if logIt {
			s.log.Warn("ssh authentication failures over the limit; each further refused key waits",
				"remote", host, "per_minute", s.cfg.FailedAuthsPerMinute, "delay", s.failDelay.String(), "fingerprint", fp)
		}
		// Delay the refusal, not the connection: a registered key offered
		// next on the same connection is looked up and accepted as ever.
		t := time.NewTimer(s.failDelay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done(): // the connection went away
		}
		return false
	}
	if reason == reasonLookup {
		// Not a stranger's key: the database did not answer.
		s.log.Error("ssh key lookup failed", "fingerprint", fp, "remote", host, "err", err.Error())
	}
	extra := []any{"fingerprint", fp}
	if cert, ok := key.(*gossh.Certificate); ok {
		// The key id and serial name the certificate for the CA's
		// operator; both were chosen by whoever signed it (slog quotes
		// them).
		extra = append(extra, "certificate_key_id", cert.KeyId, "certificate_serial", cert.Serial)
	}
	logAuthFailure(lctx, s.log, s.authLog, metrics.MethodSSH, reason, host, extra...)
	return false
}

// approverFor looks up the approver a key offered from remote
// authenticates: a certificate through the SSH user CA the Service trusts
// (its signature, validity, principal, revocation and source-address,
// then the approver its principal names), any other key by its registered
// fingerprint.
func (s *SSHServer) approverFor(ctx context.Context, key gossh.PublicKey, remote net.Addr) (approvals.Approver, error) {
	if cert, ok := key.(*gossh.Certificate); ok {
		return s.cfg.Service.ApproverByCertificate(ctx, cert, remote)
	}
	return s.cfg.Service.ApproverBySSHKey(ctx, gossh.FingerprintSHA256(key))
}

// sshRefusalReason is the typed reason of a refused key or certificate.
func sshRefusalReason(key gossh.PublicKey, err error) string {
	if _, ok := key.(*gossh.Certificate); ok {
		if r := certRefusalReason(err); r != "" {
			return r
		}
		if errors.Is(err, approvals.ErrNotFound) {
			return reasonUnknownPrincipal // the CA vouched for a login that is no approver
		}
	}
	switch {
	case errors.Is(err, approvals.ErrNotFound):
		return reasonUnknownKey
	case errors.Is(err, approvals.ErrDisabled):
		return reasonDisabled
	}
	return reasonLookup
}

// authFailed records a refused key from host. over reports whether the
// host is past its limit for the last minute; logIt whether to log that
// (once a minute per host).
func (s *SSHServer) authFailed(host string) (over, logIt bool) {
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.failures[host]
	if f == nil {
		if len(s.failures) >= 10_000 { // bound memory under a scan from many addresses
			for h, g := range s.failures {
				if len(g.times) == 0 || now.Sub(g.times[len(g.times)-1]) > time.Minute {
					delete(s.failures, h)
				}
			}
		}
		f = &authFailures{}
		s.failures[host] = f
	}
	recent := f.times[:0]
	for _, t := range f.times {
		if now.Sub(t) < time.Minute {
			recent = append(recent, t)
		}
	}
	over = len(recent) >= s.cfg.FailedAuthsPerMinute
	if !over {
		recent = append(recent, now)
	}
	f.times = recent
	if over && now.Sub(f.loggedAt) >= time.Minute {
		f.loggedAt, logIt = now, true
	}
	return over, logIt
}

func keyFingerprint(sess ssh.Session) string {
	if k := sess.PublicKey(); k != nil {
		return keysign.KeyFingerprint(k)
	}
	return ""
}

// requirePTY lets only interactive terminal sessions through; anything else
// gets a one-line explanation.
func (s *SSHServer) requirePTY(next ssh.Handler) ssh.Handler {
	return func(sess ssh.Session) {
		if sess.RawCommand() != "" || sess.Subsystem() != "" {
			s.log.Warn("ssh request refused", "type", "exec", "remote", sess.RemoteAddr().String(), "fingerprint", keyFingerprint(sess))
			wish.Println(sess, "jitdesk: commands are not run here; for the console connect with `ssh -t` and no command.")
			_ = sess.Exit(1)
			return
		}
		if _, _, ok := sess.Pty(); !ok {
			s.log.Info("ssh session without a PTY refused", "remote", sess.RemoteAddr().String(), "fingerprint", keyFingerprint(sess))
			wish.Println(sess, "jitdesk: the console needs a PTY (an interactive terminal); connect with `ssh -t` and no command.")
			_ = sess.Exit(1)
			return
		}
		next(sess)
	}
}

// identify resolves the approver from the key that authenticated this
// connection. The user name the client sent plays no part.
func (s *SSHServer) identify(next ssh.Handler) ssh.Handler {
	return func(sess ssh.Session) {
		key := sess.PublicKey()
		if key == nil {
			wish.Println(sess, "jitdesk: public-key authentication is required.")
			_ = sess.Exit(1)
			return
		}
		// A certificate's sessions are counted and named by the key it
		// certifies: renewing the certificate does not make a new key.
		fp := keysign.KeyFingerprint(key)
		ctx, cancel := context.WithTimeout(sess.Context(), 5*time.Second)
		a, err := s.approverFor(ctx, key, sess.RemoteAddr())
		cancel()
		if err != nil {
			s.log.Warn("ssh key no longer belongs to an approver", "fingerprint", fp, "err", err.Error())
			wish.Println(sess, "jitdesk: this key does not belong to an approver.")
			_ = sess.Exit(1)
			return
		}
		sess.Context().SetValue(loginKey, a.Login)
		sess.Context().SetValue(fingerprintKey, fp)
		next(sess)
	}
}

// limitSessions caps sessions in total and per key, and refuses new ones
// while shutting down.
func (s *SSHServer) limitSessions(next ssh.Handler) ssh.Handler {
	return func(sess ssh.Session) {
		fp, _ := sess.Context().Value(fingerprintKey).(string)
		s.mu.Lock()
		switch {
		case s.closing:
			s.mu.Unlock()
			wish.Println(sess, "jitdesk: the server is shutting down; try again shortly.")
			_ = sess.Exit(1)
			return
		case s.total >= s.cfg.MaxSessions || s.perKey[fp] >= s.cfg.MaxSessionsPerKey:
			s.mu.Unlock()
			s.log.Warn("ssh session refused: too many sessions", "fingerprint", fp, "total", s.total)
			wish.Println(sess, "jitdesk: too many open sessions; close one and try again.")
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
// profile (from the client's TERM and environment), input watched for
// idleness, and a maximum length.
func (s *SSHServer) program(sess ssh.Session) *tea.Program {
	login, _ := sess.Context().Value(loginKey).(string)
	pty, _, ok := sess.Pty()
	if login == "" || !ok {
		return nil // identify and requirePTY already answered
	}
	envs := append(sess.Environ(), "TERM="+pty.Term)
	in := newIdleReader(sess)
	fp, _ := sess.Context().Value(fingerprintKey).(string)
	st := &sessionState{login: login, fingerprint: fp, sess: sess}
	st.cert, _ = sess.PublicKey().(*gossh.Certificate)
	sess.Context().SetValue(stateKey, st)
	// The console is offered the forwarded agent only when the client
	// forwarded one (ssh -A; the request comes before the shell): a nil
	// source lets it say at once, on a template that requires a key
	// signature, how to get one.
	var src keysign.Source
	if ssh.AgentRequested(sess) {
		src = agentSource(sess)
	}
	m := ui.New(ui.Options{Service: s.cfg.Service, Login: login, Bell: s.cfg.Bell, Notify: s.cfg.Bell,
		KeySource: src, SessionKey: sess.PublicKey(), Shared: s.shared})
	p := tea.NewProgram(m,
		tea.WithInput(in),
		tea.WithOutput(sess),
		tea.WithColorProfile(colorprofile.Env(envs)),
		tea.WithEnvironment(envs),
		// The channel filter already clamps pty-req and window-change
		// (ssh_channel.go); clamping here again keeps the bound if the
		// session ever reaches the console another way.
		tea.WithWindowSize(clampWindow(pty.Window.Width, pty.Window.Height)),
		tea.WithFilter(func(_ tea.Model, msg tea.Msg) tea.Msg {
			switch m := msg.(type) {
			case tea.SuspendMsg:
				return tea.ResumeMsg{} // there is no shell to suspend to
			case tea.WindowSizeMsg:
				m.Width, m.Height = clampWindow(m.Width, m.Height)
				return m
			}
			return msg
		}),
	)
	st.prog = p
	s.mu.Lock()
	s.programs[p] = st
	s.mu.Unlock()
	s.startAccessChecks()
	s.log.Info("ssh session", "login", login, "fingerprint", sess.Context().Value(fingerprintKey),
		"remote", sess.RemoteAddr().String(), "term", pty.Term, "width", pty.Window.Width, "height", pty.Window.Height)
	go s.watch(sess, in, p, m, st)
	return p
}

// agentSource opens the session client's forwarded agent for one
// signature: one "auth-agent@openssh.com" channel per call, closed when the
// returned io.Closer is. ErrNoAgent when the client did not forward its
// agent, or the connection is not an SSH server connection.
func agentSource(sess ssh.Session) keysign.Source {
	return func(ctx context.Context) (agent.ExtendedAgent, io.Closer, error) {
		if !ssh.AgentRequested(sess) {
			return nil, nil, keysign.ErrNoAgent
		}
		conn, ok := sess.Context().Value(ssh.ContextKeyConn).(gossh.Conn)
		if !ok {
			return nil, nil, keysign.ErrNoAgent
		}
		return keysign.ChannelSource(conn)(ctx)
	}
}

// watch ends the session when the approver has sent no input for the idle
// timeout, or when it has lasted MaxSession. Output never counts as activity.
// However the session ends (quit, idle, killed connection), it then has the
// console m let go of its change-feed subscription once the session's
// context is done (one goroutine a session for both jobs: each costs a
// stack).
func (s *SSHServer) watch(sess ssh.Session, in *idleReader, p *tea.Program, m tea.Model, st *sessionState) {
	defer func() {
		s.mu.Lock()
		delete(s.programs, p)
		s.mu.Unlock()
		<-sess.Context().Done()
		if c, ok := m.(io.Closer); ok {
			c.Close()
		}
	}()
	maxT := time.NewTimer(s.cfg.MaxSession)
	defer maxT.Stop()
	idle := time.NewTimer(s.cfg.IdleTimeout)
	defer idle.Stop()
	// A certificate session ends when its certificate does: the access
	// re-check then refuses it (and tells the approver why).
	var certEnd <-chan time.Time
	var certTimer *time.Timer
	if st.cert != nil && st.cert.ValidBefore < 1<<62 { // CertTimeInfinity and absurd dates never come
		// A second past the end: validity is checked to the second.
		certTimer = time.NewTimer(time.Until(time.Unix(int64(st.cert.ValidBefore)+1, 0)))
		defer certTimer.Stop()
		certEnd = certTimer.C
	}
	login := sess.Context().Value(loginKey)
	for {
		select {
		case <-sess.Context().Done():
			return
		case <-certEnd:
			s.RecheckAccess()
			// Should the re-check not end it (the database did not
			// answer), look again shortly.
			certTimer.Reset(certRecheckRetry)
			continue
		case <-maxT.C:
			s.log.Info("ssh session reached its maximum length", "login", login, "max", s.cfg.MaxSession.String())
			st.end("session closed after its maximum length of " + s.cfg.MaxSession.String())
		case <-idle.C:
			if left := s.cfg.IdleTimeout - in.idle(); left > 0 {
				idle.Reset(left) // input arrived meanwhile: wait out the rest
				continue
			}
			s.log.Info("ssh session idle", "login", login, "idle_timeout", s.cfg.IdleTimeout.String())
			st.end("session closed after " + s.cfg.IdleTimeout.String() + " without input")
		}
		endSession(sess, p)
		return
	}
}

// endSession quits a console and, if it does not stop promptly, closes the
// channel anyway.
func endSession(sess ssh.Session, p *tea.Program) {
	p.Quit()
	select {
	case <-sess.Context().Done():
	case <-time.After(3 * time.Second):
		_ = sess.Close()
	}
}

// clampWindow bounds a terminal size to MaxPTYColumns × MaxPTYRows.
func clampWindow(w, h int) (int, int) {
	return max(0, min(w, MaxPTYColumns)), max(0, min(h, MaxPTYRows))
}

// farewell runs after the console has ended and restored the terminal: it
// tells the approver why the server closed the session, if it did.
func (s *SSHServer) farewell(next ssh.Handler) ssh.Handler {
	return func(sess ssh.Session) {
		if st, ok := sess.Context().Value(stateKey).(*sessionState); ok {
			if why := st.why(); why != "" {
				_, _ = io.WriteString(sess, "\r\njitdesk: "+why+"\r\n")
				// A non-zero exit status tells a wrapper script that the
				// server ended the session, not the approver.
				_ = sess.Exit(1)
				return
			}
		}
		next(sess)
	}
}

// idleReader records when the approver last sent input.
type idleReader struct {
	r    io.Reader
	mu   sync.Mutex
	last time.Time
}

func newIdleReader(r io.Reader) *idleReader { return &idleReader{r: r, last: time.Now()} }

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
