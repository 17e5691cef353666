// Package metrics exposes jitdesk's Prometheus series. Each Metrics value
// owns its own registry (never the process-wide default one), so two
// servers in one process, or two tests, never share a counter.
//
// Series (all prefixed jitdesk_):
//
//	http_requests_total{route,code}          counter   HTTP requests answered; route is the ServeMux
//	                                                    pattern ("GET /v1/requests/{id}") or "unmatched",
//	                                                    never the raw path
//	http_request_duration_seconds{route}     histogram time to answer (long-polls included: they
//	                                                    reach the ?wait= they asked for)
//	intake_batch_size                        histogram requests per group-committed intake batch
//	decisions_total{template,outcome}        counter   requests that ended, by any process (from the
//	                                                    audit log): approved, denied, expired,
//	                                                    cancelled, break_glass
//	pending_requests                         gauge     requests pending now (read at scrape time)
//	longpoll_waiters                         gauge     status long-polls parked now
//	ssh_sessions                             gauge     SSH console sessions open now
//	webhook_queue_depth                      gauge     webhook deliveries waiting to be sent (scrape time)
//	webhook_dead_deliveries                  gauge     deliveries given up on and still kept (scrape time)
//	webhook_attempts_total{result}           counter   delivery attempts: delivered or failed
//	webhook_dead_total                       counter   deliveries given up on by this process
//	sweeper_steps_total{step}                counter   sweeper transitions: expired or escalated
//	db_commit_duration_seconds               histogram time of each committed write transaction
//	auth_failures_total{method,reason}       counter   refused authentications: method intake, client
//	                                                    or ssh; reason a fixed word (see the server)
//	stats_up                                 gauge     1 when the scrape-time database read worked
//
// Every label value comes from a fixed set or from operator configuration
// (template keys); nothing a client sends becomes a label, so a hostile
// client cannot grow the series count. Template keys are capped too
// (MaxTemplates), in case configuration itself runs away.
package metrics

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/jitdesk/jitdesk/approvals"
)

const namespace = "jitdesk"

// MaxTemplates bounds the distinct template label values of
// decisions_total; decisions of templates beyond it count under
// OtherTemplate.
const MaxTemplates = 1000

// OtherTemplate is the template label of decisions beyond MaxTemplates,
// and of decisions whose audit payload names no template.
const OtherTemplate = "_other"

// DefaultStatsTimeout bounds the scrape-time database read.
const DefaultStatsTimeout = 2 * time.Second

// StatsFunc reads the database gauges (approvals.Service.Stats).
type StatsFunc func(context.Context) (approvals.Stats, error)

// Options configures New.
type Options struct {
	// StatsTimeout bounds the scrape-time read of SetStats's function
	// (default DefaultStatsTimeout).
	StatsTimeout time.Duration
	// Logger receives errors of the scrape-time read (default: none).
	Logger *slog.Logger
}

// Metrics holds jitdesk's series and the registry that serves them. Its
// methods are safe for concurrent use. The zero value is not usable; a nil
// *Metrics is, and records nothing (so callers need not check).
type Metrics struct {
	reg *prometheus.Registry

	httpRequests *prometheus.CounterVec
	httpDuration *prometheus.HistogramVec
	intakeBatch  prometheus.Histogram
	decisions    *prometheus.CounterVec
	whAttempts   *prometheus.CounterVec
	whDead       prometheus.Counter
	sweeper      *prometheus.CounterVec
	commit       prometheus.Histogram
	authFailures *prometheus.CounterVec

	mu        sync.Mutex
	templates map[string]bool
	waiters   func() int
	sessions  func() int
	stats     StatsFunc
}

// The Observer the Service reports commits to.
var _ approvals.Observer = (*Metrics)(nil)

