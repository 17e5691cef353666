package ui

import (
	"fmt"
	"strings"
	"testing"

	tea "charm.land/bubbletea/v2"

	"github.com/jitdesk/jitdesk/approvals"
)

// collect runs cmd and what it batches, and returns the messages they
// produce without delivering them: the test decides when each arrives.
func collect(cmd tea.Cmd) []tea.Msg {
	if cmd == nil {
		return nil
	}
	switch m := cmd().(type) {
	case nil:
		return nil
	case tea.BatchMsg:
		var out []tea.Msg
		for _, c := range m {
			out = append(out, collect(c)...)
		}
		return out
	default:
		return []tea.Msg{m}
	}
}

// deliver hands msgs to the model in order and returns the commands they
// lead to, not yet run.
func deliver(h *harness, msgs ...tea.Msg) tea.Cmd {
	var cmds []tea.Cmd
	for _, m := range msgs {
		_, c := h.m.Update(m)
		cmds = append(cmds, c)
	}
	return tea.Batch(cmds...)
}

// ofType splits msgs into those of type T and the rest.
func ofType[T tea.Msg](msgs []tea.Msg) (match, rest []tea.Msg) {
	for _, m := range msgs {
		if _, ok := m.(T); ok {
			match = append(match, m)
		} else {
			rest = append(rest, m)
		}
	}
	return match, rest
}

// A change that arrives while the queue's read is in flight must neither
// cancel that read (under a steady stream of changes nothing would ever
// land: the SSH smoke test's sessions missed requests that were pending
// for only two changes) nor be coalesced away: the read in flight is shown
// when it lands, and a read that starts after the change follows it, so the
// screen ends on the store's state — rows and counts — whatever order the
// results arrive in.
func TestQueueShowsEachReadAndEndsOnTheStoreStateWhenChangesOverlapReads(t *testing.T) {
	w := newWorld(t)
	w.seedStandard()
	h := newHarness(t, w, "alex", 100, 30)
	count := func(eligible string) int {
		n, err := w.svc.Count(w.ctx, approvals.RequestQuery{Scope: approvals.ScopePending, EligibleFor: eligible, Viewer: "alex"})
		w.check(err)
		return n
	}
	needs0, pending0 := count("alex"), count("")
	mustContain(t, "start", h.plain(), fmt.Sprintf("Needs me (%d)", needs0))

	w.submit("k8s-exec", "ursula", "first live change", 0, map[string]string{"namespace": "a"})
	_, first := h.m.Update(changedMsg{})
	firstMsgs := collect(first) // read, not yet delivered: in flight
	w.submit("k8s-exec", "victor", "second live change", 0, map[string]string{"namespace": "b"})
	_, second := h.m.Update(changedMsg{}) // arrives while the first change's reads are in flight
	secondMsgs := collect(second)

	// Out of order: what the second change read (but its pages) lands
	// first, then the first change's counts, then its page.
	secondPages, secondRest := ofType[pageMsg](secondMsgs)
	followUps := []tea.Cmd{deliver(h, secondRest...)}
	counts, rest := ofType[countsMsg](firstMsgs)
	pages, rest := ofType[pageMsg](rest)
	if len(pages) != 1 || len(counts) != 1 {
		t.Fatalf("the first change read %d pages and %d counts, want 1 and 1", len(pages), len(counts))
	}
	followUps = append(followUps, deliver(h, rest...), deliver(h, counts...), deliver(h, pages...))
	f := h.plain()
	if !strings.Contains(f, "ursula") {
		t.Fatalf("the read in flight when the second change came was dropped:\n%s", f)
	}
	followUps = append(followUps, deliver(h, secondPages...))

	// Everything the second change led to, in any order, ends on the store.
	h.run(tea.Batch(followUps...))
	f = h.plain()
	needs, pending := count("alex"), count("")
	if needs != needs0+2 || pending != pending0+2 {
		t.Fatalf("the store counts %d/%d after two requests, from %d/%d", needs, pending, needs0, pending0)
	}
	mustContain(t, "after the last change", f, "ursula", "victor",
		fmt.Sprintf("Needs me (%d)", needs), fmt.Sprintf("All pending (%d)", pending))
	if h.m.queue.winLoad != 0 || h.m.queue.winStale || h.m.queue.countsBusy || h.m.queue.countsStale {
		t.Fatalf("reads left pending after everything landed: load %d stale %v counts %v/%v",
			h.m.queue.winLoad, h.m.queue.winStale, h.m.queue.countsBusy, h.m.queue.countsStale)
	}
}

// A change during a user's own reload (a new filter's first page) waits
// for that page and then reads again: the filter's rows end up current.
func TestChangeDuringAFilterReadIsReadAfterIt(t *testing.T) {
	w := newWorld(t)
	w.seedStandard()
	h := newHarness(t, w, "alex", 100, 30)
	h.key("/")
	_, typed := h.m.Update(keyMsg("m"))
	typedMsgs := collect(typed) // the filter's first page, read before mallory's request
	w.submit("k8s-exec", "mallory", "arrives during the filter read", 0, map[string]string{"namespace": "m"})
	_, change := h.m.Update(changedMsg{})
	changeMsgs := collect(change)
	h.run(tea.Batch(deliver(h, changeMsgs...), deliver(h, typedMsgs...)))
	mustContain(t, "filtered after the change", h.plain(), "mallory", "mei")
}

// A refresh asked for before the cursor moved must not pull the cursor
// back when it lands: it keeps the row selected at that moment.
func TestRefreshLandingAfterAMoveKeepsTheNewSelection(t *testing.T) {
	w := newWorld(t)
	approve, sign := w.seedStandard()
	h := newHarness(t, w, "alex", 100, 30)
	if sel, _ := h.m.queue.selected(); sel.ID != approve.ID {
		t.Fatalf("start: cursor on %s", sel.ID)
	}
	_, change := h.m.Update(changedMsg{})
	inFlight := collect(change) // read while the cursor is on the first row
	h.key("down")
	if sel, _ := h.m.queue.selected(); sel.ID != sign.ID {
		t.Fatalf("down: cursor on %s", sel.ID)
	}
	h.run(deliver(h, inFlight...))
	if sel, _ := h.m.queue.selected(); sel.ID != sign.ID {
		t.Fatalf("the refresh asked for before the move put the cursor back on %s", sel.ID)
	}
}
