package client

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"
)

// WaitOptions configure Wait.
type WaitOptions struct {
	// Timeout bounds the whole wait; 0 waits until ctx ends.
	Timeout time.Duration
	// Poll is how long each long-poll asks jitdesk to hold the answer
	// (default 30s; jitdesk caps it, 60s by default).
	Poll time.Duration
}

// Backoff bounds for retrying while jitdesk is down or restarting.
const (
	minRetryDelay = 200 * time.Millisecond
	maxRetryDelay = 5 * time.Second
	// longPollGrace is how much longer than the asked wait the client lets
	// a long-poll run before treating the connection as dead.
	longPollGrace = 15 * time.Second
)

// Wait long-polls until the request is no longer pending and returns it in
// its final state (approved, denied, expired or cancelled; see Token and
// DecisionError). It rides out jitdesk being unreachable, restarting or
// overloaded (5xx, 429, honouring Retry-After) with bounded backoff, and
// returns a *TimeoutError when opts.Timeout passes first. Errors that
// retrying cannot fix (401, 404) are returned at once.
func (c *Client) Wait(ctx context.Context, id string, opts WaitOptions) (Request, error) {
	start := time.Now()
	if opts.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, opts.Timeout)
		defer cancel()
	}
	poll := opts.Poll
	if poll <= 0 {
		poll = 30 * time.Second
	}
	var (
		last    Request
		lastErr error
		delay   = minRetryDelay
	)
	timedOut := func() error {
		if opts.Timeout > 0 && ctx.Err() == context.DeadlineExceeded {
			return &TimeoutError{RequestID: id, Waited: time.Since(start), Last: last, Err: lastErr}
		}
		return fmt.Errorf("jitdesk: wait for request %s: %w", id, ctx.Err())
	}
	for {
		if ctx.Err() != nil {
			return last, timedOut()
		}
		ask := poll
		if dl, ok := ctx.Deadline(); ok {
			ask = min(ask, time.Until(dl))
		}
		ask = max(ask.Truncate(time.Second), time.Second)
		r, err := c.poll(ctx, id, ask)
		if err == nil {
			last, lastErr, delay = r, nil, minRetryDelay
			if r.Status != StatusPending {
				return r, nil
			}
			continue
		}
		if ctx.Err() != nil {
			return last, timedOut()
		}
		if !transient(err) {
			return last, err
		}
		lastErr = err
		wait := delay
		var ae *APIError
		if errors.As(err, &ae) && ae.RetryAfter > 0 {
			wait = ae.RetryAfter
		} else {
			delay = min(delay*2, maxRetryDelay)
		}
		if c.onRetry != nil {
			c.onRetry(err, wait)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return last, timedOut()
		case <-t.C:
		}
	}
}

// poll is one long-poll, given a little more time than it asked the server
// to hold, so a connection that silently died is noticed.
func (c *Client) poll(ctx context.Context, id string, wait time.Duration) (Request, error) {
	pctx, cancel := context.WithTimeout(ctx, wait+longPollGrace)
	defer cancel()
	var out Request
	err := c.call(pctx, "wait for request "+id, http.MethodGet, "/v1/requests/"+url.PathEscape(id), "",
		url.Values{"wait": {wait.String()}}, nil, "", &out)
	if err != nil && ctx.Err() == nil && pctx.Err() != nil {
		// Our own per-poll deadline, not the caller's: the connection hung.
		return Request{}, &UnavailableError{Op: "wait for request " + id, URL: c.base.String(), Err: pctx.Err()}
	}
	return out, err
}

// transient reports whether retrying later may succeed: jitdesk unreachable,
// restarting (5xx) or asking to slow down (429, 503 with Retry-After).
func transient(err error) bool {
	var ue *UnavailableError
	if errors.As(err, &ue) {
		return true
	}
	var ae *APIError
	return errors.As(err, &ae) && (ae.Status == http.StatusTooManyRequests || ae.Status >= 500)
}