// New returns Metrics with a fresh registry holding jitdesk's series and
// the Go runtime and process collectors.
func New(opts Options) *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry(), templates: map[string]bool{}}
	m.httpRequests = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "http_requests_total",
		Help: "HTTP requests answered, by route (the ServeMux pattern, or unmatched) and status code."}, []string{"route", "code"})
	m.httpDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: namespace, Name: "http_request_duration_seconds",
		Help: "Time to answer an HTTP request, by route; long-polls last up to their ?wait=.",
		// Up to past the long-poll cap, so parked polls land in a bucket.
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120}}, []string{"route"})
	m.intakeBatch = prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: namespace, Name: "intake_batch_size",
		Help: "Requests stored per group-committed intake batch.", Buckets: prometheus.ExponentialBuckets(1, 2, 11)})
	m.decisions = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "decisions_total",
		Help: "Requests that ended, by template key and outcome (approved, denied, expired, cancelled, break_glass)."}, []string{"template", "outcome"})
	m.whAttempts = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "webhook_attempts_total",
		Help: "Webhook delivery attempts, by result (delivered, failed)."}, []string{"result"})
	m.whDead = prometheus.NewCounter(prometheus.CounterOpts{Namespace: namespace, Name: "webhook_dead_total",
		Help: "Webhook deliveries given up on after their last attempt."})
	m.sweeper = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "sweeper_steps_total",
		Help: "Transitions made by the sweeper, by step (expired, escalated)."}, []string{"step"})
	m.commit = prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: namespace, Name: "db_commit_duration_seconds",
		Help:    "Time of each committed write transaction.",
		Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5}})
	m.authFailures = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "auth_failures_total",
		Help: "Refused authentications, by method (intake, client, ssh) and reason."}, []string{"method", "reason"})
	m.reg.MustRegister(m.httpRequests, m.httpDuration, m.intakeBatch, m.decisions, m.whAttempts, m.whDead,
		m.sweeper, m.commit, m.authFailures,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: namespace, Name: "longpoll_waiters",
			Help: "Status long-polls parked now."}, func() float64 { return m.read(func() func() int { return m.waiters }) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: namespace, Name: "ssh_sessions",
			Help: "SSH console sessions open now."}, func() float64 { return m.read(func() func() int { return m.sessions }) }),
	)
	// Series that are known up front start at zero, so rate() works from
	// the first scrape and dashboards show a line, not "no data".
	for _, r := range []string{"delivered", "failed"} {
		m.whAttempts.WithLabelValues(r)
	}
	for _, s := range []string{"expired", "escalated"} {
		m.sweeper.WithLabelValues(s)
	}
	timeout := opts.StatsTimeout
	if timeout <= 0 {
		timeout = DefaultStatsTimeout
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m.reg.MustRegister(newStatsCollector(m.statsFunc, timeout, log))
	return m
}

// SetStats sets how the database gauges (pending_requests,
// webhook_queue_depth, webhook_dead_deliveries) are read at scrape time:
// usually Service.Stats, which exists only after the Service that reports
// to these Metrics was built. Until it is set those gauges are not
// exported. Each scrape calls it once, bounded by Options.StatsTimeout; an
// error leaves the gauges out of that scrape and sets stats_up to 0.
func (m *Metrics) SetStats(f StatsFunc) {
	if m == nil {
		return
	}
	m.mu.Lock()
	m.stats = f
	m.mu.Unlock()
}

func (m *Metrics) statsFunc() StatsFunc {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.stats
}

func (m *Metrics) read(get func() func() int) float64 {
	m.mu.Lock()
	f := get()
	m.mu.Unlock()
	if f == nil {
		return 0
	}
	return float64(f())
}

// Handler serves the registry in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg, MaxRequestsInFlight: 4})
}

// Gatherer is the registry, for tests and for adding series of one's own.
func (m *Metrics) Gatherer() prometheus.Gatherer { return m.reg }

// SetLongPollWaiters sets where longpoll_waiters is read from.
func (m *Metrics) SetLongPollWaiters(f func() int) {
	if m == nil {
		return
	}
	m.mu.Lock()
	m.waiters = f
	m.mu.Unlock()
}

// SetSSHSessions sets where ssh_sessions is read from.
func (m *Metrics) SetSSHSessions(f func() int) {
	if m == nil {
		return
	}
	m.mu.Lock()
	m.sessions = f
	m.mu.Unlock()
}

// HTTPRequest records one answered HTTP request. route must be a ServeMux
// pattern (or "unmatched"), never a path a client chose.
func (m *Metrics) HTTPRequest(route string, code int, took time.Duration) {
	if m == nil {
		return
	}
	m.httpRequests.WithLabelValues(route, strconv.Itoa(code)).Inc()
	m.httpDuration.WithLabelValues(route).Observe(took.Seconds())
}

// Authentication methods of AuthFailed.
const (
	MethodIntake = "intake" // an application's intake bearer token
	MethodClient = "client" // RFC 6749 client credentials (HTTP Basic)
	MethodSSH    = "ssh"    // an approver's SSH key or certificate
)

// AuthFailed counts one refused authentication. method is one of the
// Method constants and reason a fixed word chosen by the caller, never
// text from the client.
func (m *Metrics) AuthFailed(method, reason string) {
	if m == nil {
		return
	}
	m.authFailures.WithLabelValues(method, reason).Inc()
}

