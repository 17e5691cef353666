package client

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Sentinel errors callers branch on with errors.Is. Every error the client
// returns wraps exactly one of them (a DecisionError wraps the one for its
// outcome), and its message says what went wrong and what to fix.
var (
	// ErrConfig: the Config or VerifierConfig is unusable (missing URL, app
	// id or secret, a secret too short to be the one jitdesk printed).
	ErrConfig = errors.New("jitdesk client: bad configuration")
	// ErrUnauthenticated: jitdesk refused the intake token (401): wrong
	// application id or secret, wrong issuer, or a clock too far off.
	ErrUnauthenticated = errors.New("jitdesk refused the intake token")
	// ErrNotFound: no such request for this application (404).
	ErrNotFound = errors.New("not found")
	// ErrInvalidRequest: jitdesk refused what was asked (400, 413, 415, 422):
	// an unknown template, a missing required field, a TTL over the maximum.
	ErrInvalidRequest = errors.New("request refused")
	// ErrPending: the request has no token yet because it is still pending (409).
	ErrPending = errors.New("request still pending")
	// ErrConflict: the request can no longer be changed (409), for example
	// cancelling one that was already decided.
	ErrConflict = errors.New("conflict")
	// ErrUnavailable: jitdesk could not be reached or answered 5xx.
	ErrUnavailable = errors.New("jitdesk unavailable")
	// ErrTimeout: a wait ended with the request still pending.
	ErrTimeout = errors.New("timed out waiting for a decision")
	// ErrDenied: an approver denied the request (DecisionError carries the comment).
	ErrDenied = errors.New("request denied")
	// ErrExpired: nobody decided before the request's pending timeout.
	ErrExpired = errors.New("request expired")
	// ErrCancelled: the request was cancelled.
	ErrCancelled = errors.New("request cancelled")
	// ErrGrantEnded: the request was approved, but its grant was revoked or
	// has run out, so there is no usable token any more.
	ErrGrantEnded = errors.New("grant revoked or expired")
	// ErrAccessDenied: an access token was refused by a Verifier; the
	// error also wraps the tokens package's reason (tokens.ErrExpired,
	// tokens.ErrRevoked, tokens.ErrInvalidToken) or ErrInsufficientScope.
	ErrAccessDenied = errors.New("access token refused")
	// ErrInsufficientScope: the access token is genuine but not for this scope.
	ErrInsufficientScope = errors.New("access token lacks the required scope")
	// ErrKeySet: the verification keys could not be fetched or read.
	ErrKeySet = errors.New("jitdesk key set unavailable")
)

// APIError is a problem document (RFC 9457) jitdesk answered. It wraps the
// sentinel for its status (ErrUnauthenticated for 401, and so on).
type APIError struct {
	Op     string // what the client was doing: "create request", "token 01J…"
	Status int    // HTTP status
	Title  string
	Detail string // jitdesk's explanation; never contains a credential
	// RetryAfter is the server's Retry-After, when it sent one.
	RetryAfter time.Duration
	kind       error
	// What a 410 from the token endpoint says about how the request ended.
	decision   *Decision
	revocation *Revocation
}

func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "jitdesk: %s: %d %s", e.Op, e.Status, e.Title)
	if e.Detail != "" {
		b.WriteString(": " + e.Detail)
	}
	if hint := hintFor(e.kind); hint != "" {
		b.WriteString(" (" + hint + ")")
	}
	return b.String()
}

// Unwrap returns the sentinel for the status.
func (e *APIError) Unwrap() error { return e.kind }

func hintFor(kind error) string {
	switch kind {
	case ErrUnauthenticated:
		return "check Config.AppID and Config.Secret against what `jitdesk app add` printed, " +
			"Config.Issuer against jitdesk's --issuer, and this machine's clock"
	case ErrNotFound:
		return "the id is not a request of this application"
	case ErrUnavailable:
		return "jitdesk is overloaded or restarting; retry later"
	}
	return ""
}

