package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/charmbracelet/x/ansi"
	"github.com/spf13/cobra"
	gossh "golang.org/x/crypto/ssh"

	"github.com/jitdesk/jitdesk/approvals"
	"github.com/jitdesk/jitdesk/server"
)

// sshConfig bounds an SSH run.
type sshConfig struct {
	Sessions int           // concurrent console sessions
	Changes  int           // requests submitted (each is also approved: two changes)
	Every    time.Duration // time between submissions
	Lag      int           // a request is approved this many submissions later
	Width    int
	Height   int
	Timeout  time.Duration // how long a session may take to show a change before it counts as missed
	InProc   bool          // serve in this process (memory figures then include the clients)
	Dir      string
	// HeapProfile, when set, is where the server's heap profile is written
	// at the moment its memory is read with the sessions open (after a GC,
	// so in-use figures are live objects); Goroutines likewise for its
	// goroutine stacks (text, one entry per distinct stack with a count).
	HeapProfile string
	Goroutines  string
	// ProfileRate is the server's runtime.MemProfileRate (child process
	// only; 0 keeps Go's default). Finer rates cost allocation speed, so
	// figures of a profiled run are for finding, not for reporting.
	ProfileRate int
	// ServerGOGC, when set, is the GOGC environment variable of the server
	// child process alone (as serve would run with it); the clients in this
	// process keep theirs.
	ServerGOGC string
}

// SSHReport is the whole SSH run.
type SSHReport struct {
	Machine        Machine `json:"machine"`
	Server         string  `json:"server"`
	Sessions       int     `json:"sessions"`
	Terminal       string  `json:"terminal"`
	Submitted      int     `json:"submitted"`
	ChangesPerSec  float64 `json:"changes_per_s"` // submissions and approvals
	Update         Latency `json:"update"`        // commit → the session's output shows the request
	Seen           int     `json:"seen"`          // (session, request) pairs shown
	Missed         int     `json:"missed"`        // pairs never shown within the timeout
	ConnectSeconds float64 `json:"connect_seconds"`
	BytesPerSess   float64 `json:"bytes_per_session"`
	WritesPerSess  float64 `json:"writes_per_session"`
	BytesPerSecSes float64 `json:"bytes_per_s_per_session"`
	MemBefore      Mem     `json:"server_mem_before"`
	MemWith        Mem     `json:"server_mem_with_sessions"`
	RSSPerSessKiB  float64 `json:"rss_per_session_kib"`
	HeapPerSessKiB float64 `json:"heap_per_session_kib,omitempty"`
	// StackPerSessKiB is goroutine stack memory a session: part of RSS, not
	// of the heap.
	StackPerSessKiB float64 `json:"stack_per_session_kib,omitempty"`
	KeepsUp         bool    `json:"keeps_up"` // nothing missed, p99 update latency below --every
}

