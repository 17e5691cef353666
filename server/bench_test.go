package server

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/jitdesk/jitdesk/approvals"
	"github.com/jitdesk/jitdesk/pgstore/pgtest"
	"github.com/jitdesk/jitdesk/store"
	"github.com/jitdesk/jitdesk/tokens"
)

// Benchmarks of the intake path and of long-poll wake-ups, each beside its
// baseline in the same run:
//
//	go test ./server -run '^$' -bench 'Intake' -benchtime 3000x
//	go test ./server -run '^$' -bench LongPollWake -benchtime 5x
//
// (LongPollWake takes about 0.4 s an iteration: 32 waiters park, then are
// approved one by one; do not give it the intake's iteration count.)
//
// BenchmarkIntake/api is POST /v1/requests over real loopback HTTP at
// concurrency 32 (intake token verified, jti burned, row and audit event
// stored; concurrent submissions share a synchronous=FULL commit).
// BenchmarkIntake/bare is a bare net/http handler that decodes the same body
// and stores the same request in its own transaction (Service.Submit: one
// FULL commit per request, and no token check, so the baseline is flattered).
// BenchmarkIntakeOneRow (below) is the floor: one row per durable
// transaction and nothing else. Each reports req/s and the process's CPU
// time per request (cpu-µs/req, server and load generator together).
// BenchmarkLongPollWake measures the time from an approval committing to the
// long-polling client holding the answer, for approvals made in the serving
// process and in another one.

const benchConcurrency = 32

type benchFixture struct {
	svc     *approvals.Service
	app     approvals.Application
	path    string // the database file
	batches *batchCounter
}

// batchCounter is an approvals.Observer counting intake batches and the
// requests they carried (as serve's metrics do), so a run reports its
// mean batch size.
type batchCounter struct {
	batches, rows atomic.Int64
}

func (c *batchCounter) Committed([]approvals.AuditEvent, time.Duration) {}
func (c *batchCounter) WebhookAttempts(int, int, int)                   {}
func (c *batchCounter) IntakeBatch(size int) {
	c.batches.Add(1)
	c.rows.Add(int64(size))
}

func (c *batchCounter) read() (batches, rows int64) { return c.batches.Load(), c.rows.Load() }

// report reports the mean requests per intake commit since read returned
// batches and rows.
func (c *batchCounter) report(b *testing.B, batches, rows int64) {
	if nb, nr := c.read(); nb > batches {
		b.ReportMetric(float64(nr-rows)/float64(nb-batches), "req/commit")
	}
}

func newBenchFixture(b *testing.B) *benchFixture {
	b.Helper()
	path := filepath.Join(b.TempDir(), "jitdesk.db")
	db, err := store.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	return newBenchFixtureOn(b, db)
}

// newBenchFixtureOn is newBenchFixture on a given store (PostgreSQL for
// the intake benchmark beside SQLite).
func newBenchFixtureOn(b *testing.B, db approvals.Store) *benchFixture {
	b.Helper()
	batches := &batchCounter{}
	svc := approvals.New(db, approvals.Options{Issuer: "https://jitdesk.bench", Observers: []approvals.Observer{batches}})
	ctx := context.Background()
	if _, err := svc.Init(ctx, "bench"); err != nil {
		b.Fatal(err)
	}
	app, err := svc.CreateApplication(ctx, "bench", "payments", "https://payments.example")
	if err != nil {
		b.Fatal(err)
	}
	// Limits as high as they go: the benchmarks measure intake and
	// wake-ups, not the per-application limiter refusing them.
	if _, err := svc.UpdateApp(ctx, "bench", app.ID, approvals.AppUpdate{Limits: &approvals.AppLimits{
		MaxPending: 1_000_000, RatePerSecond: 100_000, Burst: 1_000_000}}); err != nil {
		b.Fatal(err)
	}
	if err := svc.AddApprover(ctx, "bench", approvals.Approver{Login: "bob", Name: "Bob Okafor"}); err != nil {
		b.Fatal(err)
	}
	if err := svc.AddTemplate(ctx, "bench", approvals.Template{
		Key: "k8s", AppID: app.ID, Title: "K8s exec", Type: approvals.TypeApprove, Approvers: []string{"bob"},
		Fields: []approvals.MetadataField{{Name: "namespace", Required: true}},
	}); err != nil {
		b.Fatal(err)
	}
	f := &benchFixture{svc: svc, app: app, batches: batches}
	if sq, ok := db.(*store.DB); ok {
		f.path = sq.Path()
	}
	return f
}

// intakeTokens signs n fresh intake tokens (outside the timed part).
func (f *benchFixture) intakeTokens(b *testing.B, n int) []string {
	b.Helper()
	out := make([]string, n)
	now := time.Now()
	for i := range out {
		tok, err := tokens.SignIntake(f.app.Secret, tokens.IntakeClaims{RegisteredClaims: jwt.RegisteredClaims{
			Issuer: f.app.ID, Subject: "alice", Audience: jwt.ClaimStrings{f.svc.Issuer()}, ID: fmt.Sprintf("bench-%d-%d", now.UnixNano(), i),
			IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(4 * time.Minute)),
		}})
		if err != nil {
			b.Fatal(err)
		}
		out[i] = tok
	}
	return out
}

