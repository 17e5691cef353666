package server

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/jitdesk/jitdesk/approvals"
)

// errTooManyWaiters is returned when the long-poll hub is full.
var errTooManyWaiters = errors.New("too many clients are waiting on request status")

// waitHub serves every status long-poll from one store subscription. A
// waiter registers the request id and the state it last saw; on each change
// signal the hub reads each distinct watched request once (with bounded
// concurrency) and wakes only the waiters whose request changed. Waiters do
// no work of their own while they wait, so a thousand idle long-polls cost
// a thousand parked goroutines and nothing else.
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
}

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
// gen was read. If a round started since (a change may have been consumed
// between the read and this call), another round is requested, so no change
// is ever missed.
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
	h.mu.Unlock()
	if missed {
		h.poke()
	}
	return w, nil
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

// round re-reads each watched request once and wakes the waiters whose
// request changed since they looked.
func (h *waitHub) round() {
	h.mu.Lock()
	h.gen++
	ids := make([]string, 0, len(h.waiters))
	for id := range h.waiters {
		ids = append(ids, id)
	}
	h.mu.Unlock()
	if len(ids) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sem := make(chan struct{}, h.readers)
	var wg sync.WaitGroup
	for _, id := range ids {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			d, err := h.svc.Get(ctx, id)
			if err != nil {
				return // the waiter's own timer answers it
			}
			h.wake(id, d)
		}()
	}
	wg.Wait()
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
