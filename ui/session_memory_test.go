package ui

import (
	"fmt"
	"image/color"
	"reflect"
	"testing"

	tea "charm.land/bubbletea/v2"

	"github.com/jitdesk/jitdesk/approvals"
)

// Sessions that share one Shared draw exactly what sessions with their own
// copies draw, one session's light background does not restyle another, and
// nothing a session does (relabelled help, screens opened, a background
// answer) changes the shared values.
func TestSessionsSharingStylesAndKeysDrawAsIfAlone(t *testing.T) {
	w := newWorld(t)
	w.seedStandard()
	sh := NewShared()
	shared := func(login string) *harness {
		return newHarnessOpts(t, Options{Service: w.svc, Login: login, Bell: true, Shared: sh}, 120, 40)
	}
	alone := func(login string) *harness {
		return newHarnessOpts(t, Options{Service: w.svc, Login: login, Bell: true}, 120, 40)
	}
	lightShared, lightAlone := shared("alex"), alone("alex")
	darkShared, darkAlone := shared("bob"), alone("bob")

	for _, h := range []*harness{lightShared, lightAlone} {
		h.send(tea.BackgroundColorMsg{Color: color.White})
	}
	// Screens that relabel bindings in their help: a review (enter), the
	// help overlay (?), a confirm (a).
	for _, h := range []*harness{lightShared, lightAlone, darkShared, darkAlone} {
		h.key("enter", "?")
	}
	if got, want := lightShared.view(), lightAlone.view(); got != want {
		t.Errorf("light session sharing styles draws differently from one with its own:\n%s\n---\n%s", got, want)
	}
	if got, want := darkShared.view(), darkAlone.view(); got != want {
		t.Errorf("dark session sharing styles draws differently from one with its own (restyled by another session?):\n%s\n---\n%s", got, want)
	}
	if lightShared.view() == darkShared.view() {
		t.Error("light and dark sessions draw the same: the comparison above proves nothing")
	}
	for _, h := range []*harness{lightShared, darkShared} {
		h.key("?", "a")
		_ = h.view()
	}
	if !reflect.DeepEqual(*sh.keys, *DefaultKeyMap()) {
		t.Error("a session changed the shared key bindings")
	}
	if !reflect.DeepEqual(*sh.dark, *NewStyles(true)) || !reflect.DeepEqual(*sh.light, *NewStyles(false)) {
		t.Error("a session changed the shared styles")
	}
}

// A short page (the store hands it over in room for a full one) is kept in
// room of its own size, and every row is still there in order.
func TestWindowKeepsAShortPageWithoutTheFullPagesRoom(t *testing.T) {
	page := make([]approvals.Request, 3, pageSize)
	for i := range page {
		page[i].ID = fmt.Sprintf("r%d", i)
	}
	for _, kind := range []pageKind{pageFirst, pageLast, pageRefresh} {
		w := &keysetWindow{height: 10, max: maxRows}
		w.apply(kind, page, false, "", true)
		if cap(w.rows) >= pageSize {
			t.Errorf("kind %d: the window holds room for %d rows to show %d", kind, cap(w.rows), len(w.rows))
		}
		if got := len(w.rows); got != 3 || w.rows[0].ID != "r0" || w.rows[2].ID != "r2" {
			t.Errorf("kind %d: rows %v, want r0 r1 r2", kind, w.rows)
		}
	}
	full := make([]approvals.Request, pageSize)
	w := &keysetWindow{height: 10, max: maxRows}
	w.apply(pageFirst, full, true, "", true)
	if &w.rows[0] != &full[0] {
		t.Error("a full page was copied: only short ones need their own room")
	}
}
