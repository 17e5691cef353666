package approvals

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jitdesk/jitdesk/approvals/signature"
	"github.com/jitdesk/jitdesk/tokens"
)

// keyPublicationSlack is how much longer than the grant it signs a key is
// kept published.
const keyPublicationSlack = time.Hour

// MaxSignatureAge bounds how long before the decision a signature may have
// been made (and how far ahead a skewed client clock may put it).
const MaxSignatureAge = 15 * time.Minute

// Meaning is the statement an approver signs for a request: intent, the
// person, the access, the duration and the exact request.
func Meaning(r Request, t Template, grantTTL time.Duration) string {
	return fmt.Sprintf("I approve JIT access for %s to %s for %s — request %s", r.Requester, t.Title, FormatDuration(grantTTL), r.ID)
}

// ApproveInput is one approver's approval.
type ApproveInput struct {
	RequestID string
	Approver  string // login
	// Digest is the request digest the approver was shown (Detail.Digest).
	Digest  string
	Comment string
	// TTL shortens the grant; 0 grants what was asked. Never longer than asked.
	TTL       time.Duration
	Signature *signature.Signature // required for Sign and Approve templates
	// KeySignature is the approval signed with the approver's SSH key;
	// required when the template says so.
	KeySignature *KeySignature
	// BreakGlass is the requester approving their own request in an
	// emergency: allowed only where the template permits it, always with a
	// signature and a reason (Comment), capped at the template's
	// break-glass TTL, and queued for post-review.
	BreakGlass bool
}

// Outcome is the result of an approval.
type Outcome struct {
	Request Request
	// Grant and Token are set when this approval completed the quorum.
	Grant *Grant
	Token string
	// Remaining is how many more approvals the quorum needs (0 when approved).
	Remaining int
}

// DenyInput is one approver's denial; a deny ends the request.
type DenyInput struct {
	RequestID string
	Approver  string
	Digest    string
	Comment   string // required: the requester deserves a reason
	// KeySignature is the denial signed with the approver's SSH key;
	// required when the template says so.
	KeySignature *KeySignature
}

// decisionCheck loads a request and applies the rules every decision shares:
// pending, not expired, unchanged since it was shown, and eligibility (the
// same function CanDecide uses).
func (s *Service) decisionCheck(tx Tx, id, login, digest string, now time.Time) (Request, Template, Approver, error) {
	req, err := tx.Request(id)
	if err != nil {
		return Request{}, Template{}, Approver{}, err
	}
	if err := pendingAt(req, now); err != nil {
		return Request{}, Template{}, Approver{}, err
	}
	t, err := termsOf(tx, req)
	if err != nil {
		return Request{}, Template{}, Approver{}, err
	}
	a, err := s.activeApprover(tx, login)
	if err != nil {
		return Request{}, Template{}, Approver{}, err
	}
	if err := eligibility(tx, req, t, a, now); err != nil {
		return Request{}, Template{}, Approver{}, err
	}
	if digest == "" {
		return Request{}, Template{}, Approver{}, fmt.Errorf("%w: the decision does not say which version of the request was reviewed", ErrDigestMismatch)
	}
	if want := Digest(req, t); digest != want {
		return Request{}, Template{}, Approver{}, fmt.Errorf("%w: review it again before deciding", ErrDigestMismatch)
	}
	return req, t, a, nil
}

// pendingAt explains why a request cannot be decided at now, naming who
// decided it and when (a *DecidedError), or when it expired.
func pendingAt(req Request, now time.Time) error {
	if req.Status != StatusPending {
		return &DecidedError{RequestID: req.ID, Status: req.Status, By: req.DecidedBy, At: req.DecidedAt}
	}
	if !now.Before(req.ExpiresAt) {
		return fmt.Errorf("%w at %s (its pending timeout passed)", ErrExpired, req.ExpiresAt.UTC().Format(time.RFC3339))
	}
	return nil
}

// Eligible reports whether an approver may review requests of t: named on
// the template or a member of one of its groups. (The requester rule is
// separate because it depends on the request.)
func Eligible(t Template, a Approver) bool {
	if slices.Contains(t.Approvers, a.Login) {
		return true
	}
	for _, g := range a.Groups {
		if slices.Contains(t.Groups, g) {
			return true
		}
	}
	return false
}

// CanDecide reports whether login may decide the request now, and if not,
// why: the same rule every decision applies.
func (s *Service) CanDecide(ctx context.Context, id, login string) error {
	return s.store.View(ctx, func(tx ReadTx) error {
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
		a, err := s.activeApprover(tx, login)
		if err != nil {
			return err
		}
		return eligibility(tx, req, t, a, s.Now())
	})
}

