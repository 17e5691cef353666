package approvals

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// ValidateBreakGlassReason checks an emergency justification before anything
// is signed, so a console can say what is missing at once; Approve applies
// the same check.
func ValidateBreakGlassReason(reason string) error {
	if utf8.RuneCountInString(strings.TrimSpace(reason)) < MinBreakGlassReason {
		return invalidf("say why this cannot wait (at least %d characters)", MinBreakGlassReason)
	}
	if len(reason) > MaxCommentLen {
		return invalidf("the reason is %d bytes; at most %d", len(reason), MaxCommentLen)
	}
	return nil
}

// breakGlassAllowed applies the break-glass rules that do not depend on
// the signature: the template allows it and login is the requester, a
// registered approver. It returns the longest grant break-glass may issue.
func breakGlassAllowed(tx ReadTx, req Request, t Template, login string, now time.Time) (Approver, time.Duration, error) {
	if t.BreakGlassMaxTTL <= 0 {
		return Approver{}, 0, fmt.Errorf("%w: template %s does not allow break-glass", ErrNotEligible, t.Key)
	}
	a, err := tx.Approver(login)
	if errors.Is(err, ErrNotFound) {
		return Approver{}, 0, fmt.Errorf("%w: %s is not a registered approver and cannot sign", ErrNotEligible, login)
	} else if err != nil {
		return Approver{}, 0, err
	}
	if a.Disabled() {
		return Approver{}, 0, fmt.Errorf("%w: %w: approver %s is disabled", ErrNotEligible, ErrDisabled, a.Login)
	}
	self, err := samePerson(tx, req, a)
	if err != nil {
		return Approver{}, 0, err
	}
	if !self {
		return Approver{}, 0, fmt.Errorf("%w: break-glass is for the requester (%s) approving their own request, not for %s", ErrNotEligible, req.Requester, login)
	}
	// Break-glass is for people who could decide the template anyway (or
	// a group named for it), in a hurry: not for any registered approver.
	ok, err := eligibleAt(tx, t, a, now, t.EscalateCap)
	if err != nil {
		return Approver{}, 0, err
	}
	if !ok {
		for _, g := range a.Groups {
			if slices.Contains(t.BreakGlassGroups, g) {
				ok = true
			}
		}
	}
	if !ok {
		named := describeApprovers(t)
		if len(t.BreakGlassGroups) > 0 {
			named += "; break-glass groups " + strings.Join(t.BreakGlassGroups, ",")
		}
		return Approver{}, 0, fmt.Errorf("%w: break-glass on template %s is for those who could decide it (%s); %s is not one of them", ErrNotEligible, t.Key, named, a.Login)
	}
	return a, min(req.TTL, t.BreakGlassMaxTTL), nil
}

// CanBreakGlass reports whether login may approve their own request id in
// an emergency now, and if so how long the grant would last (the signed
// statement names that duration). The console offers break-glass only when
// this says yes; Approve checks it all again.
func (s *Service) CanBreakGlass(ctx context.Context, id, login string) (time.Duration, error) {
	var ttl time.Duration
	err := s.store.View(ctx, func(tx ReadTx) error {
		req, err := tx.Request(id)
		if err != nil {
			return err
		}
		if err := pendingAt(req, s.Now()); err != nil {
			return err
		}
		t, err := termsOf(tx, req)
		if err != nil {
			return err
		}
		_, ttl, err = breakGlassAllowed(tx, req, t, login, s.Now())
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("break-glass %s: %w", id, err)
	}
	return ttl, nil
}

// breakGlassReviewer checks that login may review break-glass grant g: a
// registered approver, not the person who used it, eligible for its
// template (anyone the request could have reached).
func breakGlassReviewer(tx ReadTx, g Grant, login string, now time.Time) (Approver, error) {
	if !g.BreakGlass {
		return Approver{}, invalidf("grant %s was not a break-glass grant", g.ID)
	}
	a, err := tx.Approver(login)
	if err != nil {
		return Approver{}, fmt.Errorf("%w: %q is not a registered approver", ErrNotEligible, login)
	}
	if a.Login == g.Subject {
		return Approver{}, fmt.Errorf("%w: %s used this break-glass grant and cannot review it", ErrSelfApproval, a.Login)
	}
	t, err := tx.Template(g.Scope)
	if err != nil {
		return Approver{}, err
	}
	if ok, err := eligibleAt(tx, t, a, now, t.EscalateCap); err != nil {
		return Approver{}, err
	} else if !ok {
		return Approver{}, fmt.Errorf("%w: %s may not review grants of template %s (%s)", ErrNotEligible, a.Login, t.Key, describeApprovers(t))
	}
	return a, nil
}

// RevokeBreakGlass is the other outcome of a post-review: the reviewer
// revokes the break-glass grant, and the revocation is its review, in one
// transaction (the grant leaves the post-review queue).
func (s *Service) RevokeBreakGlass(ctx context.Context, grantID, reviewer, reason string) (Grant, error) {
	reason = strings.TrimSpace(reason)
	if reason == "" || len(reason) > MaxCommentLen {
		return Grant{}, invalidf("revoke %s: a reason is required (at most %d bytes)", grantID, MaxCommentLen)
	}
	var out Grant
	err := s.store.Update(ctx, func(tx Tx) error {
		now := s.Now()
		g, a, err := reviewableGrant(tx, grantID, reviewer, now)
		if err != nil {
			return err
		}
		if !g.Revoked() {
			if err := tx.RevokeGrant(g.ID, now, a.Login, reason); err != nil {
				return err
			}
			g.RevokedAt, g.RevokedBy, g.RevokeReason = now, a.Login, reason
			if err := s.audit(tx, now, a.Login, GrantRevocation{ID: g.ID, Request: g.RequestID, Reason: reason}); err != nil {
				return err
			}
		}
		g.Token = ""
		out, err = s.recordBreakGlassReview(tx, g, a, now, "revoked: "+reason, true)
		return err
	})
	if err != nil {
		return Grant{}, fmt.Errorf("revoke break-glass %s: %w", grantID, err)
	}
	return out, nil
}
