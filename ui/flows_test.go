package ui

import (
	"strings"
	"testing"

	tea "charm.land/bubbletea/v2"

	"github.com/jitdesk/jitdesk/approvals"
	"github.com/jitdesk/jitdesk/approvals/signature"
)

// Flows run the console in a real Bubble Tea program (teatest) against a
// real SQLite store, driving it with keys and mouse events and checking the
// screen and the Service's state.

func approvedWithToken(t *testing.T, w *world, id string) approvals.Detail {
	t.Helper()
	d, err := w.svc.Get(w.ctx, id)
	w.check(err)
	if d.Request.Status != approvals.StatusApproved || d.Grant == nil {
		t.Fatalf("request %s: status %s, grant %v", id, d.Request.Status, d.Grant)
	}
	if d.Grant.Token != "" {
		t.Fatal("Service.Get handed out a bearer token")
	}
	g, err := w.svc.RevealToken(w.ctx, approvals.RevealInput{ID: id, Viewer: "alex", Use: approvals.TokenShown})
	w.check(err)
	if _, err := w.svc.VerifyToken(w.ctx, g.Token, ""); err != nil {
		t.Fatalf("issued token does not verify: %v", err)
	}
	d.Grant.Token = g.Token // the revealed token, for the caller's checks
	return d
}

func TestFlowApprove(t *testing.T) {
	w := newWorld(t)
	approve, _ := w.seedStandard()
	tm, p := startProgram(t, w, "alex", 100, 30)
	waitQueue(t, p)
	keys(tm, "enter")
	waitText(t, p, "Debug OOM-killed checkout pods")
	keys(tm, "a")
	waitText(t, p, "Approve this access?")
	keys(tm, "y")
	f := waitText(t, p, "valid — signed by kid")
	mustContain(t, "token", f, "Access token for priya", "active until 2026-03-02 16:00:00", `"alg": "EdDSA"`)
	approvedWithToken(t, w, approve.ID)
}

func TestFlowSignAndApproveDrawn(t *testing.T) {
	w := newWorld(t)
	_, sign := w.seedStandard()
	tm, p := startProgram(t, w, "alex", 100, 30)
	waitQueue(t, p)
	keys(tm, "down", "enter")
	waitText(t, p, "Backfill settlement rows")
	keys(tm, "a")
	f := waitText(t, p, "Sign to approve")
	mustContain(t, "pad", f, "I approve JIT access for tomas to Prod DB write for 30m — request "+sign.ID[:10], "Signed by Alex Rivera (alex)")
	top := -1
	for i, l := range strings.Split(f, "\n") {
		if strings.HasPrefix(l, "╭") {
			top = i
			break
		}
	}
	if top < 0 {
		t.Fatalf("no canvas on screen:\n%s", f)
	}
	// A zig-zag stroke: press, drag across the pad, release.
	y0 := top + 2
	tm.Send(tea.MouseClickMsg{X: 4, Y: y0, Button: tea.MouseLeft})
	for i := 1; i <= 30; i++ {
		tm.Send(tea.MouseMotionMsg{X: 4 + i, Y: y0 + (i/3)%3, Button: tea.MouseLeft})
	}
	tm.Send(tea.MouseReleaseMsg{X: 34, Y: y0 + 1, Button: tea.MouseLeft})
	// A second stroke underneath.
	tm.Send(tea.MouseClickMsg{X: 6, Y: y0 + 4, Button: tea.MouseLeft})
	tm.Send(tea.MouseMotionMsg{X: 20, Y: y0 + 4, Button: tea.MouseLeft})
	tm.Send(tea.MouseReleaseMsg{X: 20, Y: y0 + 4, Button: tea.MouseLeft})
	keys(tm, "enter")
	f = waitText(t, p, "Approve this access?")
	mustContain(t, "confirm", f, "drawn by Alex Rivera", "[ Sign and Approve ]")
	keys(tm, "y")
	waitText(t, p, "valid — signed by kid")
	d := approvedWithToken(t, w, sign.ID)
	if len(d.Reviews) != 1 || d.Reviews[0].SignatureDigest == "" {
		t.Fatalf("review without a signature: %+v", d.Reviews)
	}
	// The stored signature is the two mouse strokes, in time order, bound
	// to the request the approver saw.
	sig := storedSignature(t, w, sign.ID)
	if sig.Kind != signature.Drawn || len(sig.Strokes) != 2 || sig.RequestDigest != d.Digest || sig.PrintedName != "Alex Rivera" {
		t.Fatalf("stored signature: kind %s, %d strokes, digest %s (want %s), name %q", sig.Kind, len(sig.Strokes), sig.RequestDigest, d.Digest, sig.PrintedName)
	}
	if n := len(sig.Strokes[0]); n < 10 {
		t.Fatalf("first stroke has %d points; the drag had 32 events", n)
	}
	var last int64
	for _, st := range sig.Strokes {
		for _, pt := range st {
			if pt.T < last {
				t.Fatalf("point times go backwards: %v", sig.Strokes)
			}
			last = pt.T
		}
	}
}

