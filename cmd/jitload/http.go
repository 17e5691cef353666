package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/jitdesk/jitdesk/approvals"
	"github.com/jitdesk/jitdesk/server"
)

// httpConfig bounds an HTTP run.
type httpConfig struct {
	Server      string        // "exec" (the jitdesk binary) or "inproc" (the server package here)
	Bin         string        // jitdesk binary for exec; built from this module when empty
	URL         string        // target an already running server instead
	DB          string        // with URL: the database that server uses
	Issuer      string        // with URL: its issuer
	Levels      []int         // intake concurrencies
	Requests    int           // intake requests per level (upper bound)
	PerLevel    time.Duration // time limit per level
	Waiters     int           // long-polls open at once
	Deciders    int           // goroutines deciding the waiters' requests
	Baseline    bool          // run the bare net/http baseline beside each level
	Dir         string        // work folder (a temp folder when empty)
	WaitTimeout time.Duration // the long-polls' ?wait=
}

// IntakePhase is one concurrency level against one handler.
type IntakePhase struct {
	Handler     string         `json:"handler"` // "api" or "bare"
	Concurrency int            `json:"concurrency"`
	Sent        int            `json:"sent"`
	Created     int            `json:"created"`
	ByStatus    map[string]int `json:"by_status"`
	Seconds     float64        `json:"seconds"`
	ReqPerSec   float64        `json:"req_per_s"`
	Latency     Latency        `json:"latency"`
	ids         []string
}

// LongPollResult is the 1,000-waiter phase.
type LongPollResult struct {
	Waiters      int     `json:"waiters"`
	Decisions    string  `json:"decisions"` // where they commit: same process or another
	ParkSeconds  float64 `json:"park_seconds"`
	Correct      int     `json:"correct"`       // answered 200 with exactly its own request and outcome
	Wrong        int     `json:"wrong"`         // another request's answer or the wrong outcome
	StillPending int     `json:"still_pending"` // the wait ran out: a lost wake-up
	Failed       int     `json:"failed"`        // transport errors or other statuses
	Wake         Latency `json:"wake"`          // decision committed → waiter holds the answer
	DecideRate   float64 `json:"decisions_per_s"`
	ServerMem    Mem     `json:"server_mem_with_waiters"`
}

// Verification is the count of what was stored against what was answered.
type Verification struct {
	Accepted       int    `json:"accepted"`       // 201s the clients received
	Rows           int    `json:"rows"`           // requests stored for this run
	Lost           int    `json:"lost"`           // 201 but no row
	Unacknowledged int    `json:"unacknowledged"` // a row nobody got a 201 for
	CreatedEvents  int    `json:"created_events"` // request.created events of this run's application
	EventsMismatch int    `json:"events_mismatch"`
	AuditEvents    int64  `json:"audit_events"`
	AuditVerified  bool   `json:"audit_verified"`
	AuditError     string `json:"audit_error,omitempty"`
	OK             bool   `json:"ok"`
}

// HTTPReport is the whole HTTP run.
type HTTPReport struct {
	Machine    Machine        `json:"machine"`
	Server     string         `json:"server"`
	Intake     []IntakePhase  `json:"intake"`
	LongPoll   LongPollResult `json:"long_poll"`
	Verify     Verification   `json:"verify"`
	ServerMem  Mem            `json:"server_mem_after_intake"`
	BaselineOf string         `json:"baseline"`
}

