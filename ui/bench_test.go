package ui

import (
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	"charm.land/bubbles/v2/list"
	tea "charm.land/bubbletea/v2"

	"github.com/jitdesk/jitdesk/approvals"
)

// benchN is the queue size the benchmarks run over.
const benchN = 100_000

var (
	benchOnce  sync.Once
	benchWorld *world
	benchErr   error
)

// bigWorld seeds benchN pending requests once, through the Service's rules
// and the store's batch path.
func bigWorld(b *testing.B) *world {
	benchOnce.Do(func() {
		w := newWorld(&onceTB{TB: b})
		const batch = 10_000
		start := t0.Add(-time.Hour)
		templates := []string{"k8s-exec", "prod-db-write"}
		for done := 0; done < benchN; done += batch {
			ins := make([]approvals.NewRequest, batch)
			at := make([]time.Time, batch)
			for i := range ins {
				k := done + i
				tmpl := templates[k%2]
				md := map[string]string{"namespace": "checkout"}
				if tmpl == "prod-db-write" {
					md = map[string]string{"ticket": fmt.Sprintf("OPS-%d", k)}
				}
				ins[i] = approvals.NewRequest{TemplateKey: tmpl, Requester: fmt.Sprintf("user%05d", k), Reason: fmt.Sprintf("reason number %d for access", k), Metadata: md}
				at[i] = start.Add(time.Duration(k) * 30 * time.Millisecond)
			}
			rs, evs, err := w.svc.PrepareRequests(w.ctx, ins, at)
			if err != nil {
				benchErr = err
				return
			}
			if err := w.db.BulkInsertRequests(w.ctx, rs, evs); err != nil {
				benchErr = err
				return
			}
		}
		w.clock.Set(t0)
		benchWorld = w
	})
	if benchErr != nil {
		b.Fatal(benchErr)
	}
	return benchWorld
}

// onceTB keeps the seeded world alive across benchmarks: its temp dir and
// cleanups belong to the process, not to the first benchmark.
type onceTB struct{ testing.TB }

func (o *onceTB) TempDir() string {
	d, err := osMkdirTemp()
	if err != nil {
		o.TB.Fatal(err)
	}
	benchDirs = append(benchDirs, d) // removed by TestMain after the run
	return d
}

// benchDirs are the seeded databases' folders, removed when the run ends.
var benchDirs []string

func (o *onceTB) Cleanup(func()) {}

func benchConsole(b *testing.B) *harness {
	w := bigWorld(b)
	h := newHarness(b, w, "alex", 120, 40)
	if len(h.m.queue.win.rows) == 0 {
		b.Fatal("queue did not load")
	}
	return h
}

// BenchmarkQueueView renders the console's queue frame over 100,000 pending requests.
func BenchmarkQueueView(b *testing.B) {
	h := benchConsole(b)
	b.ResetTimer()
	for b.Loop() {
		_ = h.m.View()
	}
}

// BenchmarkQueueMove is one cursor move (Update + View), the cost of a keystroke.
// Prefetches the move triggers run in the background as in the program.
func BenchmarkQueueMove(b *testing.B) {
	h := benchConsole(b)
	down := keyMsg("down")
	b.ResetTimer()
	for b.Loop() {
		_, cmd := h.m.Update(down)
		_ = h.m.View()
		if cmd != nil {
			b.StopTimer()
			h.run(cmd) // page fetches: asynchronous in the program
			if len(h.m.queue.win.rows)-h.m.queue.win.sel < 2 {
				h.key("home")
			}
			b.StartTimer()
		}
	}
}

// benchFilter measures one filter keystroke: the store query it starts,
// the page it returns, and the new frame. Keystrokes alternate between
// appending last and deleting it, so every one changes the query.
func benchFilter(b *testing.B, prefix string, last rune) {
	h := benchConsole(b)
	h.key("/")
	h.typeText(prefix)
	b.ResetTimer()
	i := 0
	for b.Loop() {
		if i%2 == 0 {
			h.send(tea.KeyPressMsg{Code: last, Text: string(last)})
		} else {
			h.send(keyMsg("backspace"))
		}
		_ = h.m.View()
		i++
	}
}