// storedSignature reads the one signature recorded for a request from the
// store (the Service has no reader for it) and decodes it strictly.
func storedSignature(t *testing.T, w *world, requestID string) signature.Signature {
	t.Helper()
	var stored []approvals.StoredSignature
	w.check(w.db.View(w.ctx, func(tx approvals.ReadTx) error {
		var err error
		stored, err = tx.Signatures(requestID)
		return err
	}))
	if len(stored) != 1 {
		t.Fatalf("%d signatures stored for %s", len(stored), requestID)
	}
	sig, err := signature.Decode(stored[0].Canonical)
	w.check(err)
	return sig
}

func TestFlowSignAndApproveTyped(t *testing.T) {
	w := newWorld(t)
	_, sign := w.seedStandard()
	tm, p := startProgram(t, w, "alex", 80, 24)
	waitQueue(t, p)
	keys(tm, "down", "enter")
	waitText(t, p, "Backfill settlement rows")
	keys(tm, "a")
	waitText(t, p, "Sign to approve")
	keys(tm, "tab")
	tm.Type("alex   rivera")
	waitText(t, p, "your full name: alex   rivera")
	keys(tm, "enter")
	f := waitText(t, p, "Approve this access?")
	mustContain(t, "confirm", f, "typed by Alex Rivera")
	keys(tm, "tab", "enter")
	waitText(t, p, "valid — signed by kid")
	d := approvedWithToken(t, w, sign.ID)
	if d.Reviews[0].SignatureDigest == "" {
		t.Fatal("no signature recorded")
	}
	if sig := storedSignature(t, w, sign.ID); sig.Kind != signature.Typed || sig.Text != "alex   rivera" || sig.Font != signature.DefaultFont || len(sig.Strokes) != 0 {
		t.Fatalf("stored typed signature: %+v", sig)
	}
}

func TestFlowDenyWithComment(t *testing.T) {
	w := newWorld(t)
	approve, _ := w.seedStandard()
	tm, p := startProgram(t, w, "alex", 80, 24)
	waitQueue(t, p)
	keys(tm, "enter")
	waitText(t, p, "Debug OOM-killed")
	keys(tm, "d")
	waitText(t, p, "deny because:")
	keys(tm, "enter")
	waitText(t, p, "a comment is required")
	tm.Type("use the runbook, not exec")
	keys(tm, "enter")
	waitText(t, p, "Deny this request?")
	keys(tm, "y")
	waitText(t, p, "denied priya's request")
	waitText(t, p, "Needs me (2)")
	d, err := w.svc.Get(w.ctx, approve.ID)
	w.check(err)
	if d.Request.Status != approvals.StatusDenied || d.Reviews[0].Comment != "use the runbook, not exec" {
		t.Fatalf("status %s, reviews %+v", d.Request.Status, d.Reviews)
	}
}

