package server

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jitdesk/jitdesk/approvals"
)

// errTooManyWaiters is returned when the long-poll hub is full.
var errTooManyWaiters = errors.New("too many clients are waiting on request status")

// waitHub serves every status long-poll from one store subscription. A
// waiter registers the request id and the state it last saw. On each change
// signal the hub reads the audit events appended since its last look (one
// query, whatever the number of waiters: every decision, review, cancel and
// expiry appends an event whose subject is the request id, in the same
// transaction as the change) and re-reads only the watched requests named
// there, waking the waiters whose request changed. When it cannot tell what
// changed (the first round, a backlog beyond a few pages, an audit read
// error) it re-reads every watched request once. Waiters do no work of their
// own while they wait, so a thousand idle long-polls cost a thousand parked
// goroutines and nothing else, and a busy intake (every commit is a change
// signal) costs one audit page per round.
type waitHub struct {
	svc        *approvals.Service
	maxWaiters int
	readers    int // concurrent reads per round

	startOnce sync.Once
	kick      chan struct{} // a round is wanted even without a store change

	mu      sync.Mutex
	gen     uint64 // bumped when a round starts; see add
	n       int
	waiters map[string]map[*waiter]struct{} // request id → waiters
	recheck map[string]bool                 // ids to re-read next round whatever the audit says

	lastSeq int64 // newest audit event accounted for; 0 = unknown (run goroutine; reset under mu)
	reads   atomic.Int64
}

// Audit pages a round may read before falling back to re-reading every
// watched request.
const (
	hubAuditFirstPage = 32
	hubAuditPage      = 256
	hubAuditPages     = 4
)

// waiter is one parked long-poll.
type waiter struct {
	seen approvals.Request
	done chan approvals.Detail // buffered 1; receives the changed request
}

func newWaitHub(svc *approvals.Service, maxWaiters int) *waitHub {
	return &waitHub{
		svc:        svc,
		maxWaiters: maxWaiters,
		readers:    8,
		kick:       make(chan struct{}, 1),
		waiters:    map[string]map[*waiter]struct{}{},
		recheck:    map[string]bool{},
	}
}

// generation returns the current round generation. Read it before reading
// the state a waiter will register with.
func (h *waitHub) generation() uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.gen
}

// add parks a waiter for id, which was seen in state seen after generation
// gen was read. If a round moved the generation since (it may have consumed
// a change between the read and this call), the request is re-read in
// another round, so no change is ever missed.
func (h *waitHub) add(id string, seen approvals.Request, gen uint64) (*waiter, error) {
	h.startOnce.Do(func() { go h.run() })
	w := &waiter{seen: seen, done: make(chan approvals.Detail, 1)}
	h.mu.Lock()
	if h.n >= h.maxWaiters {
		h.mu.Unlock()
		return nil, errTooManyWaiters
	}
	set := h.waiters[id]
	if set == nil {
		set = map[*waiter]struct{}{}
		h.waiters[id] = set
	}
	set[w] = struct{}{}
	h.n++
	missed := h.gen != gen
	if missed {
		// The change may already be behind the audit position: look at
		// this request directly next round.
		h.recheck[id] = true
	}
	h.mu.Unlock()
	if missed {
		h.poke()
	}
	return w, nil
}

// waiting is the number of parked waiters.
func (h *waitHub) waiting() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.n
}

// remove unparks a waiter (idempotent).
func (h *waitHub) remove(id string, w *waiter) {
	h.mu.Lock()
	defer h.mu.Unlock()
	set := h.waiters[id]
	if _, ok := set[w]; !ok {
		return
	}
	delete(set, w)
	h.n--
	if len(set) == 0 {
		delete(h.waiters, id)
	}
}

func (h *waitHub) poke() {
	select {
	case h.kick <- struct{}{}:
	default:
	}
}

// run holds the one subscription for the life of the process. Signals that
// arrive during a round coalesce into one more round.
func (h *waitHub) run() {
	changes, _ := h.svc.Subscribe()
	for {
		select {
		case <-changes:
		case <-h.kick:
		}
		h.round()
	}
}

// round finds which watched requests may have changed and re-reads those
// (bounded concurrency), waking the waiters whose request did change.
func (h *waitHub) round() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	h.mu.Lock()
	if h.n == 0 {
		// Nobody waits: forget the audit position rather than track it on
		// every commit; the next waiters are few and re-read in full once.
		h.gen++
		h.lastSeq = 0
		clear(h.recheck)
		h.mu.Unlock()
		return
	}
	recheck := h.recheck
	h.recheck = map[string]bool{}
	h.mu.Unlock()
	touched, ok := h.touched(ctx)
	// The generation moves and the waiters are listed together, after the
	// audit read: a waiter that registers later with an older generation
	// may have read its state before a change this round consumed, and is
	// re-read next round (see add).
	h.mu.Lock()
	h.gen++
	ids := make([]string, 0, len(recheck)+len(touched))
	for id := range h.waiters {
		if !ok || recheck[id] || touched[id] {
			ids = append(ids, id)
		}
	}
	h.mu.Unlock()
	if len(ids) == 0 {
		return
	}
	sem := make(chan struct{}, h.readers)
	var wg sync.WaitGroup
	for _, id := range ids {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			h.reads.Add(1)
			d, err := h.svc.Get(ctx, id)
			if err != nil {
				return // the waiter's own timer answers it
			}
			h.wake(id, d)
		}()
	}
	wg.Wait()
}

// touched returns the subjects of the audit events appended since the last
// round, and false when it cannot say (first round, too long a backlog, an
// error): then every watched request is re-read.
func (h *waitHub) touched(ctx context.Context) (map[string]bool, bool) {
	out := map[string]bool{}
	before := int64(0)
	newest := int64(-1)
	for page := range hubAuditPages {
		limit := hubAuditPage
		if page == 0 {
			limit = hubAuditFirstPage // rounds are frequent and usually see a few events
		}
		evs, err := h.svc.AuditLog(ctx, before, limit)
		if err != nil {
			h.lastSeq = 0
			return nil, false
		}
		if newest < 0 {
			newest = 0
			if len(evs) > 0 {
				newest = evs[0].Seq
			}
		}
		for _, ev := range evs {
			if ev.Seq <= h.lastSeq {
				known := h.lastSeq > 0
				h.lastSeq = newest
				return out, known
			}
			out[ev.Subject] = true
		}
		if len(evs) < limit {
			// The whole log was read: everything in it is accounted for.
			h.lastSeq = newest
			return out, true
		}
		before = evs[len(evs)-1].Seq
	}
	h.lastSeq = newest
	return nil, false
}

func (h *waitHub) wake(id string, d approvals.Detail) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for w := range h.waiters[id] {
		if changed(w.seen, d.Request) {
			select {
			case w.done <- d:
			default:
			}
			delete(h.waiters[id], w)
			h.n--
		}
	}
	if len(h.waiters[id]) == 0 {
		delete(h.waiters, id)
	}
}

// changed reports whether a long-poll should answer: the status moved or
// another approval was recorded.
func changed(seen, now approvals.Request) bool {
	return seen.Status != now.Status || seen.Approvals != now.Approvals
}
