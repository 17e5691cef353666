package server

import (
	"io"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/jitdesk/jitdesk/approvals"
)

// setLimits gives app its own limits, as `jitdesk app update` would.
func (e *env) setLimits(app approvals.Application, l approvals.AppLimits) {
	e.t.Helper()
	_, err := e.svc.UpdateApp(e.ctx, "test", app.ID, approvals.AppUpdate{Limits: &l})
	e.must(err)
}

var otherBody = map[string]any{"template": "other-db", "reason": "billing fix"}

func tooMany(t *testing.T, r resp, detail string) {
	t.Helper()
	problemIs(t, r, http.StatusTooManyRequests, detail)
	s, err := strconv.Atoi(r.header.Get("Retry-After"))
	if err != nil || s < 1 {
		t.Fatalf("429 without Retry-After seconds: %q", r.header.Get("Retry-After"))
	}
}

func TestNoisyApplicationIsRateLimitedAndAnotherIsNot(t *testing.T) {
	e := newEnv(t, 0)
	e.setLimits(e.app, approvals.AppLimits{RatePerSecond: 1, Burst: 3})
	for i := range 3 {
		if r := e.postJSON("/v1/requests", e.intake(e.app), goodBody); r.status != http.StatusCreated {
			t.Fatalf("call %d within the burst: %d %s", i+1, r.status, r.body)
		}
	}
	before := e.countRequests()
	tooMany(t, e.postJSON("/v1/requests", e.intake(e.app), goodBody), "rate")
	// Every authenticated call draws from the same bucket.
	tooMany(t, e.do("GET", "/v1/requests/01J0000000000000000000000X", e.intake(e.app), "", nil), "rate")
	if n := e.countRequests(); n != before {
		t.Fatalf("a rate-limited call stored %d requests", n-before)
	}
	// The other application, at the same moment, is not limited.
	for i := range 5 {
		if r := e.postJSON("/v1/requests", e.intake(e.other), otherBody); r.status != http.StatusCreated {
			t.Fatalf("other application's call %d: %d %s", i+1, r.status, r.body)
		}
	}
	// The bucket refills with the (injected) clock: one call a second.
	e.clock.Advance(time.Second)
	if r := e.postJSON("/v1/requests", e.intake(e.app), goodBody); r.status != http.StatusCreated {
		t.Fatalf("after a second: %d %s", r.status, r.body)
	}
	tooMany(t, e.postJSON("/v1/requests", e.intake(e.app), goodBody), "rate")
}

func TestRateLimitedTokenIsNotBurned(t *testing.T) {
	e := newEnv(t, 0)
	e.setLimits(e.app, approvals.AppLimits{RatePerSecond: 1, Burst: 1})
	id := e.submit()
	tok := e.intake(e.app)
	tooMany(t, e.do("GET", "/v1/requests/"+id, tok, "", nil), "rate")
	e.clock.Advance(time.Second)
	// The refused call did not use the token up: the retry with it works.
	if r := e.do("GET", "/v1/requests/"+id, tok, "", nil); r.status != http.StatusOK {
		t.Fatalf("retry with the same token: %d %s", r.status, r.body)
	}
}

func TestPendingCapIs429(t *testing.T) {
	e := newEnv(t, 0)
	e.setLimits(e.app, approvals.AppLimits{MaxPending: 2})
	e.submit()
	e.submit()
	tooMany(t, e.postJSON("/v1/requests", e.intake(e.app), goodBody), "pending")
	if r := e.postJSON("/v1/requests", e.intake(e.other), otherBody); r.status != http.StatusCreated {
		t.Fatalf("the other application is not at its cap: %d %s", r.status, r.body)
	}
}