// Approve records an approval. When it completes the quorum, the request is
// approved and a grant and its access token are issued — all in the same
// transaction as the review and its audit events, or none of it.
func (s *Service) Approve(ctx context.Context, in ApproveInput) (Outcome, error) {
	if len(in.Comment) > MaxCommentLen {
		return Outcome{}, invalidf("comment is %d bytes; at most %d", len(in.Comment), MaxCommentLen)
	}
	if in.BreakGlass {
		return s.breakGlass(ctx, in)
	}
	var out Outcome
	err := s.store.Update(ctx, func(tx Tx) error {
		now := s.Now()
		req, t, a, err := s.decisionCheck(tx, in.RequestID, in.Approver, in.Digest, now)
		if err != nil {
			return err
		}
		grantTTL := req.TTL
		if in.TTL != 0 {
			if in.TTL < time.Minute {
				return invalidf("ttl %s is shorter than 1m", FormatDuration(in.TTL))
			}
			if in.TTL > req.TTL {
				return invalidf("ttl %s is longer than the %s asked for; an approver may only shorten it", FormatDuration(in.TTL), FormatDuration(req.TTL))
			}
			grantTTL = in.TTL
		}
		sigDigest := ""
		if t.Type == TypeSignAndApprove || in.Signature != nil {
			stored, err := s.checkSignature(in.Signature, req, t, a, grantTTL, now)
			if err != nil {
				return err
			}
			if err := tx.InsertSignature(stored); err != nil {
				return err
			}
			sigDigest = stored.Digest
		}
		rev := Review{RequestID: req.ID, Approver: a.Login, Decision: DecisionApprove, Comment: strings.TrimSpace(in.Comment), SignatureDigest: sigDigest, GrantTTL: grantTTL, At: now}
		if err := s.recordKeySignature(tx, in.KeySignature, &rev, req, t, a, in.Digest, now); err != nil {
			return err
		}
		if err := tx.InsertReview(rev); err != nil {
			return err
		}
		if err := s.audit(tx, now, a.Login, ReviewApproved{ID: req.ID, TTL: grantTTL.String(), Signature: sigDigest, KeySignature: rev.KeySignatureDigest, KeyFingerprint: rev.KeyFingerprint, Digest: in.Digest, Comment: rev.Comment}); err != nil {
			return err
		}
		req.Approvals++
		if req.Approvals < t.Quorum {
			out = Outcome{Request: req, Remaining: t.Quorum - req.Approvals}
			return nil
		}
		if err := tx.SetRequestStatus(req.ID, StatusApproved, now, a.Login, ""); err != nil {
			return err
		}
		req.Status, req.DecidedAt, req.DecidedBy = StatusApproved, now, a.Login
		g, token, err := s.issueGrant(tx, req, t, now, false)
		if err != nil {
			return err
		}
		out = Outcome{Request: req, Grant: &g, Token: token}
		return s.audit(tx, now, a.Login, RequestApproved{ID: req.ID, Template: t.Key, Grant: g.ID, Kid: g.Kid, ExpiresAt: auditTime(g.ExpiresAt), Approvals: req.Approvals})
	})
	if err != nil {
		return Outcome{}, fmt.Errorf("approve %s: %w", in.RequestID, err)
	}
	return out, nil
}

// recordKeySignature applies the key-signature rule to a decision about to
// be recorded as rev, stores the signature when there is one, and names it
// on rev.
func (s *Service) recordKeySignature(tx Tx, ks *KeySignature, rev *Review, req Request, t Template, a Approver, digest string, now time.Time) error {
	stored, err := s.checkKeySignature(ks, req, t, a, rev.Decision, digest, rev.GrantTTL, now)
	if err != nil || stored == nil {
		return err
	}
	if err := tx.InsertKeySignature(*stored); err != nil {
		return err
	}
	rev.KeySignatureDigest, rev.KeyFingerprint = stored.Digest, stored.Fingerprint
	return nil
}