func newHTTPCmd(out *output) *cobra.Command {
	cfg := httpConfig{}
	var levels string
	cmd := &cobra.Command{
		Use:   "http",
		Short: "Intake at several concurrencies, 1,000 long-poll waiters, and a loss/duplication count",
		Long: `Starts jitdesk serve on loopback against a fresh database (--server exec runs the
jitdesk binary, as deployed; --server inproc serves the server package in this
process), creates an application and a template, and POSTs intake requests at each
--levels concurrency for --requests requests or --per-level, whichever ends first,
beside a bare net/http handler doing the same JSON decode and storing the same
request in its own transaction (the baseline; --baseline=false skips it). Then it
opens --waiters long-polls at once on pending requests, approves half and denies
half, and checks that every waiter got exactly its own outcome. Finally it counts
rows and request.created audit events against the 201s and verifies the chain.
Exit status 1 if anything was lost, doubled or misdelivered.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			for _, f := range strings.Split(levels, ",") {
				n, err := strconv.Atoi(strings.TrimSpace(f))
				if err != nil || n < 1 || n > 1024 {
					return fmt.Errorf("--levels: %q is not a concurrency between 1 and 1024", f)
				}
				cfg.Levels = append(cfg.Levels, n)
			}
			rep, err := runHTTP(cmd.Context(), cfg, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			if err := out.print(rep, rep.table); err != nil {
				return err
			}
			if !rep.Verify.OK || rep.LongPoll.Correct != rep.LongPoll.Waiters {
				return errors.New("FAILED: requests lost, doubled or misdelivered (see the report)")
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Server, "server", "exec", "exec (run the jitdesk binary) or inproc (the server package in this process)")
	f.StringVar(&cfg.Bin, "bin", "", "jitdesk binary for --server exec (default: go build ./cmd/jitdesk into the work folder)")
	f.StringVar(&cfg.URL, "url", "", "target a running server (then --db and --issuer are required)")
	f.StringVar(&cfg.DB, "db", "", "with --url: the database file that server uses")
	f.StringVar(&cfg.Issuer, "issuer", "", "with --url: the server's issuer (intake token audience)")
	f.StringVar(&levels, "levels", "1,8,32,128", "intake concurrencies")
	f.IntVar(&cfg.Requests, "requests", 2000, "intake requests per level (at most)")
	f.DurationVar(&cfg.PerLevel, "per-level", 30*time.Second, "time limit per level")
	f.IntVar(&cfg.Waiters, "waiters", 1000, "long-poll waiters open at once")
	f.IntVar(&cfg.Deciders, "deciders", 4, "goroutines approving and denying the waiters' requests")
	f.BoolVar(&cfg.Baseline, "baseline", true, "run the bare net/http baseline beside each level")
	f.StringVar(&cfg.Dir, "dir", "", "work folder (default: a temporary folder, removed after)")
	f.DurationVar(&cfg.WaitTimeout, "wait", 60*time.Second, "the long-polls' ?wait=")
	return cmd
}

// httpTarget is a jitdesk HTTP API to load, with the means to decide its
// requests and to count what it stored.
type httpTarget struct {
	url     string
	fx      *fixture           // setup and verification (a second store on the file for exec/url)
	decider *approvals.Service // where decisions commit
	same    bool               // decisions commit in the serving process
	pid     int                // the server process, for exec
	stop    func() error
}

func (t *httpTarget) mem() Mem {
	if t.pid != 0 {
		return pidMem(t.pid)
	}
	if t.same {
		return selfMem()
	}
	return Mem{}
}

func runHTTP(ctx context.Context, cfg httpConfig, logw io.Writer) (*HTTPReport, error) {
	if cfg.Requests < 1 || cfg.Waiters < 0 || cfg.PerLevel <= 0 {
		return nil, errors.New("--requests must be ≥ 1, --waiters ≥ 0, --per-level > 0")
	}
	if cfg.Deciders < 1 {
		cfg.Deciders = 1
	}
	dir := cfg.Dir
	if dir == "" {
		d, err := os.MkdirTemp("", "jitload-http-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	run := strconv.FormatInt(time.Now().UnixNano(), 36)
	logf := func(format string, a ...any) { fmt.Fprintf(logw, "jitload: "+format+"\n", a...) }

	t, err := startHTTPTarget(ctx, cfg, dir, run, logf)
	if err != nil {
		return nil, err
	}
	stopped := false
	defer func() {
		if !stopped {
			_ = t.stop()
		}
		t.fx.Close()
	}()
	rep := &HTTPReport{Machine: machine(), Server: cfg.Server, BaselineOf: "bare net/http handler: same JSON decode, Service.Submit in its own synchronous=FULL transaction, no token check (as server/bench_test.go)"}
	if cfg.URL != "" {
		rep.Server = "url " + cfg.URL
	}
	m := &minter{app: t.fx.app, issuer: t.fx.issuer, sub: "load-" + run, run: run}
	body := []byte(`{"template":"` + t.fx.tmpl + `","reason":"load test intake","ttl":"30m","metadata":{"namespace":"payments"}}`)
	client := newClient(256)
	defer client.CloseIdleConnections()
	var accepted []string

	var bare *bareTarget
	if cfg.Baseline {
		bare, err = startBare(ctx, filepath.Join(dir, "bare"), t.fx.issuer, run)
		if err != nil {
			return nil, err
		}
		defer bare.Close()
	}
	for _, c := range cfg.Levels {
		toks, err := m.mintN(cfg.Requests)
		if err != nil {
			return nil, err
		}
		logf("intake: api at concurrency %d (load %s)", c, loadAvg())
		p := hammer(ctx, client, t.url+"/v1/requests", toks, body, c, cfg.PerLevel)
		p.Handler = "api"
		accepted = append(accepted, p.ids...)
		rep.Intake = append(rep.Intake, p)
		if bare != nil {
			toks, err := m.mintN(cfg.Requests) // the same client work; the bare handler ignores them
			if err != nil {
				return nil, err
			}
			logf("intake: bare at concurrency %d (load %s)", c, loadAvg())
			b := hammer(ctx, client, bare.url, toks, body, c, cfg.PerLevel)
			b.Handler = "bare"
			rep.Intake = append(rep.Intake, b)
		}
	}
	client.CloseIdleConnections()
	rep.ServerMem = t.mem()

	if cfg.Waiters > 0 {
		lp, ids, err := longPoll(ctx, cfg, t, m, body, logf)
		if err != nil {
			return nil, err
		}
		rep.LongPoll = lp
		accepted = append(accepted, ids...)
	}

	// Count after the server has stopped (exec: its process exited), so
	// nothing is in flight.
	stopped = true
	if err := t.stop(); err != nil {
		logf("stopping the server: %v", err)
	}
	rep.Verify = verify(ctx, t.fx, m.sub, accepted)
	return rep, nil
}

func newClient(conns int) *http.Client {
	return &http.Client{Transport: &http.Transport{
		MaxIdleConns: conns * 2, MaxIdleConnsPerHost: conns * 2, IdleConnTimeout: time.Minute,
		DialContext: (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
	}}
}

// startHTTPTarget starts the server the run loads (or connects to --url).
func startHTTPTarget(ctx context.Context, cfg httpConfig, dir, run string, logf func(string, ...any)) (*httpTarget, error) {
	switch {
	case cfg.URL != "":
		if cfg.DB == "" || cfg.Issuer == "" {
			return nil, errors.New("--url needs --db (the server's database file) and --issuer")
		}
		fx, err := newFixture(ctx, dir, cfg.DB, cfg.Issuer, run, 0)
		if err != nil {
			return nil, err
		}
		return &httpTarget{url: strings.TrimRight(cfg.URL, "/"), fx: fx, decider: fx.svc, stop: func() error { return nil }}, nil
	case cfg.Server == "inproc":
		fx, err := newFixture(ctx, dir, "", "http://jitload.invalid", run, 0)
		if err != nil {
			return nil, err
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			fx.Close()
			return nil, err
		}
		sctx, cancel := context.WithCancel(context.Background())
		go fx.svc.RunSweeper(sctx, 5*time.Second, nil)
		// The same settings and access log as `jitdesk serve` (the log
		// formatted and discarded).
		srv := &http.Server{
			Handler:           server.NewHTTPHandler(server.HTTPConfig{Service: fx.svc, Logger: slog.New(slog.NewJSONHandler(io.Discard, nil))}),
			ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 15 * time.Second, WriteTimeout: 90 * time.Second,
			IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 16 << 10,
		}
		go func() { _ = srv.Serve(ln) }()
		return &httpTarget{url: "http://" + ln.Addr().String(), fx: fx, decider: fx.svc, same: true, stop: func() error {
			defer cancel()
			sc, c2 := context.WithTimeout(context.Background(), 30*time.Second)
			defer c2()
			return srv.Shutdown(sc)
		}}, nil
	case cfg.Server == "exec":
		bin := cfg.Bin
		if bin == "" {
			bin = filepath.Join(dir, "jitdesk")
			logf("building jitdesk into %s", bin)
			b := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/jitdesk/jitdesk/cmd/jitdesk")
			b.Stderr = os.Stderr
			if err := b.Run(); err != nil {
				return nil, fmt.Errorf("go build ./cmd/jitdesk (or pass --bin): %w", err)
			}
		}
		issuer := "http://jitload.invalid"
		fx, err := newFixture(ctx, dir, "", issuer, run, 0)
		if err != nil {
			return nil, err
		}
		addr, err := freeAddr()
		if err != nil {
			fx.Close()
			return nil, err
		}
		logFile, err := os.Create(filepath.Join(dir, "serve.log"))
		if err != nil {
			fx.Close()
			return nil, err
		}
		srv := exec.Command(bin, "--db", fx.path, "--issuer", issuer, "serve", "--http", addr, "--ssh", "")
		srv.Stdout, srv.Stderr = logFile, logFile
		if err := srv.Start(); err != nil {
			fx.Close()
			logFile.Close()
			return nil, fmt.Errorf("start %s serve: %w", bin, err)
		}
		exited := make(chan error, 1)
		go func() { exited <- srv.Wait(); logFile.Close() }()
		stop := func() error {
			_ = srv.Process.Signal(syscall.SIGTERM)
			select {
			case err := <-exited:
				return err
			case <-time.After(40 * time.Second):
				_ = srv.Process.Kill()
				return errors.New("jitdesk serve did not stop within 40s of SIGTERM")
			}
		}
		url := "http://" + addr
		if err := waitHealthy(url, exited); err != nil {
			_ = stop()
			fx.Close()
			return nil, err
		}
		// Decisions commit through a second store on the same file, as
		// `jitdesk approve` would: the server hears of them through its
		// PRAGMA data_version poll.
		return &httpTarget{url: url, fx: fx, decider: fx.svc, pid: srv.Process.Pid, stop: stop}, nil
	}
	return nil, fmt.Errorf("--server %q: use exec or inproc", cfg.Server)
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func waitHealthy(url string, exited <-chan error) error {
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			return fmt.Errorf("jitdesk serve exited at start: %v (see serve.log)", err)
		default:
		}
		res, err := http.Get(url + "/healthz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return errors.New("jitdesk serve did not answer /healthz within 15s")
}

// hammer POSTs the body with each token in turn from conc workers until the
// tokens or the time run out, recording each answer.
func hammer(ctx context.Context, client *http.Client, url string, toks []string, body []byte, conc int, limit time.Duration) IntakePhase {
	p := IntakePhase{Concurrency: conc, ByStatus: map[string]int{}}
	var next atomic.Int64
	var mu sync.Mutex
	lat := make([]time.Duration, 0, len(toks))
	deadline := time.Now().Add(limit)
	start := time.Now()
	var wg sync.WaitGroup
	for range conc {
		wg.Go(func() {
			for ctx.Err() == nil && time.Now().Before(deadline) {
				i := int(next.Add(1)) - 1
				if i >= len(toks) {
					return
				}
				req, _ := http.NewRequestWithContext(ctx, "POST", url, bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Authorization", "Bearer "+toks[i])
				t0 := time.Now()
				res, err := client.Do(req)
				var rb []byte
				if err == nil {
					rb, err = io.ReadAll(res.Body)
					res.Body.Close()
				}
				d := time.Since(t0)
				key, id := "error", ""
				if err == nil {
					key = strconv.Itoa(res.StatusCode)
					if res.StatusCode == http.StatusCreated {
						var v struct {
							ID string `json:"id"`
						}
						if json.Unmarshal(rb, &v) == nil {
							id = v.ID
						}
					}
				}
				mu.Lock()
				p.Sent++
				p.ByStatus[key]++
				lat = append(lat, d)
				if id != "" {
					p.Created++
					p.ids = append(p.ids, id)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	el := time.Since(start)
	p.Seconds = el.Seconds()
	p.ReqPerSec = float64(p.Created) / el.Seconds()
	p.Latency = summarize(lat)
	return p
}

// bareTarget is the baseline: a plain net/http handler on its own database.
type bareTarget struct {
	url   string
	fx    *fixture
	srv   *http.Server
	close func()
}

func (b *bareTarget) Close() { b.close() }

func startBare(ctx context.Context, dir, issuer, run string) (*bareTarget, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	fx, err := newFixture(ctx, dir, "", issuer, run, 0)
	if err != nil {
		return nil, err
	}
	type createBody struct {
		Template string            `json:"template"`
		Reason   string            `json:"reason"`
		TTL      string            `json:"ttl"`
		Metadata map[string]string `json:"metadata"`
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body createBody
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		ttl, _ := approvals.ParseDuration(body.TTL)
		req, err := fx.svc.Submit(r.Context(), approvals.NewRequest{
			AppID: fx.app.ID, TemplateKey: body.Template, Requester: "alice", Reason: body.Reason, TTL: ttl, Metadata: body.Metadata,
		})
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		_ = json.NewEncoder(w).Encode(map[string]any{"id": req.ID, "status": req.Status})
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fx.Close()
		return nil, err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return &bareTarget{url: "http://" + ln.Addr().String(), fx: fx, srv: srv, close: func() {
		_ = srv.Close()
		fx.Close()
	}}, nil
}

// waiterResult is what one long-poll received.
type waiterResult struct {
	status int
	id     string
	state  string
	at     time.Time
	err    error
}

// longPoll submits cfg.Waiters requests, parks a long-poll on each, decides
// them (even: approve, odd: deny) and checks every answer.
func longPoll(ctx context.Context, cfg httpConfig, t *httpTarget, m *minter, body []byte, logf func(string, ...any)) (LongPollResult, []string, error) {
	n := cfg.Waiters
	res := LongPollResult{Waiters: n, Decisions: "another process (a second store on the file, as `jitdesk approve`)"}
	if t.same {
		res.Decisions = "the serving process (as an SSH console approver)"
	}
	toks, err := m.mintN(n)
	if err != nil {
		return res, nil, err
	}
	client := newClient(n + 16)
	defer client.CloseIdleConnections()
	sub := hammer(ctx, client, t.url+"/v1/requests", toks, body, 32, 5*time.Minute)
	if sub.Created != n {
		return res, sub.ids, fmt.Errorf("long-poll: submitting %d pending requests got %d created (%v)", n, sub.Created, sub.ByStatus)
	}
	ids := sub.ids
	toks, err = m.mintN(n)
	if err != nil {
		return res, ids, err
	}
	logf("long-poll: opening %d waiters (load %s)", n, loadAvg())
	results := make([]waiterResult, n)
	var written sync.WaitGroup
	written.Add(n)
	var done sync.WaitGroup
	parkStart := time.Now()
	for i, id := range ids {
		done.Go(func() {
			var once sync.Once
			wrote := func() { once.Do(written.Done) }
			defer wrote()
			trace := &httptrace.ClientTrace{WroteRequest: func(httptrace.WroteRequestInfo) { wrote() }}
			req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), "GET",
				fmt.Sprintf("%s/v1/requests/%s?wait=%s", t.url, id, cfg.WaitTimeout), nil)
			req.Header.Set("Authorization", "Bearer "+toks[i])
			r, err := client.Do(req)
			if err != nil {
				results[i] = waiterResult{err: err, at: time.Now()}
				return
			}
			b, err := io.ReadAll(r.Body)
			r.Body.Close()
			at := time.Now()
			var v struct {
				ID     string `json:"id"`
				Status string `json:"status"`
			}
			_ = json.Unmarshal(b, &v)
			results[i] = waiterResult{status: r.StatusCode, id: v.ID, state: v.Status, at: at, err: err}
		})
	}
	written.Wait()
	// Each long-poll authenticates (one durable commit each, burning its
	// jti) before it parks; give them time to, then decide.
	time.Sleep(time.Second + time.Duration(n)*2*time.Millisecond)
	res.ParkSeconds = time.Since(parkStart).Seconds()
	res.ServerMem = t.mem()
	logf("long-poll: deciding %d requests from %d goroutines (load %s)", n, cfg.Deciders, loadAvg())
	committed := make([]time.Time, n)
	want := make([]string, n)
	var next atomic.Int64
	var decideErr atomic.Value
	var dw sync.WaitGroup
	decStart := time.Now()
	for range cfg.Deciders {
		dw.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				d, err := t.decider.Get(ctx, ids[i])
				if err == nil {
					if i%2 == 0 {
						want[i] = string(approvals.StatusApproved)
						_, err = t.decider.Approve(ctx, approvals.ApproveInput{RequestID: ids[i], Approver: driverLogin, Digest: d.Digest})
					} else {
						want[i] = string(approvals.StatusDenied)
						_, err = t.decider.Deny(ctx, approvals.DenyInput{RequestID: ids[i], Approver: driverLogin, Digest: d.Digest, Comment: "load test: denied"})
					}
				}
				committed[i] = time.Now()
				if err != nil {
					decideErr.Store(fmt.Errorf("decide %s: %w", ids[i], err))
				}
			}
		})
	}
	dw.Wait()
	res.DecideRate = float64(n) / time.Since(decStart).Seconds()
	if v := decideErr.Load(); v != nil {
		return res, ids, v.(error)
	}
	done.Wait()
	var wake []time.Duration
	for i, r := range results {
		switch {
		case r.err != nil || r.status != http.StatusOK:
			res.Failed++
		case r.state == string(approvals.StatusPending):
			res.StillPending++
		case r.id != ids[i] || r.state != want[i]:
			res.Wrong++
		default:
			res.Correct++
			wake = append(wake, max(r.at.Sub(committed[i]), 0))
		}
	}
	res.Wake = summarize(wake)
	return res, ids, nil
}

// verify counts this run's rows and request.created events against the
// 201s and walks the audit chain.
func verify(ctx context.Context, fx *fixture, sub string, accepted []string) Verification {
	v := Verification{Accepted: len(accepted)}
	rows := map[string]bool{}
	q := approvals.RequestQuery{Scope: approvals.ScopeAll, Requester: sub, Limit: 500}
	for {
		page, err := fx.svc.List(ctx, q)
		if err != nil {
			v.AuditError = "list: " + err.Error()
			return v
		}
		for _, r := range page {
			if rows[r.ID] {
				v.Unacknowledged++ // the same row listed twice would be a store bug
			}
			rows[r.ID] = true
		}
		if len(page) < q.Limit {
			break
		}
		last := page[len(page)-1]
		q.After = &approvals.Cursor{At: last.CreatedAt, ID: last.ID}
	}
	v.Rows = len(rows)
	acc := map[string]int{}
	for _, id := range accepted {
		acc[id]++
		if !rows[id] {
			v.Lost++
		}
		if acc[id] > 1 {
			v.Lost++ // one id answered twice: two 201s for one row
		}
	}
	for id := range rows {
		if acc[id] == 0 {
			v.Unacknowledged++
		}
	}
	events := map[string]int{}
	before := int64(0)
	for {
		evs, err := fx.svc.AuditLog(ctx, before, 1000)
		if err != nil {
			v.AuditError = "audit log: " + err.Error()
			return v
		}
		for _, ev := range evs {
			if ev.Action == "request.created" && ev.Actor == "app:"+fx.app.ID {
				events[ev.Subject]++
				v.CreatedEvents++
			}
		}
		if len(evs) < 1000 {
			break
		}
		before = evs[len(evs)-1].Seq
	}
	for id := range rows {
		if events[id] != 1 {
			v.EventsMismatch++
		}
	}
	for id := range events {
		if !rows[id] {
			v.EventsMismatch++
		}
	}
	rep, err := fx.svc.VerifyAudit(ctx)
	v.AuditEvents = rep.Events
	if err != nil {
		v.AuditError = err.Error()
	} else {
		v.AuditVerified = true
	}
	v.OK = v.Lost == 0 && v.Unacknowledged == 0 && v.Rows == v.Accepted && v.CreatedEvents == v.Rows &&
		v.EventsMismatch == 0 && v.AuditVerified
	return v
}

func (r *HTTPReport) table(w io.Writer) {
	m := r.Machine
	fmt.Fprintf(w, "machine: %d CPU %s, %d MiB, %s, load %s, %s\nserver: %s\n\n", m.CPUs, m.CPU, m.MemMiB, m.Go, m.LoadAvg, m.When, r.Server)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "handler\tconc\tsent\t201\treq/s\tp50 ms\tp99 ms\tmax ms\tstatuses\tratio api/bare")
	bareRPS := map[int]float64{}
	for _, p := range r.Intake {
		if p.Handler == "bare" {
			bareRPS[p.Concurrency] = p.ReqPerSec
		}
	}
	for _, p := range r.Intake {
		ratio := ""
		if b := bareRPS[p.Concurrency]; p.Handler == "api" && b > 0 {
			ratio = fmt.Sprintf("%.2f×", p.ReqPerSec/b)
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%.0f\t%.2f\t%.2f\t%.2f\t%s\t%s\n", p.Handler, p.Concurrency, p.Sent, p.Created,
			p.ReqPerSec, p.Latency.P50, p.Latency.P99, p.Latency.Max, statuses(p.ByStatus), ratio)
	}
	tw.Flush()
	if r.ServerMem.RSSKiB > 0 {
		fmt.Fprintf(w, "server RSS after intake %.1f MiB (peak %.1f MiB)\n", mib(r.ServerMem.RSSKiB), mib(r.ServerMem.HWMKiB))
	}
	lp := r.LongPoll
	if lp.Waiters > 0 {
		fmt.Fprintf(w, "\nlong-poll: %d waiters parked in %.1fs; decisions from %s at %.0f/s\n", lp.Waiters, lp.ParkSeconds, lp.Decisions, lp.DecideRate)
		fmt.Fprintf(w, "  correct %d, wrong %d, still pending %d, failed %d\n  wake latency %s\n", lp.Correct, lp.Wrong, lp.StillPending, lp.Failed, lp.Wake)
		if lp.ServerMem.RSSKiB > 0 {
			fmt.Fprintf(w, "  server RSS with the waiters parked %.1f MiB\n", mib(lp.ServerMem.RSSKiB))
		}
	}
	v := r.Verify
	fmt.Fprintf(w, "\nverify: 201s %d, rows %d, lost %d, unacknowledged %d, request.created events %d (mismatched %d), audit chain %d events verified=%v %s\n",
		v.Accepted, v.Rows, v.Lost, v.Unacknowledged, v.CreatedEvents, v.EventsMismatch, v.AuditEvents, v.AuditVerified, v.AuditError)
	if v.OK {
		fmt.Fprintln(w, "OK: nothing lost or doubled")
	} else {
		fmt.Fprintln(w, "FAILED")
	}
}

func statuses(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s:%d", k, m[k]))
	}
	return strings.Join(parts, " ")
}