var benchBody = []byte(`{"template":"k8s","reason":"debug OPS-123","ttl":"30m","metadata":{"namespace":"payments"}}`)

func benchClient() *http.Client {
	return &http.Client{Transport: &http.Transport{MaxIdleConns: 2 * benchConcurrency, MaxIdleConnsPerHost: 2 * benchConcurrency}}
}

// hammer sends n POSTs from benchConcurrency workers and fails on any
// answer other than 201.
func hammer(b *testing.B, url string, toks []string) {
	b.Helper()
	client := benchClient()
	defer client.CloseIdleConnections()
	var next atomic.Int64
	var failed atomic.Value
	var wg sync.WaitGroup
	for range benchConcurrency {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= len(toks) {
					return
				}
				req, _ := http.NewRequest("POST", url, bytes.NewReader(benchBody))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Authorization", "Bearer "+toks[i])
				res, err := client.Do(req)
				if err != nil {
					failed.Store(err.Error())
					return
				}
				body, _ := io.ReadAll(res.Body)
				res.Body.Close()
				if res.StatusCode != http.StatusCreated {
					failed.Store(fmt.Sprintf("%d %s", res.StatusCode, body))
					return
				}
			}
		})
	}
	wg.Wait()
	if v := failed.Load(); v != nil {
		b.Fatal(v)
	}
}

func BenchmarkIntake(b *testing.B) {
	b.Run("api", func(b *testing.B) {
		f := newBenchFixture(b)
		srv := httptest.NewServer(NewHTTPHandler(HTTPConfig{Service: f.svc, Logger: slog.New(slog.DiscardHandler)}))
		defer srv.Close()
		toks := f.intakeTokens(b, b.N)
		b.ResetTimer()
		cpu := processCPU()
		batches, rows := f.batches.read()
		hammer(b, srv.URL+"/v1/requests", toks)
		b.StopTimer()
		f.batches.report(b, batches, rows)
		reportIntake(b, cpu)
	})
	// The same on PostgreSQL (skipped without JITDESK_TEST_POSTGRES), so the
	// two stores' intake compare in one run.
	b.Run("api-postgres", func(b *testing.B) {
		f := newBenchFixtureOn(b, pgtest.Open(b))
		srv := httptest.NewServer(NewHTTPHandler(HTTPConfig{Service: f.svc, Logger: slog.New(slog.DiscardHandler)}))
		defer srv.Close()
		toks := f.intakeTokens(b, b.N)
		b.ResetTimer()
		cpu := processCPU()
		hammer(b, srv.URL+"/v1/requests", toks)
		b.StopTimer()
		reportIntake(b, cpu)
	})
	b.Run("bare", func(b *testing.B) {
		f := newBenchFixture(b)
		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			var body createBody
			if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
				http.Error(w, err.Error(), 400)
				return
			}
			ttl, _ := approvals.ParseDuration(body.TTL)
			req, err := f.svc.Submit(r.Context(), approvals.NewRequest{
				AppID: f.app.ID, TemplateKey: body.Template, Requester: "alice", Reason: body.Reason, TTL: ttl, Metadata: body.Metadata,
			})
			if err != nil {
				http.Error(w, err.Error(), 500)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusCreated)
			_ = json.NewEncoder(w).Encode(requestJSON(approvals.Detail{Request: req}, f.svc.Now()))
		})
		srv := httptest.NewServer(h)
		defer srv.Close()
		toks := f.intakeTokens(b, b.N) // same client work as the api run
		b.ResetTimer()
		cpu := processCPU()
		hammer(b, srv.URL, toks)
		b.StopTimer()
		reportIntake(b, cpu)
	})
}

// BenchmarkIntakeOneRow is the floor under any durable-per-request server
// on this machine: a net/http handler that decodes the same body and
// inserts one row into a one-table database in its own synchronous=FULL
// BEGIN IMMEDIATE transaction (WAL, one connection, as the store's writer),
// then answers 201. It has no indexes, no audit chain, no token check and
// no search index; Intake/api is reported beside it in the same run.
func BenchmarkIntakeOneRow(b *testing.B) {
	path := filepath.Join(b.TempDir(), "onerow.db")
	db, err := sql.Open("sqlite", "file:"+path+"?_txlock=immediate&_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)")
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if _, err := db.Exec(`CREATE TABLE intake (id INTEGER PRIMARY KEY, template TEXT NOT NULL, reason TEXT NOT NULL, created_at INTEGER NOT NULL)`); err != nil {
		b.Fatal(err)
	}
	benchBaseline(b, func(ctx context.Context, body createBody) error {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(`INSERT INTO intake (template, reason, created_at) VALUES (?, ?, ?)`, body.Template, body.Reason, time.Now().UnixMilli()); err != nil {
			_ = tx.Rollback()
			return err
		}
		return tx.Commit()
	})
}

