package ui

import (
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/colorprofile"
	"github.com/charmbracelet/x/ansi"
	"github.com/charmbracelet/x/exp/teatest/v2"

	"github.com/jitdesk/jitdesk/approvals"
	"github.com/jitdesk/jitdesk/store"
)

func TestMain(m *testing.M) {
	// Times on screen are local; make goldens independent of the machine.
	time.Local = time.UTC
	code := m.Run()
	for _, d := range benchDirs {
		os.RemoveAll(d)
	}
	os.Exit(code)
}

// t0 is the test clock's start: Monday 2 March 2026, 14:00 UTC.
var t0 = time.Date(2026, 3, 2, 14, 0, 0, 0, time.UTC)

// world is a real store and Service seeded through the Service.
type world struct {
	t     testing.TB
	db    *store.DB
	svc   *approvals.Service
	clock *approvals.ManualClock
	ctx   context.Context
}

func newWorld(t testing.TB) *world {
	t.Helper()
	db, err := store.Open(filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	clock := approvals.NewManualClock(t0.Add(-2 * time.Hour))
	svc := approvals.New(db, approvals.Options{Clock: clock, Entropy: rand.NewChaCha8([32]byte{1, 2, 3})})
	w := &world{t: t, db: db, svc: svc, clock: clock, ctx: context.Background()}
	w.must(svc.Init(w.ctx, "test"))
	_, err = svc.CreateApplication(w.ctx, "test", "payments-api", "https://payments.example.com")
	w.check(err)
	for _, a := range []approvals.Approver{
		{Login: "alex", Name: "Alex Rivera", Groups: []string{"sre", "dba"}},
		{Login: "bob", Name: "Bob Okafor", Groups: []string{"sre", "dba"}},
		{Login: "carol", Name: "Carol Jensen", Groups: []string{"security"}},
	} {
		w.check(svc.AddApprover(w.ctx, "test", a))
	}
	w.check(svc.AddTemplate(w.ctx, "test", approvals.Template{
		Key: "k8s-exec", AppID: "payments-api", Title: "Kubernetes prod exec", Type: approvals.TypeApprove,
		Groups: []string{"sre"}, DefaultTTL: time.Hour, MaxTTL: 8 * time.Hour, PendingTimeout: 4 * time.Hour,
		Fields: []approvals.MetadataField{{Name: "namespace", Required: true}, {Name: "ticket"}},
	}))
	w.check(svc.AddTemplate(w.ctx, "test", approvals.Template{
		Key: "prod-db-write", AppID: "payments-api", Title: "Prod DB write", Type: approvals.TypeSignAndApprove,
		Groups: []string{"dba"}, DefaultTTL: 30 * time.Minute, MaxTTL: 4 * time.Hour, PendingTimeout: 2 * time.Hour,
		Fields: []approvals.MetadataField{{Name: "ticket", Required: true}, {Name: "database", Default: "payments-primary"}},
	}))
	w.check(svc.AddTemplate(w.ctx, "test", approvals.Template{
		Key: "iam-admin", AppID: "payments-api", Title: "Cloud IAM admin", Type: approvals.TypeApprove,
		Groups: []string{"security"}, DefaultTTL: 15 * time.Minute, MaxTTL: time.Hour, PendingTimeout: time.Hour,
	}))
	return w
}

func (w *world) check(err error) {
	w.t.Helper()
	if err != nil {
		w.t.Fatal(err)
	}
}

func (w *world) must(_ bool, err error) { w.t.Helper(); w.check(err) }

// submit adds a request at the current clock, then moves the clock a minute.
func (w *world) submit(tmpl, requester, reason string, ttl time.Duration, md map[string]string) approvals.Request {
	w.t.Helper()
	r, err := w.svc.Submit(w.ctx, approvals.NewRequest{TemplateKey: tmpl, Requester: requester, Reason: reason, TTL: ttl, Metadata: md})
	w.check(err)
	w.clock.Advance(time.Minute)
	return r
}

// seedStandard fills the world with a small, deterministic queue and
// history, and leaves the clock at t0.
func (w *world) seedStandard() (approve, sign approvals.Request) {
	old := w.submit("k8s-exec", "mei", "Rotate stuck cert-manager lease", 4*time.Hour, map[string]string{"namespace": "gateway"})
	d, err := w.svc.Get(w.ctx, old.ID)
	w.check(err)
	_, err = w.svc.Approve(w.ctx, approvals.ApproveInput{RequestID: old.ID, Approver: "bob", Digest: d.Digest})
	w.check(err)
	approve = w.submit("k8s-exec", "priya", "Debug OOM-killed checkout pods", 2*time.Hour, map[string]string{"namespace": "checkout", "ticket": "INC-4411"})
	sign = w.submit("prod-db-write", "tomas", "Backfill settlement rows missed by the 02:00 batch", 0, map[string]string{"ticket": "OPS-142"})
	w.submit("iam-admin", "zoe", "Remove leaked access key found by secret scanning", 0, nil)
	w.submit("k8s-exec", "mei", "Collect heap profile from api-gateway", 30*time.Minute, map[string]string{"namespace": "gateway"})
	w.clock.Set(t0)
	return approve, sign
}

// Hostile payloads every screen must render inert.
const (
	payloadOSC52  = "\x1b]52;c;ZXZpbA==\x07"
	payloadClear  = "\x1b[2J"
	payloadC1     = "\u009b31m"
	payloadBidi   = "admin\u202egnp.exe"
	payloadCR     = "rm -rf /\rls -la"
	payloadDCS    = "\x1bPq#0;2;0;0;0\x1b\\"
	payloadAPC    = "\x1b_Gf=100;AAAA\x1b\\"
	payloadHidden = "a\u200bb\u2066c\u2028d\ufeff"
)

var payloadReason = strings.Join([]string{payloadCR, payloadOSC52, payloadClear, payloadC1, payloadBidi, payloadDCS, payloadAPC, payloadHidden}, " ")

// seedHostile submits requests whose every free-text field carries payloads.
func (w *world) seedHostile() (approve, sign approvals.Request) {
	// Requesters are plain identifiers (the domain refuses controls in
	// them); every other free-text field carries the payloads.
	approve = w.submit("k8s-exec", "evil", payloadReason, 0, map[string]string{"namespace": payloadOSC52 + payloadBidi, "ticket": payloadCR})
	sign = w.submit("prod-db-write", "mallory", payloadReason+"\nsecond line "+payloadClear, 0, map[string]string{"ticket": payloadAPC})
	w.clock.Set(t0)
	return approve, sign
}

// ---- a synchronous driver for Update tests and goldens ----

// harness runs a root model without a program: commands are executed in
// turn and their messages fed back, so tests are deterministic.
type harness struct {
	t       testing.TB
	m       *Model
	effects []tea.Msg // messages for the terminal (bell, clipboard …)
}

func newHarness(t testing.TB, w *world, login string, width, height int) *harness {
	t.Helper()
	return newHarnessOpts(t, Options{Service: w.svc, Login: login, Bell: true}, width, height)
}

// newHarnessOpts is newHarness for a session with its own options (an
// agent to key-sign with, a session key).
func newHarnessOpts(t testing.TB, opts Options, width, height int) *harness {
	t.Helper()
	m := New(opts).(*Model)
	t.Cleanup(func() { m.Close() })
	h := &harness{t: t, m: m}
	h.send(tea.WindowSizeMsg{Width: width, Height: height})
	h.run(m.start())
	return h
}

var uiPkg = reflect.TypeOf(Model{}).PkgPath()

// run executes cmd and everything it leads to. Messages from outside this
// package (cursor blinks, terminal effects) are recorded, not delivered.
func (h *harness) run(cmd tea.Cmd) {
	queue := []tea.Cmd{cmd}
	for steps := 0; len(queue) > 0; steps++ {
		if steps > 10000 {
			h.t.Fatal("harness: command loop does not settle")
		}
		c := queue[0]
		queue = queue[1:]
		if c == nil {
			continue
		}
		done := make(chan tea.Msg, 1)
		go func() { done <- c() }()
		var msg tea.Msg
		select {
		case msg = <-done:
		case <-time.After(5 * time.Second):
			h.t.Logf("harness: a command did not return within 5s")
			continue // a ticker or a blocking wait
		}
		switch msg := msg.(type) {
		case nil:
		case tea.BatchMsg:
			queue = append(queue, msg...)
		case tickMsg, changedMsg:
		default:
			if reflect.TypeOf(msg).PkgPath() != uiPkg {
				h.effects = append(h.effects, msg)
				continue
			}
			_, next := h.m.Update(msg)
			queue = append(queue, next)
		}
	}
}

func (h *harness) send(msg tea.Msg) {
	h.t.Helper()
	_, cmd := h.m.Update(msg)
	h.run(cmd)
}

func (h *harness) key(keys ...string) {
	h.t.Helper()
	for _, k := range keys {
		h.send(keyMsg(k))
	}
}

func (h *harness) typeText(s string) {
	for _, r := range s {
		h.send(tea.KeyPressMsg{Code: r, Text: string(r)})
	}
}

func (h *harness) view() string { return h.m.Content() }

func (h *harness) plain() string { return ansi.Strip(h.m.Content()) }

// keyMsg builds a key press from its name as msg.String() spells it.
func keyMsg(k string) tea.KeyPressMsg {
	special := map[string]rune{
		"enter": tea.KeyEnter, "esc": tea.KeyEscape, "tab": tea.KeyTab, "space": tea.KeySpace,
		"up": tea.KeyUp, "down": tea.KeyDown, "left": tea.KeyLeft, "right": tea.KeyRight,
		"pgup": tea.KeyPgUp, "pgdown": tea.KeyPgDown, "home": tea.KeyHome, "end": tea.KeyEnd,
		"backspace": tea.KeyBackspace,
	}
	if k == "ctrl+c" {
		return tea.KeyPressMsg{Code: 'c', Mod: tea.ModCtrl}
	}
	if k == "shift+tab" {
		return tea.KeyPressMsg{Code: tea.KeyTab, Mod: tea.ModShift}
	}
	if r, ok := special[k]; ok {
		if r == tea.KeySpace {
			return tea.KeyPressMsg{Code: r, Text: " "}
		}
		return tea.KeyPressMsg{Code: r}
	}
	r := []rune(k)[0]
	return tea.KeyPressMsg{Code: r, Text: k}
}

// ---- teatest: a probe that records the latest frame ----

type probe struct {
	*Model
	mu   *sync.Mutex
	last *string
}

func (p probe) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	_, cmd := p.Model.Update(msg)
	c := p.Model.Content()
	p.mu.Lock()
	*p.last = c
	p.mu.Unlock()
	return p, cmd
}