func TestFlowDecidedElsewhere(t *testing.T) {
	w := newWorld(t)
	approve, _ := w.seedStandard()
	tm, p := startProgram(t, w, "alex", 80, 24)
	waitQueue(t, p)
	keys(tm, "enter")
	waitText(t, p, "Debug OOM-killed")
	d, err := w.svc.Get(w.ctx, approve.ID)
	w.check(err)
	_, err = w.svc.Approve(w.ctx, approvals.ApproveInput{RequestID: approve.ID, Approver: "bob", Digest: d.Digest})
	w.check(err)
	waitText(t, p, "Approved by bob at 14:00 — no action possible")
	keys(tm, "a")
	waitText(t, p, "no action possible: this request was approved by bob at 14:00")
	keys(tm, "esc")
	// The counts and the rows refresh in separate store reads; wait for a
	// frame where both have caught up (waitFrame fails the test if none does).
	waitFrame(t, p, "Needs me (2) without priya's request", func(f string) bool {
		return strings.Contains(f, "Needs me (2)") && !strings.Contains(f, "priya")
	})
}

func TestFlowLiveArrival(t *testing.T) {
	w := newWorld(t)
	w.seedStandard()
	_, p := startProgram(t, w, "alex", 100, 30)
	waitQueue(t, p)
	w.submit("k8s-exec", "grace", "Inspect failing readiness probe on search-indexer", 0, map[string]string{"namespace": "search"})
	// Counts and rows are separate reads: wait for both to catch up.
	waitFrame(t, p, "the new request counted and listed", func(f string) bool {
		return strings.Contains(f, "Needs me (4)") && strings.Contains(f, "grace")
	})
	waitText(t, p, "new request from grace")
}

// From History, alex opens the grant bob's approval issued: he sees its
// facts and state but never the token (the screen says who may), c copies
// nothing, and r revokes only after a confirm; the revoked grant then
// says so everywhere it shows.
func TestFlowTokenFromHistoryIsFactsOnlyAndRevokeAsksFirst(t *testing.T) {
	w := newWorld(t)
	w.seedStandard()
	tm, p := startProgram(t, w, "alex", 100, 30)
	waitQueue(t, p)
	keys(tm, "tab", "tab")
	waitText(t, p, "approved bob")
	keys(tm, "v")
	f := waitText(t, p, "The token is not shown to you")
	mustContain(t, "token facts", f, "Access token for mei · k8s-exec", "active until", "(bob)", "grant ")
	if strings.Contains(f, "eyJ") || strings.Contains(f, "valid — signed by kid") {
		t.Fatalf("a viewer whose approval did not issue the grant sees its token:\n%s", f)
	}
	keys(tm, "c")
	waitText(t, p, "The token is not shown to you")
	keys(tm, "r")
	waitText(t, p, "revoke because:")
	tm.Type("incident closed")
	keys(tm, "enter")
	f = waitText(t, p, "Revoke this grant?")
	mustContain(t, "revoke confirm", f, "[ Cancel ]", "[ Revoke ]", "incident closed")
	keys(tm, "y")
	f = waitText(t, p, "REVOKED by alex at 14:00: incident closed")
	mustContain(t, "revoked token", f, "no longer valid (revoked)")
	decided, err := w.svc.List(w.ctx, approvals.RequestQuery{Scope: approvals.ScopeDecided, Limit: 1})
	w.check(err)
	d, err := w.svc.Get(w.ctx, decided[0].ID)
	w.check(err)
	if d.Grant == nil || !d.Grant.Revoked() || d.Grant.RevokeReason != "incident closed" || d.Grant.RevokedBy != "alex" {
		t.Fatalf("grant after revoke: %+v", d.Grant)
	}
	keys(tm, "esc")
	waitFrame(t, p, "History marks the grant revoked", func(f string) bool { return strings.Contains(f, "REVOKED") && strings.Contains(f, "approved bob") })
}

// waitQueue waits for the first queue page and the counts (they load separately).
func waitQueue(t *testing.T, p probe) {
	t.Helper()
	waitFrame(t, p, "the queue", func(f string) bool {
		return strings.Contains(f, "Needs me (3)") && strings.Contains(f, "› 1h   priya")
	})
}