func newSSHCmd(out *output) *cobra.Command {
	cfg := sshConfig{}
	cmd := &cobra.Command{
		Use:   "ssh",
		Short: "Concurrent SSH console sessions receiving live updates while requests arrive and are approved",
		Long: `Starts the SSH console (server package, in a child process of its own unless
--inproc, so its memory is the server's alone) on a fresh database with one approver
per session, opens --sessions sessions through golang.org/x/crypto/ssh, each with a
PTY and a shell, and reads every session's output. A driver in the server process
submits a request every --every and approves each --lag submissions later. For each
session and request it measures the time from the submission's commit to the
request's requester name showing in the session's output (ANSI stripped), and
reports bytes and writes per session and the server's memory per session.
Exit status 1 if a session missed an update.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			rep, err := runSSH(cmd.Context(), cfg, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			if err := out.print(rep, rep.table); err != nil {
				return err
			}
			if rep.Missed > 0 {
				return fmt.Errorf("FAILED: %d session updates never shown", rep.Missed)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&cfg.Sessions, "sessions", 50, "concurrent SSH sessions")
	f.IntVar(&cfg.Changes, "requests", 40, "requests submitted (each later approved)")
	f.DurationVar(&cfg.Every, "every", 250*time.Millisecond, "time between submissions")
	f.IntVar(&cfg.Lag, "lag", 4, "approve each request this many submissions later")
	f.IntVar(&cfg.Width, "width", 100, "PTY columns")
	f.IntVar(&cfg.Height, "height", 30, "PTY rows")
	f.DurationVar(&cfg.Timeout, "timeout", 10*time.Second, "a change not shown within this counts as missed")
	f.BoolVar(&cfg.InProc, "inproc", false, "serve in this process (memory then includes the clients)")
	f.StringVar(&cfg.Dir, "dir", "", "work folder (default: a temporary folder, removed after)")
	f.StringVar(&cfg.HeapProfile, "heap-profile", "", "write the server's heap profile (with the sessions open) to this file; read it with go tool pprof -sample_index=inuse_space -top")
	f.StringVar(&cfg.ServerGOGC, "server-gogc", "", "GOGC of the server child process only (as serve would run with GOGC=…); default: inherited")
	f.IntVar(&cfg.ProfileRate, "mem-profile-rate", 0, "the server's runtime.MemProfileRate for --heap-profile (0: Go's default, one sample per 512 KiB; 1 records every allocation)")
	f.StringVar(&cfg.Goroutines, "goroutines", "", "write the server's goroutine stacks (with the sessions open, grouped with counts) to this file")
	return cmd
}

// sshTarget is an SSH console server with a driver beside it.
type sshTarget interface {
	Addr() string
	HostKey() string // authorized_keys line
	Keys() map[string]ed25519.PrivateKey
	Submit(requester string) (id string, committed time.Time, err error)
	Approve(id string) (committed time.Time, err error)
	Mem() Mem
	// Profile writes the server's named runtime/pprof profile ("heap",
	// "goroutine") to w, after a GC; debug as pprof.Profile.WriteTo.
	Profile(name string, debug int, w io.Writer) error
	Close() error
}

// inprocSSH serves the console in this process.
type inprocSSH struct {
	fx   *fixture
	srv  *server.SSHServer
	addr string
	host string
}

func startInprocSSH(ctx context.Context, dir string, sessions int) (*inprocSSH, error) {
	fx, err := newFixture(ctx, dir, "", "http://jitload.invalid", "ssh", sessions)
	if err != nil {
		return nil, err
	}
	hostKey := filepath.Join(dir, "ssh_host_ed25519_key")
	srv, err := server.NewSSHServer(server.SSHConfig{
		Service: fx.svc, Logger: slog.New(slog.DiscardHandler), HostKeyPath: hostKey,
		MaxSessions: sessions + 10, MaxSessionsPerKey: 2,
		// Every session comes from 127.0.0.1: the per-address limit (30 a
		// minute by default, a brute-force guard) would refuse most of them.
		ConnectionsPerMinute: 100_000,
	})
	if err != nil {
		fx.Close()
		return nil, err
	}
	host, err := hostPublicKey(hostKey)
	if err != nil {
		fx.Close()
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fx.Close()
		return nil, err
	}
	go func() { _ = srv.Serve(ln) }()
	return &inprocSSH{fx: fx, srv: srv, addr: ln.Addr().String(), host: host}, nil
}

func hostPublicKey(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("host key: %w", err)
	}
	s, err := gossh.ParsePrivateKey(b)
	if err != nil {
		return "", fmt.Errorf("host key: %w", err)
	}
	return string(gossh.MarshalAuthorizedKey(s.PublicKey())), nil
}

func (t *inprocSSH) Addr() string                        { return t.addr }
func (t *inprocSSH) HostKey() string                     { return t.host }
func (t *inprocSSH) Keys() map[string]ed25519.PrivateKey { return t.fx.keys }
func (t *inprocSSH) Mem() Mem                            { return selfMem() }

func (t *inprocSSH) Profile(name string, debug int, w io.Writer) error {
	return writeProfile(name, debug, w)
}

// writeProfile writes this process's named profile after a GC, so a heap
// profile's in-use figures are what is live, not garbage awaiting a cycle.
func writeProfile(name string, debug int, w io.Writer) error {
	p := pprof.Lookup(name)
	if p == nil {
		return fmt.Errorf("no profile %q", name)
	}
	runtime.GC()
	return p.WriteTo(w, debug)
}

func (t *inprocSSH) Submit(requester string) (string, time.Time, error) {
	r, err := t.fx.svc.Submit(context.Background(), approvals.NewRequest{
		TemplateKey: t.fx.tmpl, Requester: requester, Reason: "load test: live update", Metadata: map[string]string{"namespace": "load"},
	})
	return r.ID, time.Now(), err
}

func (t *inprocSSH) Approve(id string) (time.Time, error) {
	ctx := context.Background()
	d, err := t.fx.svc.Get(ctx, id)
	if err != nil {
		return time.Time{}, err
	}
	_, err = t.fx.svc.Approve(ctx, approvals.ApproveInput{RequestID: id, Approver: driverLogin, Digest: d.Digest})
	return time.Now(), err
}

func (t *inprocSSH) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := t.srv.Shutdown(ctx)
	t.fx.Close()
	return err
}

// targetReady is the line ssh-target prints when it serves.
type targetReady struct {
	SSH     string            `json:"ssh"`
	Control string            `json:"control"`
	HostKey string            `json:"host_key"`
	Keys    map[string]string `json:"keys"` // login → base64 Ed25519 seed (a throwaway fixture's)
}

// newSSHTargetCmd is the child process of `jitload ssh`: the SSH console
// and the driver, controlled over loopback HTTP, so the server's memory is
// measured without the clients in it.
func newSSHTargetCmd() *cobra.Command {
	var dir string
	var sessions, profileRate int
	cmd := &cobra.Command{
		Use:    "ssh-target",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if profileRate > 0 {
				// Set before anything is allocated that the profile should
				// see: the default samples one allocation per 512 KiB,
				// too coarse to tell a session's smaller parts apart.
				runtime.MemProfileRate = profileRate
			}
			t, err := startInprocSSH(cmd.Context(), dir, sessions)
			if err != nil {
				return err
			}
			defer t.Close()
			mux := http.NewServeMux()
			reply := func(w http.ResponseWriter, v any, err error) {
				if err != nil {
					http.Error(w, err.Error(), http.StatusInternalServerError)
					return
				}
				_ = json.NewEncoder(w).Encode(v)
			}
			mux.HandleFunc("POST /submit", func(w http.ResponseWriter, r *http.Request) {
				id, at, err := t.Submit(r.URL.Query().Get("requester"))
				reply(w, map[string]any{"id": id, "at": at.UnixNano()}, err)
			})
			mux.HandleFunc("POST /approve", func(w http.ResponseWriter, r *http.Request) {
				at, err := t.Approve(r.URL.Query().Get("id"))
				reply(w, map[string]any{"at": at.UnixNano()}, err)
			})
			mux.HandleFunc("GET /mem", func(w http.ResponseWriter, r *http.Request) { reply(w, selfMem(), nil) })
			mux.HandleFunc("GET /profile/{name}", func(w http.ResponseWriter, r *http.Request) {
				debug := 0
				if r.URL.Query().Get("debug") == "1" {
					debug = 1
				}
				var buf bytes.Buffer
				if err := writeProfile(r.PathValue("name"), debug, &buf); err != nil {
					http.Error(w, err.Error(), http.StatusNotFound)
					return
				}
				_, _ = w.Write(buf.Bytes())
			})
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				return err
			}
			go func() { _ = http.Serve(ln, mux) }()
			ready := targetReady{SSH: t.Addr(), Control: ln.Addr().String(), HostKey: t.HostKey(), Keys: map[string]string{}}
			for login, k := range t.Keys() {
				ready.Keys[login] = base64.StdEncoding.EncodeToString(k.Seed())
			}
			b, _ := json.Marshal(ready)
			fmt.Fprintf(cmd.OutOrStdout(), "READY %s\n", b)
			// Serve until the parent closes stdin or signals.
			sig := make(chan os.Signal, 1)
			signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
			eof := make(chan struct{})
			go func() { _, _ = io.Copy(io.Discard, os.Stdin); close(eof) }()
			select {
			case <-sig:
			case <-eof:
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "work folder")
	cmd.Flags().IntVar(&sessions, "sessions", 50, "approvers with keys")
	cmd.Flags().IntVar(&profileRate, "mem-profile-rate", 0, "runtime.MemProfileRate (0: the default)")
	return cmd
}

// childSSH drives an ssh-target child process.
type childSSH struct {
	cmd   *exec.Cmd
	stdin io.Closer
	ready targetReady
	keys  map[string]ed25519.PrivateKey
	ctl   *http.Client
}

func startChildSSH(ctx context.Context, dir string, sessions, profileRate int, gogc string) (*childSSH, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	c := exec.Command(self, "ssh-target", "--dir", dir, "--sessions", fmt.Sprint(sessions), "--mem-profile-rate", fmt.Sprint(profileRate))
	c.Stderr = os.Stderr
	if gogc != "" {
		c.Env = append(os.Environ(), "GOGC="+gogc)
	}
	stdin, err := c.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := c.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := c.Start(); err != nil {
		return nil, fmt.Errorf("start ssh-target: %w", err)
	}
	t := &childSSH{cmd: c, stdin: stdin, keys: map[string]ed25519.PrivateKey{}, ctl: &http.Client{Timeout: 30 * time.Second}}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "READY ") {
		_ = c.Process.Kill()
		_ = c.Wait()
		return nil, fmt.Errorf("ssh-target did not start: %v %q", err, line)
	}
	if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "READY ")), &t.ready); err != nil {
		_ = t.Close()
		return nil, err
	}
	for login, s := range t.ready.Keys {
		seed, err := base64.StdEncoding.DecodeString(s)
		if err != nil || len(seed) != ed25519.SeedSize {
			_ = t.Close()
			return nil, fmt.Errorf("ssh-target: bad key for %s", login)
		}
		t.keys[login] = ed25519.NewKeyFromSeed(seed)
	}
	return t, nil
}

func (t *childSSH) Addr() string                        { return t.ready.SSH }
func (t *childSSH) HostKey() string                     { return t.ready.HostKey }
func (t *childSSH) Keys() map[string]ed25519.PrivateKey { return t.keys }

func (t *childSSH) call(method, path string, v any) error {
	req, _ := http.NewRequest(method, "http://"+t.ready.Control+path, nil)
	res, err := t.ctl.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("ssh-target %s: %s", path, strings.TrimSpace(string(b)))
	}
	return json.Unmarshal(b, v)
}

func (t *childSSH) Submit(requester string) (string, time.Time, error) {
	var v struct {
		ID string `json:"id"`
		At int64  `json:"at"`
	}
	err := t.call("POST", "/submit?requester="+requester, &v)
	return v.ID, time.Unix(0, v.At), err
}

func (t *childSSH) Approve(id string) (time.Time, error) {
	var v struct {
		At int64 `json:"at"`
	}
	err := t.call("POST", "/approve?id="+id, &v)
	return time.Unix(0, v.At), err
}

func (t *childSSH) Mem() Mem {
	var m Mem
	if err := t.call("GET", "/mem", &m); err != nil {
		return Mem{}
	}
	return m
}

func (t *childSSH) Profile(name string, debug int, w io.Writer) error {
	res, err := t.ctl.Get(fmt.Sprintf("http://%s/profile/%s?debug=%d", t.ready.Control, url.PathEscape(name), debug))
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(res.Body, 1<<10))
		return fmt.Errorf("ssh-target profile %s: %s", name, strings.TrimSpace(string(b)))
	}
	_, err = io.Copy(w, res.Body)
	return err
}

func (t *childSSH) Close() error {
	t.stdin.Close()
	done := make(chan error, 1)
	go func() { done <- t.cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(20 * time.Second):
		_ = t.cmd.Process.Kill()
		return errors.New("ssh-target did not stop")
	}
}

// watch is the set of requester names the driver is submitting or has
// committed, with when it began to watch each.
type watch struct {
	mu    sync.RWMutex
	names map[string]time.Time
	order []string
}

func (w *watch) add(name string, at time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.names[name] = at
	w.order = append(w.order, name)
}

// recent returns the names watched in the last window.
func (w *watch) recent(window time.Duration) map[string]time.Time {
	w.mu.RLock()
	defer w.mu.RUnlock()
	out := map[string]time.Time{}
	cut := time.Now().Add(-window)
	for i := len(w.order) - 1; i >= 0; i-- {
		at := w.names[w.order[i]]
		if at.Before(cut) {
			break
		}
		out[w.order[i]] = at
	}
	return out
}

// sessionStats is what one session's reader saw.
type sessionStats struct {
	mu     sync.Mutex
	bytes  int64
	writes int64
	seen   map[string]time.Time // name → when it first showed
	err    error
}

// readSession reads a session's output until it ends, noting when each
// watched name first shows in it (ANSI stripped; a short tail of the
// previous chunk is kept so a name split across reads is still found).
func readSession(r io.Reader, st *sessionStats, w *watch, window time.Duration) {
	buf := make([]byte, 32<<10)
	var tail string
	for {
		n, err := r.Read(buf)
		if n > 0 {
			now := time.Now()
			text := tail + ansi.Strip(string(buf[:n]))
			st.mu.Lock()
			st.bytes += int64(n)
			st.writes++
			for name := range w.recent(window) {
				if _, ok := st.seen[name]; !ok && strings.Contains(text, name) {
					st.seen[name] = now
				}
			}
			st.mu.Unlock()
			if len(text) > 64 {
				text = text[len(text)-64:]
			}
			tail = text
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				st.mu.Lock()
				st.err = err
				st.mu.Unlock()
			}
			return
		}
	}
}

// nameGen makes requester names that are unique in the run and differ at
// every position from the last nameWindow names, with no character repeated
// next to itself: the console's renderer writes only cells that changed, so
// a name shares no cell with whatever the same place showed recently, and
// shows up whole in the stream.
type nameGen struct {
	rnd  *rand.Rand
	used map[string]bool
	last []string
}

// nameAlphabet has no look-alikes (0/O, 1/l/I). It must be larger than
// nameWindow+1 (letters excluded at one position: one per recent name and
// the previous character), or a position could run out of letters.
const nameAlphabet = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnpqrstuvwxyz23456789"

// nameWindow is how many recent names a new one differs from everywhere.
const nameWindow = 32

func (g *nameGen) next() string {
	for {
		b := make([]byte, 8)
		for i := range b {
			// Pick among the letters still allowed here, so this always
			// terminates (the alphabet leaves ≥ 23 choices a position).
			var allowed []byte
			for j := 0; j < len(nameAlphabet); j++ {
				c := nameAlphabet[j]
				ok := i == 0 || c != b[i-1]
				for _, p := range g.last {
					if p[i] == c {
						ok = false
						break
					}
				}
				if ok {
					allowed = append(allowed, c)
				}
			}
			b[i] = allowed[g.rnd.IntN(len(allowed))]
		}
		s := string(b)
		if g.used[s] {
			continue // one in 23^8 per name: retry
		}
		g.used[s] = true
		g.last = append(g.last, s)
		if len(g.last) > nameWindow {
			g.last = g.last[1:]
		}
		return s
	}
}

func runSSH(ctx context.Context, cfg sshConfig, logw io.Writer) (*SSHReport, error) {
	if cfg.Sessions < 1 || cfg.Changes < 1 || cfg.Every <= 0 || cfg.Lag < 0 {
		return nil, errors.New("--sessions and --requests must be ≥ 1, --every > 0, --lag ≥ 0")
	}
	logf := func(format string, a ...any) { fmt.Fprintf(logw, "jitload: "+format+"\n", a...) }
	dir := cfg.Dir
	if dir == "" {
		d, err := os.MkdirTemp("", "jitload-ssh-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	var t sshTarget
	var err error
	rep := &SSHReport{Machine: machine(), Sessions: cfg.Sessions, Terminal: fmt.Sprintf("xterm-256color %d×%d", cfg.Width, cfg.Height)}
	if cfg.InProc && cfg.ServerGOGC != "" {
		return nil, errors.New("--server-gogc needs the server in its own process (no --inproc)")
	}
	if cfg.InProc {
		rep.Server = "in this process (memory includes the clients)"
		t, err = startInprocSSH(ctx, dir, cfg.Sessions)
	} else {
		rep.Server = "child process (server package + driver; memory is the server's)"
		if cfg.ServerGOGC != "" {
			rep.Server += ", GOGC=" + cfg.ServerGOGC
		}
		t, err = startChildSSH(ctx, dir, cfg.Sessions, cfg.ProfileRate, cfg.ServerGOGC)
	}
	if err != nil {
		return nil, err
	}
	defer t.Close()
	rep.MemBefore = t.Mem()

	hostKey, _, _, _, err := gossh.ParseAuthorizedKey([]byte(t.HostKey()))
	if err != nil {
		return nil, fmt.Errorf("host key: %w", err)
	}
	w := &watch{names: map[string]time.Time{}}
	window := cfg.Timeout + 5*time.Second
	logins := make([]string, 0, cfg.Sessions)
	for login := range t.Keys() {
		logins = append(logins, login)
	}
	stats := make([]*sessionStats, len(logins))
	clients := make([]*gossh.Client, len(logins))
	var readers sync.WaitGroup
	connStart := time.Now()
	logf("ssh: opening %d sessions (load %s)", len(logins), loadAvg())
	var cw sync.WaitGroup
	errs := make([]error, len(logins))
	for i, login := range logins {
		cw.Go(func() {
			signer, err := gossh.NewSignerFromKey(t.Keys()[login])
			if err != nil {
				errs[i] = err
				return
			}
			c, err := gossh.Dial("tcp", t.Addr(), &gossh.ClientConfig{
				User: login, Auth: []gossh.AuthMethod{gossh.PublicKeys(signer)},
				HostKeyCallback: gossh.FixedHostKey(hostKey), Timeout: 20 * time.Second,
			})
			if err != nil {
				errs[i] = fmt.Errorf("session %s: dial: %w", login, err)
				return
			}
			clients[i] = c
			s, err := c.NewSession()
			if err != nil {
				errs[i] = fmt.Errorf("session %s: %w", login, err)
				return
			}
			if err := s.RequestPty("xterm-256color", cfg.Height, cfg.Width, gossh.TerminalModes{gossh.ECHO: 0}); err != nil {
				errs[i] = fmt.Errorf("session %s: pty: %w", login, err)
				return
			}
			out, err := s.StdoutPipe()
			if err != nil {
				errs[i] = err
				return
			}
			if _, err := s.StdinPipe(); err != nil { // kept open: the console waits for keys
				errs[i] = err
				return
			}
			if err := s.Shell(); err != nil {
				errs[i] = fmt.Errorf("session %s: shell: %w", login, err)
				return
			}
			st := &sessionStats{seen: map[string]time.Time{}}
			stats[i] = st
			readers.Go(func() { readSession(out, st, w, window) })
		})
	}
	cw.Wait()
	defer func() {
		for _, c := range clients {
			if c != nil {
				c.Close()
			}
		}
		readers.Wait()
	}()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	rep.ConnectSeconds = time.Since(connStart).Seconds()
	// Let every console draw its first frame.
	time.Sleep(time.Second + time.Duration(cfg.Sessions)*20*time.Millisecond)

	logf("ssh: %d requests, one every %s, each approved %d later (load %s)", cfg.Changes, cfg.Every, cfg.Lag, loadAvg())
	gen := &nameGen{rnd: rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7)), used: map[string]bool{}}
	var ids, names []string
	commits := map[string]time.Time{}
	start := time.Now()
	tick := time.NewTicker(cfg.Every)
	changes := 0
	for k := 0; k < cfg.Changes+cfg.Lag; k++ {
		if k < cfg.Changes {
			name := gen.next()
			// Watched from before the submission: a session may show the
			// name before the driver's reply arrives here, and a chunk read
			// before the name is watched is never looked at again for it
			// (that counted as missed on a loaded machine).
			w.add(name, time.Now())
			id, at, err := t.Submit(name)
			if err != nil {
				return nil, fmt.Errorf("submit: %w", err)
			}
			commits[name] = at
			ids, names = append(ids, id), append(names, name)
			changes++
		}
		if j := k - cfg.Lag; j >= 0 && j < len(ids) {
			if _, err := t.Approve(ids[j]); err != nil {
				return nil, fmt.Errorf("approve: %w", err)
			}
			changes++
		}
		<-tick.C
	}
	tick.Stop()
	el := time.Since(start)
	rep.Submitted = len(ids)
	rep.ChangesPerSec = float64(changes) / el.Seconds()
	// Wait for the last updates to show (or time out).
	deadline := time.Now().Add(cfg.Timeout)
	for time.Now().Before(deadline) {
		all := true
		for _, st := range stats {
			st.mu.Lock()
			n := len(st.seen)
			st.mu.Unlock()
			if n < len(names) {
				all = false
			}
		}
		if all {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	rep.MemWith = t.Mem()
	for _, p := range []struct {
		path, name string
		debug      int
	}{{cfg.HeapProfile, "heap", 0}, {cfg.Goroutines, "goroutine", 1}} {
		if p.path == "" {
			continue
		}
		if err := writeProfileFile(t, p.path, p.name, p.debug); err != nil {
			return nil, err
		}
		logf("ssh: server %s profile written to %s", p.name, p.path)
	}
	var lat []time.Duration
	var bytes, writes int64
	for _, st := range stats {
		st.mu.Lock()
		for _, name := range names {
			if at, ok := st.seen[name]; ok {
				lat = append(lat, max(at.Sub(commits[name]), 0))
				rep.Seen++
			} else {
				rep.Missed++
			}
		}
		bytes += st.bytes
		writes += st.writes
		st.mu.Unlock()
	}
	rep.Update = summarize(lat)
	n := float64(len(stats))
	rep.BytesPerSess = float64(bytes) / n
	rep.WritesPerSess = float64(writes) / n
	rep.BytesPerSecSes = rep.BytesPerSess / time.Since(connStart).Seconds()
	rep.RSSPerSessKiB = float64(rep.MemWith.RSSKiB-rep.MemBefore.RSSKiB) / n
	if rep.MemWith.FromRuntime {
		rep.HeapPerSessKiB = (float64(rep.MemWith.HeapInuse) - float64(rep.MemBefore.HeapInuse)) / 1024 / n
		rep.StackPerSessKiB = (float64(rep.MemWith.StackInuse) - float64(rep.MemBefore.StackInuse)) / 1024 / n
	}
	// Keeping up: every change shown everywhere, and at p99 before the
	// next request arrives.
	rep.KeepsUp = rep.Missed == 0 && time.Duration(rep.Update.P99*float64(time.Millisecond)) < cfg.Every
	return rep, nil
}

func writeProfileFile(t sshTarget, path, name string, debug int) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("%s profile: %w", name, err)
	}
	if err := t.Profile(name, debug, f); err != nil {
		f.Close()
		return fmt.Errorf("%s profile: %w", name, err)
	}
	return f.Close()
}

func (r *SSHReport) table(w io.Writer) {
	m := r.Machine
	fmt.Fprintf(w, "machine: %d CPU %s, %d MiB, %s, load %s, %s\nserver: %s\n\n", m.CPUs, m.CPU, m.MemMiB, m.Go, m.LoadAvg, m.When, r.Server)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "sessions\t%d (%s), connected in %.1fs\n", r.Sessions, r.Terminal, r.ConnectSeconds)
	fmt.Fprintf(tw, "changes\t%d requests submitted and approved: %.1f changes/s\n", r.Submitted, r.ChangesPerSec)
	fmt.Fprintf(tw, "update latency\t%s (commit → shown in the session)\n", r.Update)
	fmt.Fprintf(tw, "shown / missed\t%d / %d\n", r.Seen, r.Missed)
	fmt.Fprintf(tw, "per session\t%.0f bytes, %.0f writes, %.0f bytes/s\n", r.BytesPerSess, r.WritesPerSess, r.BytesPerSecSes)
	fmt.Fprintf(tw, "server RSS\t%.1f MiB before, %.1f MiB with the sessions: %.0f KiB a session\n", mib(r.MemBefore.RSSKiB), mib(r.MemWith.RSSKiB), r.RSSPerSessKiB)
	if r.MemWith.FromRuntime {
		fmt.Fprintf(tw, "server heap in use\t%.1f MiB before, %.1f MiB with: %.0f KiB a session; goroutines %d → %d\n",
			float64(r.MemBefore.HeapInuse)/(1<<20), float64(r.MemWith.HeapInuse)/(1<<20), r.HeapPerSessKiB, r.MemBefore.Goroutines, r.MemWith.Goroutines)
		fmt.Fprintf(tw, "server stacks\t%.1f MiB before, %.1f MiB with: %.0f KiB a session\n",
			float64(r.MemBefore.StackInuse)/(1<<20), float64(r.MemWith.StackInuse)/(1<<20), r.StackPerSessKiB)
	}
	fmt.Fprintf(tw, "frames keep up\t%v\n", r.KeepsUp)
	tw.Flush()
}

func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 7)) }