// checkSignature verifies that sig is a valid signature by a, bound to this
// exact request and the meaning stated for this grant.
func (s *Service) checkSignature(sig *signature.Signature, req Request, t Template, a Approver, grantTTL time.Duration, now time.Time) (StoredSignature, error) {
	if sig == nil {
		return StoredSignature{}, fmt.Errorf("%w: template %s is Sign and Approve", ErrSignatureRequired, t.Key)
	}
	if err := sig.Validate(); err != nil {
		return StoredSignature{}, fmt.Errorf("%w: %w", ErrSignatureRequired, err)
	}
	if sig.Approver != a.Login {
		return StoredSignature{}, fmt.Errorf("%w: signed by %q, not by %s", ErrSignatureRequired, sig.Approver, a.Login)
	}
	if sig.PrintedName != a.Name {
		return StoredSignature{}, fmt.Errorf("%w: printed name %q is not the approver's name %q", ErrSignatureRequired, sig.PrintedName, a.Name)
	}
	if sig.Kind == signature.Typed && !signature.MatchesName(sig.Text, a.Name) {
		return StoredSignature{}, fmt.Errorf("%w: %w: type your full name, %q", ErrSignatureRequired, signature.ErrNameMismatch, a.Name)
	}
	if sig.RequestDigest != Digest(req, t) {
		return StoredSignature{}, fmt.Errorf("%w: the signature is bound to another version of the request", ErrDigestMismatch)
	}
	if want := Meaning(req, t, grantTTL); sig.Meaning != want {
		return StoredSignature{}, fmt.Errorf("%w: the signed statement %q does not match %q", ErrSignatureRequired, sig.Meaning, want)
	}
	if d := now.Sub(sig.SignedAt); d > MaxSignatureAge || d < -MaxSignatureAge {
		return StoredSignature{}, fmt.Errorf("%w: signed at %s, more than %s from now; sign again", ErrSignatureRequired, sig.SignedAt.Format(time.RFC3339), MaxSignatureAge)
	}
	canon, err := sig.Canonical()
	if err != nil {
		return StoredSignature{}, fmt.Errorf("%w: %w", ErrSignatureRequired, err)
	}
	digest, err := sig.Digest()
	if err != nil {
		return StoredSignature{}, fmt.Errorf("%w: %w", ErrSignatureRequired, err)
	}
	return StoredSignature{Digest: digest, RequestID: req.ID, Approver: a.Login, Kind: string(sig.Kind), Canonical: canon, SignedAt: sig.SignedAt}, nil
}

// issueGrant creates the grant and signs its access token inside tx. The
// grant's clock starts now, at approval, not when the request was made. When
// several approvers shortened the TTL, the shortest wins.
func (s *Service) issueGrant(tx Tx, req Request, t Template, now time.Time, breakGlass bool) (Grant, string, error) {
	reviews, err := tx.Reviews(req.ID)
	if err != nil {
		return Grant{}, "", err
	}
	ttl := req.TTL
	var approvers, sigs, keySigs []string
	for _, r := range reviews {
		if r.Decision != DecisionApprove {
			continue
		}
		approvers = append(approvers, r.Approver)
		if r.SignatureDigest != "" {
			sigs = append(sigs, r.SignatureDigest)
		}
		if r.KeySignatureDigest != "" {
			keySigs = append(keySigs, r.KeySignatureDigest)
		}
		if r.GrantTTL > 0 && r.GrantTTL < ttl {
			ttl = r.GrantTTL
		}
	}
	app, err := tx.Application(req.AppID)
	if err != nil {
		return Grant{}, "", fmt.Errorf("application %s: %w", req.AppID, err)
	}
	key, err := s.activeKey(tx)
	if err != nil {
		return Grant{}, "", err
	}
	g := Grant{
		ID:         s.newID(),
		RequestID:  req.ID,
		AppID:      app.ID,
		Subject:    req.Requester,
		Audience:   app.Audience,
		Scope:      t.Key,
		IssuedAt:   now,
		ExpiresAt:  now.Add(ttl),
		Kid:        key.Kid,
		BreakGlass: breakGlass,
	}
	claims := tokens.AccessClaims{
		ClientID: app.ID,
		Scope:    t.Key,
		JIT: tokens.JITClaim{
			RequestID:    req.ID,
			ApprovalType: string(t.Type),
			// Reason and metadata stay out of the token: they are the
			// application's (unbounded, hostile) text, and the request id
			// and digest identify them. A token stays small and revocable
			// whatever the request holds.
			Approvers:           approvers,
			RequestDigest:       Digest(req, t),
			SignatureDigests:    sigs,
			KeySignatureDigests: keySigs,
			BreakGlass:          breakGlass,
		},
	}
	claims.Issuer = s.issuer
	claims.Subject = g.Subject
	claims.Audience = []string{g.Audience}
	claims.IssuedAt = jwtTime(now)
	claims.NotBefore = jwtTime(now)
	claims.ExpiresAt = jwtTime(g.ExpiresAt)
	claims.ID = g.ID
	token, err := tokens.IssueAccess(key, claims)
	if err != nil {
		return Grant{}, "", fmt.Errorf("issue token: %w", err)
	}
	g.Token = token
	// The stored token is sealed like the other secrets: a copy of the
	// database alone yields no live bearer token.
	stored := g
	sealed, err := s.seal(sealGrantToken, g.ID, []byte(token))
	if err != nil {
		return Grant{}, "", err
	}
	stored.Token = string(sealed)
	if err := tx.InsertGrant(stored); err != nil {
		return Grant{}, "", err
	}
	// Publishing the key an hour past this grant's end lets the grants of
	// the next hour be issued without writing the key again (the store
	// skips a publication that already covers them).
	if err := tx.ExtendKeyPublication(key.Kid, g.ExpiresAt, g.ExpiresAt.Add(keyPublicationSlack)); err != nil {
		return Grant{}, "", err
	}
	if err := s.audit(tx, now, SystemIssuer, NewGrantIssued(g, approvers)); err != nil {
		return Grant{}, "", err
	}
	return g, token, nil
}