// parkedPoll starts a long-poll and waits until the hub holds it.
func (e *env) parkedPoll(app approvals.Application, id, wait string) chan resp {
	e.t.Helper()
	before := e.api.hub.waiting()
	done := make(chan resp, 1)
	tok := e.intake(app)
	e.issued = append(e.issued, tok)
	go func() {
		req, _ := http.NewRequest("GET", e.srv.URL+"/v1/requests/"+id+"?wait="+wait, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		res, err := e.srv.Client().Do(req)
		if err != nil {
			done <- resp{}
			return
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		done <- resp{status: res.StatusCode, header: res.Header, body: b}
	}()
	for e.api.hub.waiting() == before {
		time.Sleep(5 * time.Millisecond)
	}
	return done
}

func TestLongPollsAreCappedPerApplication(t *testing.T) {
	e := newEnv(t, time.Minute)
	e.setLimits(e.app, approvals.AppLimits{MaxLongPolls: 1})
	id := e.submit()
	first := e.parkedPoll(e.app, id, "30s")
	tooMany(t, e.do("GET", "/v1/requests/"+id+"?wait=30s", e.intake(e.app), "", nil), "long-poll")
	// Without ?wait the same application is still answered.
	if r := e.do("GET", "/v1/requests/"+id, e.intake(e.app), "", nil); r.status != http.StatusOK {
		t.Fatalf("plain status beside a full long-poll share: %d %s", r.status, r.body)
	}
	// Another application parks its own long-poll meanwhile.
	r := e.postJSON("/v1/requests", e.intake(e.other), otherBody)
	otherID := r.json(t)["id"].(string)
	second := e.parkedPoll(e.other, otherID, "30s")
	e.approve(id)
	if r := <-first; r.status != http.StatusOK || r.json(t)["status"] != "approved" {
		t.Fatalf("first long-poll: %d %s", r.status, r.body)
	}
	// Its slot is free again.
	third := e.parkedPoll(e.app, e.submit(), "30s")
	e.api.Drain()
	for _, c := range []chan resp{second, third} {
		if r := <-c; r.status != http.StatusOK || r.json(t)["status"] != "pending" {
			t.Fatalf("drained long-poll: %d %s", r.status, r.body)
		}
	}
}

func TestDrainAnswersParkedLongPollsWithTheCurrentState(t *testing.T) {
	e := newEnv(t, time.Hour)
	id := e.submit()
	parked := e.parkedPoll(e.app, id, "1h")
	e.api.Drain()
	r := <-parked
	if r.status != http.StatusOK || r.json(t)["status"] != "pending" || r.json(t)["id"] != id {
		t.Fatalf("drained long-poll: %d %s", r.status, r.body)
	}
	// Long-polls after the drain are answered at once, not parked.
	if r := e.do("GET", "/v1/requests/"+id+"?wait=1h", e.intake(e.app), "", nil); r.status != http.StatusOK {
		t.Fatalf("long-poll after drain: %d %s", r.status, r.body)
	}
	if n := e.api.hub.waiting(); n != 0 {
		t.Fatalf("%d long-polls parked after the drain", n)
	}
	e.api.Drain() // idempotent
}

func TestIdleLimitersAreEvicted(t *testing.T) {
	e := newEnv(t, 0)
	e.submit()
	e.postJSON("/v1/requests", e.intake(e.other), otherBody)
	if n := e.api.limits.size(); n != 2 {
		t.Fatalf("%d limiters, want one per application", n)
	}
	// Defaults: 100 calls refill in 2s; idle past that and a minute, they go.
	e.clock.Advance(5 * time.Minute)
	e.submit()
	if n := e.api.limits.size(); n != 1 {
		t.Fatalf("%d limiters after the other application went quiet, want 1", n)
	}
}

func TestDisabledApplicationIs403(t *testing.T) {
	e := newEnv(t, 0)
	id := e.submit()
	_, err := e.svc.SetAppEnabled(e.ctx, "test", e.app.ID, false)
	e.must(err)
	problemIs(t, e.postJSON("/v1/requests", e.intake(e.app), goodBody), http.StatusForbidden, "disabled")
	problemIs(t, e.do("GET", "/v1/requests/"+id, e.intake(e.app), "", nil), http.StatusForbidden, "disabled")
	if r := e.postJSON("/v1/requests", e.intake(e.other), otherBody); r.status != http.StatusCreated {
		t.Fatalf("another application: %d %s", r.status, r.body)
	}
}