// Committed implements approvals.Observer: the commit latency of each
// write transaction this process committed. Decisions are counted from
// the audit log instead (Audited), so those of other processes count too.
func (m *Metrics) Committed(_ []approvals.AuditEvent, took time.Duration) {
	if m == nil {
		return
	}
	m.commit.Observe(took.Seconds())
}

// Audited counts the decisions and sweeper steps among audit events, fed
// by approvals.Service.FollowAudit with every event any process or node
// commits: on several nodes each reports the deployment's totals.
func (m *Metrics) Audited(events []approvals.AuditEvent) {
	if m == nil {
		return
	}
	for _, ev := range events {
		switch approvals.AuditAction(ev.Action) {
		case approvals.ActionRequestApproved:
			m.decided(ev, "approved")
		case approvals.ActionRequestDenied:
			m.decided(ev, "denied")
		case approvals.ActionRequestCancelled:
			m.decided(ev, "cancelled")
		case approvals.ActionRequestExpired:
			m.decided(ev, "expired")
			if ev.Actor == approvals.SystemSweeper {
				m.sweeper.WithLabelValues("expired").Inc()
			}
		case approvals.ActionBreakGlassUsed:
			m.decided(ev, "break_glass")
		case approvals.ActionRequestEscalated:
			if ev.Actor == approvals.SystemSweeper {
				m.sweeper.WithLabelValues("escalated").Inc()
			}
		}
	}
}

// decided counts a decision under the template its payload names.
func (m *Metrics) decided(ev approvals.AuditEvent, outcome string) {
	var p struct {
		Template string `json:"template"`
	}
	_ = json.Unmarshal(ev.Payload, &p) // no template: counted under OtherTemplate
	m.decisions.WithLabelValues(m.templateLabel(p.Template), outcome).Inc()
}

// templateLabel admits a template key as a label value while fewer than
// MaxTemplates have been seen.
func (m *Metrics) templateLabel(key string) string {
	if key == "" || len(key) > 128 {
		return OtherTemplate
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.templates[key] {
		return key
	}
	if len(m.templates) >= MaxTemplates {
		return OtherTemplate
	}
	m.templates[key] = true
	return key
}

// IntakeBatch implements approvals.Observer: the size of one intake batch.
func (m *Metrics) IntakeBatch(size int) {
	if m == nil {
		return
	}
	m.intakeBatch.Observe(float64(size))
}

// WebhookAttempts implements approvals.Observer: the outcome of a round of
// webhook deliveries.
func (m *Metrics) WebhookAttempts(delivered, failed, dead int) {
	if m == nil {
		return
	}
	m.whAttempts.WithLabelValues("delivered").Add(float64(max(delivered, 0)))
	m.whAttempts.WithLabelValues("failed").Add(float64(max(failed, 0)))
	m.whDead.Add(float64(max(dead, 0)))
}

// statsCollector reads the database gauges once per scrape.
type statsCollector struct {
	read    func() StatsFunc
	timeout time.Duration
	log     *slog.Logger

	pending, queued, dead, up *prometheus.Desc
}

func newStatsCollector(read func() StatsFunc, timeout time.Duration, log *slog.Logger) *statsCollector {
	d := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName(namespace, "", name), help, nil, nil)
	}
	return &statsCollector{read: read, timeout: timeout, log: log,
		pending: d("pending_requests", "Requests pending now."),
		queued:  d("webhook_queue_depth", "Webhook deliveries waiting to be sent or retried."),
		dead:    d("webhook_dead_deliveries", "Webhook deliveries given up on and still kept."),
		up:      d("stats_up", "1 when the scrape-time database read of the gauges worked, else 0."),
	}
}

// Describe implements prometheus.Collector.
func (c *statsCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.pending
	ch <- c.queued
	ch <- c.dead
	ch <- c.up
}

// Collect implements prometheus.Collector.
func (c *statsCollector) Collect(ch chan<- prometheus.Metric) {
	read := c.read()
	if read == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	st, err := read(ctx)
	if err != nil {
		c.log.Error("metrics: reading the database gauges", "err", err)
		ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, 0)
		return
	}
	ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, 1)
	ch <- prometheus.MustNewConstMetric(c.pending, prometheus.GaugeValue, float64(st.Pending))
	ch <- prometheus.MustNewConstMetric(c.queued, prometheus.GaugeValue, float64(st.WebhookQueued))
	ch <- prometheus.MustNewConstMetric(c.dead, prometheus.GaugeValue, float64(st.WebhookDead))
}