func (p probe) frame() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return *p.last
}

// startProgram runs a console in teatest at w×h with the ASCII profile.
func startProgram(t *testing.T, wd *world, login string, w, h int) (*teatest.TestModel, probe) {
	t.Helper()
	return startProgramOpts(t, Options{Service: wd.svc, Login: login, Bell: true}, w, h)
}

// startProgramOpts is startProgram for a session with its own options.
func startProgramOpts(t *testing.T, opts Options, w, h int) (*teatest.TestModel, probe) {
	t.Helper()
	m := New(opts).(*Model)
	p := probe{Model: m, mu: &sync.Mutex{}, last: new(string)}
	tm := teatest.NewTestModel(t, p, teatest.WithInitialTermSize(w, h),
		teatest.WithProgramOptions(tea.WithColorProfile(colorprofile.Ascii)))
	t.Cleanup(func() {
		tm.Quit()
		tm.WaitFinished(t, teatest.WithFinalTimeout(5*time.Second))
		m.Close()
	})
	return tm, p
}

// waitFrame waits until the latest frame (ANSI stripped) satisfies cond.
func waitFrame(t *testing.T, p probe, what string, cond func(string) bool) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		f := ansi.Strip(p.frame())
		if cond(f) {
			return f
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; last frame:\n%s", what, f)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func waitText(t *testing.T, p probe, s string) string {
	t.Helper()
	return waitFrame(t, p, "“"+s+"”", func(f string) bool { return strings.Contains(f, s) })
}

func keys(tm *teatest.TestModel, ks ...string) {
	for _, k := range ks {
		tm.Send(keyMsg(k))
	}
}
