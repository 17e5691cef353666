package approvals

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// MinBreakGlassReason is the shortest emergency justification accepted.
const MinBreakGlassReason = 10

// breakGlass approves the requester's own request in an emergency. Every
// other rule still holds: pending, not expired, unchanged since shown, and a
// valid signature bound to it; the grant is capped at the template's
// break-glass TTL, marked in the token and the audit, and waits for review.
func (s *Service) breakGlass(ctx context.Context, in ApproveInput) (Outcome, error) {
	reason := strings.TrimSpace(in.Comment)
	if utf8.RuneCountInString(reason) < MinBreakGlassReason {
		return Outcome{}, invalidf("break-glass %s: say why this cannot wait (at least %d characters)", in.RequestID, MinBreakGlassReason)
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
		t, err := tx.Template(req.TemplateKey)
		if err != nil {
			return fmt.Errorf("template %s: %w", req.TemplateKey, err)
		}
		if t.BreakGlassMaxTTL <= 0 {
			return fmt.Errorf("%w: template %s does not allow break-glass", ErrNotEligible, t.Key)
		}
		if in.Approver != req.Requester {
			return fmt.Errorf("%w: break-glass is for the requester (%s) approving their own request, not for %s", ErrNotEligible, req.Requester, in.Approver)
		}
		a, err := tx.Approver(in.Approver)
		if errors.Is(err, ErrNotFound) {
			return fmt.Errorf("%w: %s is not a registered approver and cannot sign", ErrNotEligible, in.Approver)
		} else if err != nil {
			return err
		}
		if in.Digest == "" || in.Digest != Digest(req, t) {
			return fmt.Errorf("%w: review it again before deciding", ErrDigestMismatch)
		}
		grantTTL := min(req.TTL, t.BreakGlassMaxTTL)
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
		if err := tx.InsertReview(Review{RequestID: req.ID, Approver: a.Login, Decision: DecisionApprove, Comment: reason, SignatureDigest: stored.Digest, GrantTTL: grantTTL, At: now}); err != nil {
			return err
		}
		if err := tx.SetRequestStatus(req.ID, StatusApproved, now, a.Login); err != nil {
			return err
		}
		req.Status, req.DecidedAt, req.DecidedBy = StatusApproved, now, a.Login
		req.Approvals++
		g, token, err := s.issueGrant(tx, req, t, now, true)
		if err != nil {
			return err
		}
		out = Outcome{Request: req, Grant: &g, Token: token}
		return s.audit(tx, now, a.Login, "breakglass.used", req.ID, map[string]any{
			"grant": g.ID, "reason": reason, "ttl": grantTTL.String(), "signature": stored.Digest, "expires_at": g.ExpiresAt.Format(time.RFC3339),
		})
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
		g, err := tx.Grant(grantID)
		if errors.Is(err, ErrNotFound) {
			g, err = tx.GrantByRequest(grantID)
		}
		if err != nil {
			return err
		}
		if !g.BreakGlass {
			return invalidf("grant %s was not a break-glass grant", g.ID)
		}
		a, err := tx.Approver(reviewer)
		if err != nil {
			return fmt.Errorf("%w: %q is not a registered approver", ErrNotEligible, reviewer)
		}
		if a.Login == g.Subject {
			return fmt.Errorf("%w: %s used this break-glass grant and cannot review it", ErrSelfApproval, a.Login)
		}
		t, err := tx.Template(g.Scope)
		if err != nil {
			return err
		}
		if ok, err := eligibleAt(tx, t, a, now, t.EscalateCap); err != nil {
			return err
		} else if !ok {
			return fmt.Errorf("%w: %s may not review grants of template %s (%s)", ErrNotEligible, a.Login, t.Key, describeApprovers(t))
		}
		if err := tx.AcknowledgeGrant(g.ID, now, a.Login, comment); err != nil {
			return err
		}
		g.ReviewedAt, g.ReviewedBy, g.ReviewComment = now, a.Login, comment
		out = g
		return s.audit(tx, now, a.Login, "breakglass.reviewed", g.ID, map[string]any{"request": g.RequestID, "comment": comment})
	})
	if err != nil {
		return Grant{}, fmt.Errorf("acknowledge %s: %w", grantID, err)
	}
	return out, nil
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