// Deny records a denial, which ends the request.
func (s *Service) Deny(ctx context.Context, in DenyInput) (Request, error) {
	comment := strings.TrimSpace(in.Comment)
	if comment == "" {
		return Request{}, invalidf("deny %s: a comment is required so the requester knows why", in.RequestID)
	}
	if len(comment) > MaxCommentLen {
		return Request{}, invalidf("comment is %d bytes; at most %d", len(comment), MaxCommentLen)
	}
	var out Request
	err := s.store.Update(ctx, func(tx Tx) error {
		now := s.Now()
		req, t, a, err := s.decisionCheck(tx, in.RequestID, in.Approver, in.Digest, now)
		if err != nil {
			return err
		}
		rev := Review{RequestID: req.ID, Approver: a.Login, Decision: DecisionDeny, Comment: comment, At: now}
		if err := s.recordKeySignature(tx, in.KeySignature, &rev, req, t, a, in.Digest, now); err != nil {
			return err
		}
		if err := tx.InsertReview(rev); err != nil {
			return err
		}
		if err := tx.SetRequestStatus(req.ID, StatusDenied, now, a.Login, ""); err != nil {
			return err
		}
		req.Status, req.DecidedAt, req.DecidedBy = StatusDenied, now, a.Login
		out = req
		return s.audit(tx, now, a.Login, RequestDenied{ID: req.ID, Template: t.Key, Comment: comment, Digest: in.Digest, KeySignature: rev.KeySignatureDigest, KeyFingerprint: rev.KeyFingerprint})
	})
	if err != nil {
		return Request{}, fmt.Errorf("deny %s: %w", in.RequestID, err)
	}
	return out, nil
}

// CancelInput withdraws a pending request: either the application that
// made it (AppID) or an approver who could decide it, or its own requester
// (Approver, with a Reason). Exactly one of AppID and Approver.
type CancelInput struct {
	ID       string
	AppID    string
	Approver string
	Reason   string
}

// Cancel withdraws a pending request. An application cannot cancel
// another's (it is not found); an approver must be able to see the request
// as theirs to decide or their own, and must say why.
func (s *Service) Cancel(ctx context.Context, in CancelInput) (Request, error) {
	reason := strings.TrimSpace(in.Reason)
	if (in.AppID == "") == (in.Approver == "") {
		return Request{}, invalidf("cancel %s: say who cancels (the application or an approver)", in.ID)
	}
	if in.Approver != "" && reason == "" {
		return Request{}, invalidf("cancel %s: a reason is required (--reason), so the requester knows why", in.ID)
	}
	if len(reason) > MaxCommentLen {
		return Request{}, invalidf("reason is %d bytes; at most %d", len(reason), MaxCommentLen)
	}
	var out Request
	err := s.store.Update(ctx, func(tx Tx) error {
		req, err := tx.Request(in.ID)
		if err != nil {
			return err
		}
		actor := "app:" + in.AppID
		if in.AppID != "" {
			if req.AppID != in.AppID {
				return ErrNotFound
			}
		} else {
			a, err := s.activeApprover(tx, in.Approver)
			if err != nil {
				return err
			}
			t, err := tx.Template(req.TemplateKey)
			if err != nil {
				return err
			}
			own, err := samePerson(tx, req, a)
			if err != nil {
				return err
			}
			if !own {
				if err := eligibility(tx, req, t, a, s.Now()); err != nil && !errors.Is(err, ErrAlreadyReviewed) {
					return fmt.Errorf("%w: only the requester or someone who could decide it may cancel it", err)
				}
			}
			actor = a.Login
		}
		now := s.Now()
		if err := pendingAt(req, now); err != nil {
			return err
		}
		if err := tx.SetRequestStatus(req.ID, StatusCancelled, now, actor, reason); err != nil {
			return err
		}
		req.Status, req.DecidedAt, req.DecidedBy, req.DecidedComment = StatusCancelled, now, actor, reason
		out = req
		return s.audit(tx, now, actor, RequestCancelled{ID: req.ID, Template: req.TemplateKey, Reason: reason})
	})
	if err != nil {
		return Request{}, fmt.Errorf("cancel %s: %w", in.ID, err)
	}
	return out, nil
}

