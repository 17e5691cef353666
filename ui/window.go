package ui

import (
	"slices"

	"github.com/jitdesk/jitdesk/approvals"
)

// keysetWindow is the part of a keyset-paged list that is held in memory:
// at most maxRows rows, whether they reach either end of the order, the
// cursor and the first visible row for a list height. It knows nothing of
// Bubble Tea or the store: the queue asks it what to fetch and hands it
// the pages that arrive.
type keysetWindow struct {
	rows           []approvals.Request
	atStart, atEnd bool
	sel, top       int
	height         int // rows visible at once
	max            int // rows kept at most
}

func newKeysetWindow(maxRows int) keysetWindow {
	return keysetWindow{atStart: true, max: maxRows, height: 1}
}

// reset empties the window (a new tab or filter).
func (w *keysetWindow) reset() {
	w.rows, w.sel, w.top, w.atStart, w.atEnd = nil, 0, 0, true, false
}

// setHeight changes how many rows are visible.
func (w *keysetWindow) setHeight(h int) {
	w.height = max(h, 1)
	w.clamp()
}

// selected is the row under the cursor.
func (w *keysetWindow) selected() (approvals.Request, bool) {
	if w.sel < 0 || w.sel >= len(w.rows) {
		return approvals.Request{}, false
	}
	return w.rows[w.sel], true
}

// visible is the range of rows on screen, [from, to).
func (w *keysetWindow) visible() (from, to int) {
	return w.top, min(w.top+w.height, len(w.rows))
}

// clamp keeps the cursor on a row and the visible rows around it.
func (w *keysetWindow) clamp() {
	w.sel = min(w.sel, len(w.rows)-1)
	w.sel = max(w.sel, 0)
	if w.sel < w.top {
		w.top = w.sel
	}
	if w.sel >= w.top+w.height {
		w.top = w.sel - w.height + 1
	}
	w.top = min(w.top, max(0, len(w.rows)-w.height))
	w.top = max(w.top, 0)
}

// move moves the cursor by delta rows (clamped to what is loaded).
func (w *keysetWindow) move(delta int) {
	if len(w.rows) == 0 {
		return
	}
	w.sel += delta
	w.clamp()
}

// selectRow puts the cursor on row i of the window.
func (w *keysetWindow) selectRow(i int) {
	w.sel = i
	w.clamp()
}

// wantNext and wantPrev report whether the neighbouring page should be
// fetched: the cursor is within margin rows of that end of what is loaded
// and the window does not reach the end of the order there.
func (w *keysetWindow) wantNext(margin int) bool {
	return !w.atEnd && len(w.rows) > 0 && w.sel >= len(w.rows)-margin
}

func (w *keysetWindow) wantPrev(margin int) bool {
	return !w.atStart && len(w.rows) > 0 && w.sel < margin
}

// first and last are the rows at the window's ends (for the next cursors).
func (w *keysetWindow) first() approvals.Request { return w.rows[0] }
func (w *keysetWindow) last() approvals.Request  { return w.rows[len(w.rows)-1] }

// apply puts a fetched page in the window. full says the page had as many
// rows as asked (so the order may go on past it). For pageRefresh, keepID
// is the row the cursor stays on when it is still there, and fromTop says
// the page was read from the start of the order.
func (w *keysetWindow) apply(kind pageKind, rows []approvals.Request, full bool, keepID string, fromTop bool) {
	rows = ownRoom(rows)
	switch kind {
	case pageFirst:
		w.rows, w.atStart, w.atEnd, w.sel, w.top = rows, true, !full, 0, 0
	case pageLast:
		w.rows, w.atEnd, w.atStart = rows, true, !full
		w.sel = len(rows) - 1
		w.top = len(rows)
	case pageNext:
		w.rows = append(w.rows, rows...)
		w.atEnd = !full
		if drop := len(w.rows) - w.max; drop > 0 {
			w.rows = append([]approvals.Request(nil), w.rows[drop:]...)
			w.sel -= drop
			w.top -= drop
			w.atStart = false
		}
	case pagePrev:
		n := len(rows)
		all := make([]approvals.Request, 0, n+len(w.rows))
		all = append(append(all, rows...), w.rows...)
		w.rows = all
		w.sel += n
		w.top += n
		w.atStart = !full
		if len(w.rows) > w.max {
			w.rows = w.rows[:w.max]
			w.atEnd = false
		}
	case pageRefresh:
		w.rows = rows
		w.atEnd = !full
		if fromTop {
			w.atStart = true
		}
		for i, r := range w.rows {
			if r.ID == keepID {
				w.top += i - w.sel
				w.sel = i
				break
			}
		}
	}
	w.clamp()
}

// ownRoom returns rows in an array of their own size when theirs is much larger:
// a page arrives in room for a full page (the store sizes it to the limit
// asked), and a window that keeps a short one (a few pending requests, as
// usual) would otherwise hold the whole page's room for the session's life.
func ownRoom(rows []approvals.Request) []approvals.Request {
	if cap(rows)-len(rows) <= len(rows)/4+4 {
		return rows
	}
	return slices.Clone(rows)
}
