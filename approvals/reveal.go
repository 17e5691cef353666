package approvals

import (
	"context"
	"errors"
	"fmt"
	"slices"
)

// TokenUse is what an approver does with an access token: look at it or
// copy it. Each is audited.
type TokenUse string

// Token uses.
const (
	TokenShown  TokenUse = "shown"
	TokenCopied TokenUse = "copied"
)

// RevealInput asks for a grant's access token (a bearer secret) on behalf
// of an approver: ID is the grant's or its request's id.
type RevealInput struct {
	ID     string
	Viewer string
	Use    TokenUse
}

// tokenViewer checks that viewer's approval issued the grant: only those
// approvers (and for break-glass, the approver who broke glass) may see or
// copy its token; everyone else sees the grant's facts.
func (s *Service) tokenViewer(tx ReadTx, g Grant, viewer string) (Approver, error) {
	a, err := s.activeApprover(tx, viewer)
	if err != nil {
		return Approver{}, err
	}
	reviews, err := tx.Reviews(g.RequestID)
	if err != nil {
		return Approver{}, err
	}
	var approvers []string
	for _, r := range reviews {
		if r.Decision == DecisionApprove {
			approvers = append(approvers, r.Approver)
		}
	}
	if !slices.Contains(approvers, a.Login) {
		return Approver{}, fmt.Errorf("%w: the token of grant %s is shown only to the approvers whose approval issued it (%s); you can see the grant's facts", ErrNotEligible, g.ID, joinOrNone(approvers))
	}
	return a, nil
}

// MayRevealToken reports whether viewer may see the token of the grant of
// this grant or request id (nil) and if not why, without revealing or
// auditing anything: screens use it to offer the action.
func (s *Service) MayRevealToken(ctx context.Context, id, viewer string) error {
	return s.store.View(ctx, func(tx ReadTx) error {
		g, err := grantByEither(tx, id)
		if err != nil {
			return err
		}
		_, err = s.tokenViewer(tx, g, viewer)
		return err
	})
}

// RevealToken returns the grant with its access token for an approver
// whose approval issued it, and records the showing or copying in the
// audit log (in the same transaction: a token is never shown unaudited).
func (s *Service) RevealToken(ctx context.Context, in RevealInput) (Grant, error) {
	if in.Use != TokenShown && in.Use != TokenCopied {
		return Grant{}, invalidf("token use %q is not one of shown, copied", in.Use)
	}
	var out Grant
	err := s.store.Update(ctx, func(tx Tx) error {
		g, err := grantByEither(tx, in.ID)
		if err != nil {
			return err
		}
		a, err := s.tokenViewer(tx, g, in.Viewer)
		if err != nil {
			return err
		}
		if g.Token, err = s.openToken(g); err != nil {
			return err
		}
		out = g
		return s.audit(tx, s.Now(), a.Login, TokenRevealed{ID: g.ID, Use: in.Use, Request: g.RequestID})
	})
	if err != nil {
		return Grant{}, fmt.Errorf("token of %s: %w", in.ID, err)
	}
	return out, nil
}

// grantByEither finds a grant by its id or its request's id.
func grantByEither(tx ReadTx, id string) (Grant, error) {
	g, err := tx.Grant(id)
	if errors.Is(err, ErrNotFound) {
		g, err = tx.GrantByRequest(id)
	}
	if err != nil {
		return Grant{}, fmt.Errorf("no grant with id or request id %s: %w", id, err)
	}
	return g, nil
}

func joinOrNone(ss []string) string {
	if len(ss) == 0 {
		return "none"
	}
	out := ss[0]
	for _, s := range ss[1:] {
		out += ", " + s
	}
	return out
}