// BenchmarkIntakeNoStore is the HTTP exchange alone: the same client, body
// and concurrency against a handler that decodes the body and answers 201
// without storing anything. Its CPU time per request is what no store
// change can remove from Intake/api on the same machine.
func BenchmarkIntakeNoStore(b *testing.B) {
	benchBaseline(b, func(context.Context, createBody) error { return nil })
}

// benchBaseline runs the intake client against a bare handler that decodes
// each body, passes it to store and answers 201 with a constant body.
func benchBaseline(b *testing.B, store func(context.Context, createBody) error) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body createBody
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		if err := store(r.Context(), body); err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		_, _ = io.WriteString(w, `{"status":"pending"}`)
	})
	srv := httptest.NewServer(h)
	defer srv.Close()
	f := newBenchFixture(b) // only for tokens: the same client work as the api run
	toks := f.intakeTokens(b, b.N)
	b.ResetTimer()
	cpu := processCPU()
	hammer(b, srv.URL, toks)
	b.StopTimer()
	reportIntake(b, cpu)
}

// processCPU is the CPU time (user and system) this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportIntake reports the run's throughput and the CPU time the whole
// process (server and load generator) spent per request since start. On a
// shared machine the throughput moves with other jobs' load; CPU per
// request moves much less, so it tells whether a change made intake
// cheaper when the throughput alone cannot.
func reportIntake(b *testing.B, start time.Duration) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
	if start > 0 {
		b.ReportMetric(float64((processCPU()-start).Microseconds())/float64(b.N), "cpu-µs/req")
	}
}

// BenchmarkLongPollWake parks benchConcurrency long-polls on distinct
// pending requests, approves them one by one at varied moments, and
// reports how long after each approval committed its waiter had the answer.
// "same-process": the approval commits through the server's own store, as
// an approver in the SSH console does. "other-process": it commits through
// a second store on the same file, as `jitdesk approve` does from another
// process; the server hears of it through the store's PRAGMA data_version
// poll (store.FeedInterval).
func BenchmarkLongPollWake(b *testing.B) {
	b.Run("same-process", func(b *testing.B) {
		f := newBenchFixture(b)
		benchLongPollWake(b, f, f.svc)
	})
	b.Run("other-process", func(b *testing.B) {
		f := newBenchFixture(b)
		db2, err := store.Open(f.path)
		if err != nil {
			b.Fatal(err)
		}
		defer db2.Close()
		benchLongPollWake(b, f, approvals.New(db2, approvals.Options{Issuer: f.svc.Issuer()}))
	})
}

func benchLongPollWake(b *testing.B, f *benchFixture, approver *approvals.Service) {
	srv := httptest.NewServer(NewHTTPHandler(HTTPConfig{Service: f.svc, Logger: slog.New(slog.DiscardHandler)}))
	defer srv.Close()
	client := benchClient()
	defer client.CloseIdleConnections()
	ctx := context.Background()
	var lat []time.Duration
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		toks := f.intakeTokens(b, 2*benchConcurrency)
		ids := make([]string, benchConcurrency)
		for i := range ids {
			req, err := f.svc.Submit(ctx, approvals.NewRequest{AppID: f.app.ID, TemplateKey: "k8s", Requester: "alice", Reason: "wake test", Metadata: map[string]string{"namespace": "x"}})
			if err != nil {
				b.Fatal(err)
			}
			ids[i] = req.ID
		}
		woke := make([]time.Time, len(ids))
		var wg sync.WaitGroup
		for i, id := range ids {
			wg.Go(func() {
				req, _ := http.NewRequest("GET", srv.URL+"/v1/requests/"+id+"?wait=30s", nil)
				req.Header.Set("Authorization", "Bearer "+toks[i])
				res, err := client.Do(req)
				if err != nil {
					b.Error(err)
					return
				}
				body, _ := io.ReadAll(res.Body)
				res.Body.Close()
				woke[i] = time.Now()
				if !bytes.Contains(body, []byte(`"approved"`)) {
					b.Errorf("long-poll answered without the approval: %d %s", res.StatusCode, body)
				}
			})
		}
		time.Sleep(300 * time.Millisecond) // let every waiter park
		b.StartTimer()
		committed := make([]time.Time, len(ids))
		for i, id := range ids {
			d, err := approver.Get(ctx, id)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := approver.Approve(ctx, approvals.ApproveInput{RequestID: id, Approver: "bob", Digest: d.Digest}); err != nil {
				b.Fatal(err)
			}
			committed[i] = time.Now()
			time.Sleep(time.Duration(i%7) * 3 * time.Millisecond) // approvals land at varied phases of the feed
		}
		wg.Wait()
		b.StopTimer()
		for i := range ids {
			lat = append(lat, woke[i].Sub(committed[i]))
		}
	}
	slices.Sort(lat)
	q := func(p float64) float64 {
		return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))].Microseconds()) / 1000
	}
	b.ReportMetric(q(0.50), "p50-ms")
	b.ReportMetric(q(0.99), "p99-ms")
	b.ReportMetric(float64(len(lat)), "wakeups")
}