// kindForStatus maps an HTTP status to the sentinel the client reports.
func kindForStatus(status int) error {
	switch {
	case status == 401 || status == 403:
		return ErrUnauthenticated
	case status == 404:
		return ErrNotFound
	case status == 409:
		return ErrConflict
	case status == 410:
		return ErrGrantEnded
	case status == 429 || status >= 500:
		return ErrUnavailable
	default:
		return ErrInvalidRequest
	}
}

// UnavailableError says jitdesk could not be reached at all.
type UnavailableError struct {
	Op  string
	URL string
	Err error // the transport error
}

func (e *UnavailableError) Error() string {
	return fmt.Sprintf("jitdesk: %s: cannot reach jitdesk at %s: %v (check Config.URL and that `jitdesk serve` is running)", e.Op, e.URL, e.Err)
}

// Unwrap returns ErrUnavailable and the transport error.
func (e *UnavailableError) Unwrap() []error { return []error{ErrUnavailable, e.Err} }

// DecisionError says a request ended without a usable token: denied,
// expired, cancelled, or approved with its grant since revoked or run out.
// errors.Is matches ErrDenied, ErrExpired, ErrCancelled or ErrGrantEnded.
type DecisionError struct {
	RequestID string
	Status    Status    // the request's final status
	Decision  *Decision // who decided, when and why, when jitdesk said so
	// Revocation says who revoked the grant, when and why, when it was revoked.
	Revocation *Revocation
	Detail     string // jitdesk's own explanation, when it gave one
}

// Revocation is who revoked a grant, when and why.
type Revocation struct {
	By     string
	At     time.Time
	Reason string
}

func (e *DecisionError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "jitdesk: request %s: ", e.RequestID)
	switch e.kind() {
	case ErrDenied:
		b.WriteString("denied")
	case ErrExpired:
		b.WriteString("expired: nobody decided before its pending timeout; submit a new request")
	case ErrCancelled:
		b.WriteString("cancelled")
	default:
		b.WriteString("approved, but its grant was revoked or has run out; submit a new request")
	}
	if d := e.Decision; d != nil {
		if d.By != "" {
			fmt.Fprintf(&b, " by %s", d.By)
		}
		if !d.At.IsZero() {
			fmt.Fprintf(&b, " at %s", d.At.UTC().Format(time.RFC3339))
		}
		if d.Comment != "" {
			fmt.Fprintf(&b, ": %q", d.Comment)
		}
	}
	if r := e.Revocation; r != nil {
		fmt.Fprintf(&b, "; revoked by %s at %s: %q", r.By, r.At.UTC().Format(time.RFC3339), r.Reason)
	}
	if e.Detail != "" {
		b.WriteString(" (jitdesk: " + e.Detail + ")")
	}
	return b.String()
}

func (e *DecisionError) kind() error {
	switch e.Status {
	case StatusDenied:
		return ErrDenied
	case StatusExpired:
		return ErrExpired
	case StatusCancelled:
		return ErrCancelled
	}
	return ErrGrantEnded
}

// Unwrap returns the sentinel for the outcome.
func (e *DecisionError) Unwrap() error { return e.kind() }

// Comment is the approver's comment (a denial's reason), or "".
func (e *DecisionError) Comment() string {
	if e.Decision == nil {
		return ""
	}
	return e.Decision.Comment
}

// TimeoutError says a wait ended while the request was still pending.
type TimeoutError struct {
	RequestID string
	Waited    time.Duration
	// Last is the request as last seen (zero if it was never read).
	Last Request
	// Err is the last transport or server error, when jitdesk was failing
	// as the time ran out (an *UnavailableError, say).
	Err error
}

func (e *TimeoutError) Error() string {
	msg := fmt.Sprintf("jitdesk: request %s: still pending after waiting %s", e.RequestID, e.Waited.Round(time.Millisecond))
	if e.Err != nil {
		msg += "; last error: " + e.Err.Error()
	}
	return msg + " (wait longer, or cancel the request)"
}

// Unwrap returns ErrTimeout and the last error.
func (e *TimeoutError) Unwrap() []error {
	if e.Err != nil {
		return []error{ErrTimeout, e.Err}
	}
	return []error{ErrTimeout}
}
