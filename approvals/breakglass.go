package approvals

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// MinBreakGlassReason is the shortest emergency justification accepted.
const MinBreakGlassReason = 10

// breakGlass approves the requester's own request in an emergency. Every
// other rule still holds: pending, not expired, unchanged since shown, and a
// valid signature bound to it; the grant is capped at the template's
// break-glass TTL, marked in the token and the audit, and waits for review.
func (s *Service) breakGlass(ctx context.Context, in ApproveInput) (Outcome, error) {
	reason := strings.TrimSpace(in.Comment)
	if err := ValidateBreakGlassReason(reason); err != nil {
		return Outcome{}, fmt.Errorf("break-glass %s: %w", in.RequestID, err)
	}
	var out Outcome
	err := s.store.Update(ctx, func(tx Tx) error {
		now := s.Now()
		req, err := tx.Request(in.RequestID)
		if err != nil {
			return err
		}
		if err := pendingAt(req, now); err != nil {
			return err
		}
		t, err := termsOf(tx, req)
		if err != nil {
			return err
		}
		a, grantTTL, err := breakGlassAllowed(tx, req, t, in.Approver, now)
		if err != nil {
			return err
		}
		if in.Digest == "" || in.Digest != Digest(req, t) {
			return fmt.Errorf("%w: review it again before deciding", ErrDigestMismatch)
		}
		if in.TTL != 0 {
			if in.TTL < time.Minute || in.TTL > grantTTL {
				return invalidf("break-glass ttl %s must be between 1m and %s", FormatDuration(in.TTL), FormatDuration(grantTTL))
			}
			grantTTL = in.TTL
		}
		stored, err := s.checkSignature(in.Signature, req, t, a, grantTTL, now)
		if err != nil {
			return err
		}
		if err := tx.InsertSignature(stored); err != nil {
			return err
		}
		rev := Review{RequestID: req.ID, Approver: a.Login, Decision: DecisionApprove, Comment: reason, SignatureDigest: stored.Digest, GrantTTL: grantTTL, At: now}
		if err := s.recordKeySignature(tx, in.KeySignature, &rev, req, t, a, in.Digest, now); err != nil {
			return err
		}
		if err := tx.InsertReview(rev); err != nil {
			return err
		}
		if err := tx.SetRequestStatus(req.ID, StatusApproved, now, a.Login, ""); err != nil {
			return err
		}
		req.Status, req.DecidedAt, req.DecidedBy = StatusApproved, now, a.Login
		req.Approvals++
		g, token, err := s.issueGrant(tx, req, t, now, true)
		if err != nil {
			return err
		}
		out = Outcome{Request: req, Grant: &g, Token: token}
		return s.audit(tx, now, a.Login, BreakGlassUsed{ID: req.ID, Template: t.Key, Grant: g.ID, Reason: reason, TTL: grantTTL.String(), Signature: stored.Digest, KeySignature: rev.KeySignatureDigest, ExpiresAt: auditTime(g.ExpiresAt)})
	})
	if err != nil {
		return Outcome{}, fmt.Errorf("break-glass %s: %w", in.RequestID, err)
	}
	return out, nil
}

// AcknowledgeBreakGlass records that an eligible reviewer (never the
// person who used it) looked at a break-glass grant after the fact.
func (s *Service) AcknowledgeBreakGlass(ctx context.Context, grantID, reviewer, comment string) (Grant, error) {
	comment = strings.TrimSpace(comment)
	if comment == "" || len(comment) > MaxCommentLen {
		return Grant{}, invalidf("acknowledge %s: a comment is required (at most %d bytes)", grantID, MaxCommentLen)
	}
	var out Grant
	err := s.store.Update(ctx, func(tx Tx) error {
		now := s.Now()
		g, a, err := reviewableGrant(tx, grantID, reviewer, now)
		if err != nil {
			return err
		}
		out, err = s.recordBreakGlassReview(tx, g, a, now, comment, false)
		return err
	})
	if err != nil {
		return Grant{}, fmt.Errorf("acknowledge %s: %w", grantID, err)
	}
	return out, nil
}

// reviewableGrant finds a break-glass grant by its id or its request's id
// and checks that reviewer may review it now (see breakGlassReviewer).
func reviewableGrant(tx Tx, grantID, reviewer string, now time.Time) (Grant, Approver, error) {
	g, err := tx.Grant(grantID)
	if errors.Is(err, ErrNotFound) {
		g, err = tx.GrantByRequest(grantID)
	}
	if err != nil {
		return Grant{}, Approver{}, err
	}
	a, err := breakGlassReviewer(tx, g, reviewer, now)
	return g, a, err
}

// recordBreakGlassReview marks g reviewed by a with comment and audits it
// (extra adds to the event's payload), in tx.
func (s *Service) recordBreakGlassReview(tx Tx, g Grant, a Approver, now time.Time, comment string, revoked bool) (Grant, error) {
	if err := tx.AcknowledgeGrant(g.ID, now, a.Login, comment); err != nil {
		return Grant{}, err
	}
	g.ReviewedAt, g.ReviewedBy, g.ReviewComment = now, a.Login, comment
	return g, s.audit(tx, now, a.Login, BreakGlassReviewed{ID: g.ID, Request: g.RequestID, Comment: comment, Revoked: revoked})
}

// AwaitingReview lists break-glass grants not yet reviewed, oldest first.
func (s *Service) AwaitingReview(ctx context.Context, after *Cursor, limit int) ([]Grant, error) {
	var gs []Grant
	err := s.store.View(ctx, func(tx ReadTx) error {
		var err error
		gs, err = tx.AwaitingReview(after, limit)
		return err
	})
	return gs, err
}

// CountAwaitingReview counts break-glass grants not yet reviewed.
func (s *Service) CountAwaitingReview(ctx context.Context) (int, error) {
	var n int
	err := s.store.View(ctx, func(tx ReadTx) error {
		var err error
		n, err = tx.CountAwaitingReview()
		return err
	})
	return n, err
}

// CountAwaitingReviewFor counts the unreviewed break-glass grants viewer
// may see (those of templates they could decide, and their own): the
// console's header marker, which must not reveal other teams' emergencies.
// Unreviewed break-glass grants are few, so they are walked, not counted
// in SQL.
func (s *Service) CountAwaitingReviewFor(ctx context.Context, viewer string) (int, error) {
	n := 0
	err := s.store.View(ctx, func(tx ReadTx) error {
		a, err := tx.Approver(viewer)
		if errors.Is(err, ErrNotFound) {
			return nil
		} else if err != nil {
			return err
		}
		now := s.Now()
		var after *Cursor
		for {
			gs, err := tx.AwaitingReview(after, 500)
			if err != nil {
				return err
			}
			for _, g := range gs {
				after = &Cursor{At: g.IssuedAt, ID: g.ID}
				req, err := tx.Request(g.RequestID)
				if err != nil {
					return err
				}
				t, err := termsOf(tx, req)
				if err != nil {
					return err
				}
				if ok, err := visibleTo(tx, a, req, t, now); err != nil {
					return err
				} else if ok {
					n++
				}
			}
			if len(gs) < 500 {
				return nil
			}
		}
	})
	return n, err
}
