package server

import (
	"math"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/jitdesk/jitdesk/approvals"
)

// appLimiters holds, per calling application, the token bucket of its
// API calls and the count of its parked long-polls. It lives in one API
// value (per process): several serve processes each grant an application
// its rate, which the operator accounts for when setting it.
//
// Entries of applications that have been quiet long enough for their bucket
// to be full again are evicted, so the map holds only applications active
// in the last few minutes; an evicted entry comes back full, exactly as it
// would have been.
type appLimiters struct {
	now func() time.Time

	mu        sync.Mutex
	apps      map[string]*appLimit
	lastSweep time.Time
}

type appLimit struct {
	limits   approvals.AppLimits // effective (defaults filled)
	bucket   *rate.Limiter
	polls    int // parked long-polls now
	lastSeen time.Time
}

// limiterIdle is how long an entry must be unused, beyond the time its
// bucket takes to refill, before it is evicted.
const limiterIdle = time.Minute

func newAppLimiters(now func() time.Time) *appLimiters {
	return &appLimiters{now: now, apps: map[string]*appLimit{}}
}

// entry returns appID's entry, creating it or updating its limits (an
// operator may change them while the server runs). Called with mu held.
func (l *appLimiters) entry(appID string, limits approvals.AppLimits, now time.Time) *appLimit {
	l.sweep(now)
	e := l.apps[appID]
	if e == nil {
		e = &appLimit{limits: limits, bucket: rate.NewLimiter(rate.Limit(limits.RatePerSecond), limits.Burst)}
		// rate.NewLimiter starts full at the zero time; anchor it now so an
		// injected clock far from the zero time behaves the same.
		e.bucket.SetBurstAt(now, limits.Burst)
		l.apps[appID] = e
	}
	if e.limits != limits {
		e.bucket.SetLimitAt(now, rate.Limit(limits.RatePerSecond))
		e.bucket.SetBurstAt(now, limits.Burst)
		e.limits = limits
	}
	e.lastSeen = now
	return e
}

// allow takes one call from appID's bucket. When the bucket is empty it
// returns false and how long until a call would be allowed.
func (l *appLimiters) allow(appID string, limits approvals.AppLimits) (bool, time.Duration) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.entry(appID, limits, now)
	r := e.bucket.ReserveN(now, 1)
	if !r.OK() {
		return false, time.Second
	}
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now) // the call is refused, so it takes nothing
		return false, d
	}
	return true, 0
}

// acquirePoll counts one more parked long-poll for appID, refusing beyond
// its MaxLongPolls. release must follow a successful acquire.
func (l *appLimiters) acquirePoll(appID string, limits approvals.AppLimits) bool {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.entry(appID, limits, now)
	if e.polls >= limits.MaxLongPolls {
		return false
	}
	e.polls++
	return true
}

func (l *appLimiters) releasePoll(appID string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if e := l.apps[appID]; e != nil && e.polls > 0 {
		e.polls--
		e.lastSeen = l.now()
	}
}

// sweep evicts idle entries, at most once a minute. Called with mu held.
func (l *appLimiters) sweep(now time.Time) {
	if now.Sub(l.lastSweep) < limiterIdle {
		return
	}
	l.lastSweep = now
	for id, e := range l.apps {
		refill := time.Duration(float64(e.limits.Burst) / max(e.limits.RatePerSecond, 1e-9) * float64(time.Second))
		if e.polls == 0 && now.Sub(e.lastSeen) > refill+limiterIdle {
			delete(l.apps, id)
		}
	}
}

// size is the number of tracked applications (for tests).
func (l *appLimiters) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.apps)
}

// retryAfter renders a wait as Retry-After seconds, rounded up, at least 1.
func retryAfter(d time.Duration) string {
	s := int64(math.Ceil(d.Seconds()))
	if s < 1 {
		s = 1
	}
	return strconv.FormatInt(s, 10)
}