// A filter that matches many requests ("user1" → "user12"): the first page
// fills quickly from the (status, created_at) index.
func BenchmarkQueueFilterKeystroke(b *testing.B) { benchFilter(b, "user1", '2') }

// A filter that matches nothing ("zzq" → "zzqx"): from three characters the
// store answers from its trigram index instead of scanning every pending row.
func BenchmarkQueueFilterKeystrokeNoMatch(b *testing.B) { benchFilter(b, "zzq", 'x') }

// The worst case left: a two-character filter that matches nothing ("z" →
// "zz"). The trigram index needs three characters, so this still scans every
// pending row with LIKE.
func BenchmarkQueueFilterKeystrokeShortNoMatch(b *testing.B) { benchFilter(b, "z", 'z') }

// BenchmarkQueueFilterKeystrokeUpdate is the part of a filter keystroke
// that runs on the program's goroutine: Update (which starts the store query
// in a tea.Cmd, cancelling the superseded one) and the next frame. The query
// itself runs off that goroutine; the benchmarks above include it.
func BenchmarkQueueFilterKeystrokeUpdate(b *testing.B) {
	h := benchConsole(b)
	h.key("/")
	h.typeText("user1") // its first page is shown while the next is fetched
	b.ResetTimer()
	i := 0
	for b.Loop() {
		var msg tea.Msg = tea.KeyPressMsg{Code: '2', Text: "2"}
		if i%2 == 1 {
			msg = keyMsg("backspace")
		}
		_, _ = h.m.Update(msg) // the returned fetch is not run
		_ = h.m.View()
		i++
	}
}

// ---- the baseline: bubbles/v2 list.Model holding the same items ----

type listItem struct{ r approvals.Request }

func (i listItem) FilterValue() string {
	return i.r.Requester + " " + i.r.TemplateTitle + " " + i.r.Reason
}
func (i listItem) Title() string       { return i.r.Requester + " · " + i.r.TemplateTitle }
func (i listItem) Description() string { return i.r.Reason }

func baselineList(b *testing.B) list.Model {
	w := bigWorld(b)
	items := make([]list.Item, 0, benchN)
	var after *approvals.Cursor
	for {
		page, err := w.svc.List(w.ctx, approvals.RequestQuery{Scope: approvals.ScopePending, After: after, Limit: 500})
		if err != nil {
			b.Fatal(err)
		}
		for _, r := range page {
			items = append(items, listItem{r})
		}
		if len(page) < 500 {
			break
		}
		c := approvals.Cursor{At: page[len(page)-1].CreatedAt, ID: page[len(page)-1].ID}
		after = &c
	}
	return list.New(items, list.NewDefaultDelegate(), 120, 40)
}

func BenchmarkBaselineListView(b *testing.B) {
	l := baselineList(b)
	b.ResetTimer()
	for b.Loop() {
		_ = l.View()
	}
}

func BenchmarkBaselineListMove(b *testing.B) {
	l := baselineList(b)
	down := keyMsg("down")
	b.ResetTimer()
	for b.Loop() {
		l, _ = l.Update(down)
		_ = l.View()
	}
}

// BenchmarkBaselineListFilterKeystroke is one filter edit in the baseline
// list: it fuzzy-matches all 100,000 items ("user1" ↔ "user12"), then
// renders.
func BenchmarkBaselineListFilterKeystroke(b *testing.B) {
	l := baselineList(b)
	l.SetFilterText("user1")
	b.ResetTimer()
	i := 0
	for b.Loop() {
		if i%2 == 0 {
			l.SetFilterText("user12")
		} else {
			l.SetFilterText("user1")
		}
		_ = l.View()
		i++
	}
}

var _ = io.Discard
