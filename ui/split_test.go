package ui

import (
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/colorprofile"
	"github.com/charmbracelet/x/ansi"
	"github.com/charmbracelet/x/exp/teatest/v2"

	"github.com/jitdesk/jitdesk/approvals"
)

// recorder is a probe that keeps every frame the program draws, so a test
// can check a rule on all of them, not only on the ones it waited for.
type recorder struct {
	*Model
	mu     *sync.Mutex
	frames *[]string
}

func (r recorder) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	_, cmd := r.Model.Update(msg)
	f := ansi.Strip(r.Model.Content())
	r.mu.Lock()
	*r.frames = append(*r.frames, f)
	r.mu.Unlock()
	return r, cmd
}

func (r recorder) all() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), *r.frames...)
}

func (r recorder) last() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(*r.frames) == 0 {
		return ""
	}
	return (*r.frames)[len(*r.frames)-1]
}

// waitFor waits for a frame satisfying cond: the program's own frames are
// the events (the deadline only turns a hang into a failure).
func (r recorder) waitFor(t *testing.T, what string, cond func(string) bool) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if f := r.last(); cond(f) {
			return f
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; last frame:\n%s", what, r.last())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

var (
	highlightRe = regexp.MustCompile(`^›\S*\s+\S+\s+(\S+)`)
	requesterRe = regexp.MustCompile(`^\s*Requester\s+(\S+)`)
)

// splitPanes reads a frame of the split view: the requester of the
// highlighted row on the left and the requester the right pane shows
// (empty while it loads). split is false when the frame is one pane.
func splitPanes(frame string) (highlight, detail string, split bool) {
	for i, line := range strings.Split(frame, "\n") {
		if i == 0 {
			continue // the header
		}
		left, right, ok := strings.Cut(line, " │ ")
		if !ok {
			continue
		}
		split = true
		if m := highlightRe.FindStringSubmatch(left); m != nil && highlight == "" {
			highlight = m[1]
		}
		if m := requesterRe.FindStringSubmatch(right); m != nil && detail == "" {
			detail = m[1]
		}
	}
	return highlight, detail, split
}

// At 120×40, approving from the split view never leaves the list and the
// detail on different requests: the token takes the whole width, and when
// it closes the detail beside the list is the highlighted request's (the
// approved one left the list; a note says where its token is). j then
// moves the list, and the detail follows. Every frame drawn on the way is
// checked, not only the ones waited for.
func TestFlowWideApproveKeepsHighlightAndDetailTogether(t *testing.T) {
	w := newWorld(t)
	w.seedStandard()
	m := New(Options{Service: w.svc, Login: "alex"}).(*Model)
	rec := recorder{Model: m, mu: &sync.Mutex{}, frames: new([]string)}
	tm := teatest.NewTestModel(t, rec, teatest.WithInitialTermSize(120, 40),
		teatest.WithProgramOptions(tea.WithColorProfile(colorprofile.Ascii)))
	t.Cleanup(func() {
		tm.Quit()
		tm.WaitFinished(t, teatest.WithFinalTimeout(5*time.Second))
		m.Close()
	})
	paired := func(hl string) func(string) bool {
		return func(f string) bool {
			h, d, split := splitPanes(f)
			return split && h == hl && d == hl
		}
	}
	rec.waitFor(t, "the queue's rows", func(f string) bool { return strings.Contains(f, "› 1h   priya") })
	keys(tm, "enter")
	rec.waitFor(t, "priya's review beside the list", paired("priya"))
	keys(tm, "a")
	rec.waitFor(t, "the confirm", func(f string) bool { return strings.Contains(f, "Approve this access?") })
	keys(tm, "y")
	f := rec.waitFor(t, "the token, full width, after the list lost priya", func(f string) bool {
		return strings.Contains(f, "Access token for priya") && strings.Contains(f, "needs me 2")
	})
	if _, _, split := splitPanes(f); split {
		t.Fatalf("the token is shown beside the list:\n%s", f)
	}
	keys(tm, "esc")
	f = rec.waitFor(t, "tomas's review beside the list", paired("tomas"))
	mustContain(t, "note", f, "approved priya's request — token: press v on it in History")
	keys(tm, "j")
	rec.waitFor(t, "j moved the list to mei, the detail with it", paired("mei"))
	keys(tm, "k")
	rec.waitFor(t, "k moved the list back to tomas", paired("tomas"))

	frames := rec.all()
	for i, f := range frames {
		if h, d, split := splitPanes(f); split && h != "" && d != "" && h != d {
			t.Fatalf("frame %d of %d: the list highlights %s, the detail shows %s:\n%s", i, len(frames), h, d, f)
		}
	}
}

// When the request under review beside the list is decided elsewhere and
// leaves the list, the detail moves with the highlight and says why.
func TestSplitDetailFollowsWhenTheReviewedRequestLeavesTheList(t *testing.T) {
	w := newWorld(t)
	approve, sign := w.seedStandard()
	approveElsewhere := func(id string) {
		d, err := w.svc.Get(w.ctx, id)
		w.check(err)
		_, err = w.svc.Approve(w.ctx, approvals.ApproveInput{RequestID: id, Approver: "bob", Digest: d.Digest})
		w.check(err)
	}
	h := newHarness(t, w, "alex", 160, 48)
	h.key("enter")
	approveElsewhere(approve.ID)
	h.send(changedMsg{})
	rv, ok := h.m.top().(*reviewScreen)
	if !ok || rv.id != sign.ID {
		t.Fatalf("after priya's request left the list the detail shows %T %v", h.m.top(), rv)
	}
	f := h.plain()
	if hl, d, split := splitPanes(f); !split || hl != "tomas" || d != "tomas" {
		t.Fatalf("list on %q, detail on %q (split %v):\n%s", hl, d, split, f)
	}
	mustContain(t, "note", f, "priya's request was approved by bob — it is in History")

	// A comment being typed is closed by the review itself once the
	// request is decided elsewhere; then the detail follows too.
	h.key("d")
	h.typeText("wait")
	d, err := w.svc.Get(w.ctx, sign.ID)
	w.check(err)
	_, err = w.svc.Deny(w.ctx, approvals.DenyInput{RequestID: sign.ID, Approver: "bob", Digest: d.Digest, Comment: "not now"})
	w.check(err)
	h.send(changedMsg{})
	f = h.plain()
	if hl, d, split := splitPanes(f); !split || hl != "mei" || d != "mei" {
		t.Fatalf("after tomas's request was denied: list on %q, detail on %q (split %v):\n%s", hl, d, split, f)
	}
	mustContain(t, "note", f, "tomas's request was denied by bob — it is in History")
}