// RevokeInput revokes a grant, named by its id or its request's id.
type RevokeInput struct {
	ID string
	// Approver revokes as a person eligible for the template; or AppID
	// revokes as the application the grant was issued to. Exactly one.
	Approver string
	AppID    string
	Reason   string
}

// Revoke ends a grant before it expires; its token introspects as inactive.
func (s *Service) Revoke(ctx context.Context, in RevokeInput) (Grant, error) {
	reason := strings.TrimSpace(in.Reason)
	if (in.Approver == "") == (in.AppID == "") {
		return Grant{}, invalidf("revoke %s: say who revokes (an approver or the application)", in.ID)
	}
	if in.Approver != "" && reason == "" {
		return Grant{}, invalidf("revoke %s: a reason is required", in.ID)
	}
	if len(reason) > MaxCommentLen {
		return Grant{}, invalidf("reason is %d bytes; at most %d", len(reason), MaxCommentLen)
	}
	var out Grant
	err := s.store.Update(ctx, func(tx Tx) error {
		g, err := tx.Grant(in.ID)
		if errors.Is(err, ErrNotFound) {
			g, err = tx.GrantByRequest(in.ID)
		}
		if err != nil {
			return fmt.Errorf("no grant with id or request id %s: %w", in.ID, err)
		}
		actor := "app:" + in.AppID
		if in.AppID != "" {
			if g.AppID != in.AppID {
				return ErrNotFound
			}
		} else {
			a, err := tx.Approver(in.Approver)
			if err != nil {
				return fmt.Errorf("%w: %q is not a registered approver", ErrNotEligible, in.Approver)
			}
			t, err := tx.Template(g.Scope)
			if err != nil {
				return err
			}
			// Anyone the request could have reached may revoke its grant.
			if ok, err := eligibleAt(tx, t, a, s.Now(), t.EscalateCap); err != nil {
				return err
			} else if !ok {
				return fmt.Errorf("%w: %s may not revoke grants of template %s (%s)", ErrNotEligible, a.Login, t.Key, describeApprovers(t))
			}
			actor = a.Login
		}
		if g.Revoked() {
			return fmt.Errorf("%w: by %s at %s", ErrRevoked, g.RevokedBy, g.RevokedAt.Format(time.RFC3339))
		}
		now := s.Now()
		if err := tx.RevokeGrant(g.ID, now, actor, reason); err != nil {
			return err
		}
		g.RevokedAt, g.RevokedBy, g.RevokeReason = now, actor, reason
		out = g
		return s.audit(tx, now, actor, GrantRevocation{ID: g.ID, Request: g.RequestID, Reason: reason})
	})
	if err != nil {
		return Grant{}, fmt.Errorf("revoke %s: %w", in.ID, err)
	}
	return out, nil
}

// Signatures returns the signatures recorded on a request, decoded, each
// checked against the digest it was stored (and bound into tokens) under.
func (s *Service) Signatures(ctx context.Context, requestID string) ([]signature.Signature, error) {
	var stored []StoredSignature
	err := s.store.View(ctx, func(tx ReadTx) error {
		var err error
		stored, err = tx.Signatures(requestID)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("signatures of %s: %w", requestID, err)
	}
	out := make([]signature.Signature, 0, len(stored))
	for _, st := range stored {
		sig, err := signature.Decode(st.Canonical)
		if err != nil {
			return nil, fmt.Errorf("signature %s of %s: %w", st.Digest, requestID, err)
		}
		if d, err := sig.Digest(); err != nil || d != st.Digest {
			return nil, fmt.Errorf("%w: signature %s of %s no longer matches its digest", ErrAuditBroken, st.Digest, requestID)
		}
		out = append(out, sig)
	}
	return out, nil
}
