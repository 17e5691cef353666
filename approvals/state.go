package approvals

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// DecidedError says a request can no longer be decided because it already
// ended: who ended it, how and when. It matches ErrNotPending with
// errors.Is, and screens read its fields with errors.As instead of parsing
// the message.
type DecidedError struct {
	RequestID string
	Status    Status
	By        string
	At        time.Time
}

func (e *DecidedError) Error() string {
	by := e.By
	if by == "" {
		by = "unknown"
	}
	return fmt.Sprintf("%s: %s by %s at %s", ErrNotPending.Error(), e.Status, by, e.At.UTC().Format(time.RFC3339))
}

// Is lets errors.Is(err, ErrNotPending) match.
func (e *DecidedError) Is(target error) bool { return target == ErrNotPending }

// DecisionRecord is how a request ended, as the requester hears it: the
// outcome, who decided, when, and the comment (a deny's reason, a cancel's
// reason, an approver's note).
type DecisionRecord struct {
	Outcome Status
	By      string
	At      time.Time
	Comment string
}

// Decision returns how the request ended, or nil while it is pending.
func (d Detail) Decision() *DecisionRecord {
	r := d.Request
	if r.Status == StatusPending {
		return nil
	}
	rec := &DecisionRecord{Outcome: r.Status, By: r.DecidedBy, At: r.DecidedAt, Comment: r.DecidedComment}
	if rec.Comment == "" {
		// The deciding review's comment (a deny always has one).
		for _, rv := range d.Reviews {
			if rv.Approver == r.DecidedBy && rv.Comment != "" {
				rec.Comment = rv.Comment
			}
		}
	}
	return rec
}

// GrantSummary is what a list shows of a request's grant.
type GrantSummary struct {
	ID         string
	ExpiresAt  time.Time
	RevokedAt  time.Time
	RevokedBy  string
	BreakGlass bool
	ReviewedAt time.Time
}

// DecodeGrantSummary reads the grant facts a store's list row carries as
// one text column — id|expires|revoked|break_glass|reviewed|revoked_by, times
// in unix milliseconds ("" for none), break_glass 0 or 1, the free-text
// revoker last — so both stores fill Request.Grant with one indexed lookup
// per row and one shared decoding.
func DecodeGrantSummary(s string) (*GrantSummary, error) {
	f := strings.SplitN(s, "|", 6)
	if len(f) != 6 {
		return nil, fmt.Errorf("grant summary %q has %d fields", s, len(f))
	}
	num := func(v string) (int64, error) {
		if v == "" {
			return 0, nil
		}
		return strconv.ParseInt(v, 10, 64)
	}
	exp, err1 := num(f[1])
	rev, err2 := num(f[2])
	bg, err3 := num(f[3])
	rv, err4 := num(f[4])
	if err := errors.Join(err1, err2, err3, err4); err != nil {
		return nil, fmt.Errorf("grant summary %q: %w", s, err)
	}
	g := &GrantSummary{ID: f[0], ExpiresAt: time.UnixMilli(exp).UTC(), BreakGlass: bg != 0, RevokedBy: f[5]}
	if rev != 0 {
		g.RevokedAt = time.UnixMilli(rev).UTC()
	}
	if rv != 0 {
		g.ReviewedAt = time.UnixMilli(rv).UTC()
	}
	return g, nil
}

// Acknowledged reports whether the summarised break-glass grant had its post-review.
func (g GrantSummary) Acknowledged() bool { return !g.ReviewedAt.IsZero() }

// StateAt is the summarised grant's state at now.
func (g GrantSummary) StateAt(now time.Time) GrantState {
	return Grant{ExpiresAt: g.ExpiresAt, RevokedAt: g.RevokedAt}.StateAt(now)
}

// GrantState is what a grant is at a moment: active, expired or revoked.
type GrantState string

// Grant states.
const (
	GrantActive  GrantState = "active"
	GrantExpired GrantState = "expired"
	GrantRevoked GrantState = "revoked"
)

// StateAt returns the grant's state at now. A revoked grant is revoked
// whether or not it would have expired since.
func (g Grant) StateAt(now time.Time) GrantState {
	switch {
	case g.Revoked():
		return GrantRevoked
	case !now.Before(g.ExpiresAt):
		return GrantExpired
	}
	return GrantActive
}

// Acknowledged reports whether a break-glass grant has had its post-review.
func (g Grant) Acknowledged() bool { return !g.ReviewedAt.IsZero() }
