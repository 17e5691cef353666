package approvals

import (
	"errors"
	"fmt"
	"slices"
	"time"
)

// activeApprover loads an approver who may act now: registered and not
// disabled. Anything else is ErrNotEligible (ErrDisabled too when disabled),
// so a disabled approver's console or CLI can act on nothing.
func (s *Service) activeApprover(tx ReadTx, login string) (Approver, error) {
	a, err := tx.Approver(login)
	if errors.Is(err, ErrNotFound) {
		return Approver{}, fmt.Errorf("%w: %q is not a registered approver", ErrNotEligible, login)
	} else if err != nil {
		return Approver{}, err
	}
	if a.Disabled() {
		return Approver{}, fmt.Errorf("%w: %w: approver %s was disabled at %s by %s", ErrNotEligible, ErrDisabled, a.Login, a.DisabledAt.Format(time.RFC3339), a.DisabledBy)
	}
	return a, nil
}

// personIdentities are every identity that is the same person as a: their
// login, their email, and the logins of every approver sharing that email
// (an email identifies one person however many logins they have).
func personIdentities(tx ReadTx, a Approver) ([]string, error) {
	ids := []string{IdentityOf(a.Login)}
	if a.Email == "" {
		return ids, nil
	}
	ids = append(ids, IdentityOf(a.Email))
	same, err := tx.ApproversByEmail(a.Email)
	if err != nil {
		return nil, fmt.Errorf("approvers with email of %s: %w", a.Login, err)
	}
	for _, o := range same {
		if id := IdentityOf(o.Login); !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	return ids, nil
}

// samePerson reports whether approver a is the requester of req under the
// identity profile: the requester's identity is a's login, a's email or
// another login of the same person.
func samePerson(tx ReadTx, req Request, a Approver) (bool, error) {
	ids, err := personIdentities(tx, a)
	if err != nil {
		return false, err
	}
	rid := req.RequesterIdentity
	if rid == "" {
		rid = IdentityOf(req.Requester)
	}
	return slices.Contains(ids, rid), nil
}

// eligibility is the one rule of who may decide a pending request, used by
// CanDecide (to offer the action) and by every decision (to allow it), so
// the two cannot disagree: an active approver, not the requester (nor the
// same person under another login or a look-alike name), eligible for the
// request's template terms now (named, group, on call, escalation), who —
// as a person — has not reviewed it yet.
func eligibility(tx ReadTx, req Request, t Template, a Approver, now time.Time) error {
	if a.Disabled() {
		return fmt.Errorf("%w: %w: approver %s is disabled", ErrNotEligible, ErrDisabled, a.Login)
	}
	self, err := samePerson(tx, req, a)
	if err != nil {
		return err
	}
	if self {
		if IdentityOf(req.Requester) == IdentityOf(a.Login) && req.Requester != a.Login {
			return fmt.Errorf("%w: the requester %q is you (%s) under the identity rules (case and look-alike characters are ignored)", ErrSelfApproval, req.Requester, a.Login)
		}
		if req.Requester != a.Login {
			return fmt.Errorf("%w: the requester %q is the same person as %s (same email)", ErrSelfApproval, req.Requester, a.Login)
		}
		return ErrSelfApproval
	}
	ok, err := eligibleAt(tx, t, a, now, req.Escalation)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%w: %s may not decide template %s (%s)", ErrNotEligible, a.Login, t.Key, describeApprovers(t))
	}
	reviews, err := tx.Reviews(req.ID)
	if err != nil {
		return err
	}
	ids, err := personIdentities(tx, a)
	if err != nil {
		return err
	}
	for _, r := range reviews {
		if r.Approver == a.Login {
			return fmt.Errorf("%w: %s already %s this request at %s", ErrAlreadyReviewed, a.Login, pastTense(r.Decision), r.At.Format(time.RFC3339))
		}
		if slices.Contains(ids, IdentityOf(r.Approver)) {
			return fmt.Errorf("%w: %s is the same person as %s (same email), who already %s this request at %s", ErrAlreadyReviewed, a.Login, r.Approver, pastTense(r.Decision), r.At.Format(time.RFC3339))
		}
		if a.Email != "" {
			if o, err := tx.Approver(r.Approver); err == nil && o.Email == a.Email {
				return fmt.Errorf("%w: %s is the same person as %s (same email), who already %s this request at %s", ErrAlreadyReviewed, a.Login, r.Approver, pastTense(r.Decision), r.At.Format(time.RFC3339))
			}
		}
	}
	return nil
}

// pastTense is "approved" or "denied".
func pastTense(d Decision) string {
	if d == DecisionDeny {
		return "denied"
	}
	return "approved"
}

// termsOf returns the template terms a request is decided on: the version
// it was made under, which may be older than the template's current one.
func termsOf(tx ReadTx, req Request) (Template, error) {
	t, err := tx.Template(req.TemplateKey)
	if err != nil {
		return Template{}, fmt.Errorf("template %s: %w", req.TemplateKey, err)
	}
	if req.TemplateVersion == 0 || req.TemplateVersion == t.Version {
		return t, nil
	}
	old, err := tx.TemplateVersion(req.TemplateKey, req.TemplateVersion)
	if err != nil {
		return Template{}, fmt.Errorf("template %s version %d: %w", req.TemplateKey, req.TemplateVersion, err)
	}
	return old, nil
}

// visibleTo is the rule of who may see a request: an auditor sees all; an
// approver sees their own requests and those of templates they could
// decide under any rule — named, a group, a member of (or holding an
// override on) one of its rotations at any distance, or its escalation
// group. A disabled approver sees nothing. (The store's list queries apply
// the same rule in SQL, RequestQuery.Viewer, so pages need no filtering.)
func visibleTo(tx ReadTx, a Approver, req Request, t Template, now time.Time) (bool, error) {
	if a.Disabled() {
		return false, nil
	}
	if a.Auditor || Eligible(t, a) || (t.EscalateGroup != "" && slices.Contains(a.Groups, t.EscalateGroup)) {
		return true, nil
	}
	if self, err := samePerson(tx, req, a); err != nil || self {
		return self, err
	}
	for _, name := range t.OnCall {
		r, err := tx.Rotation(name, now)
		if errors.Is(err, ErrNotFound) {
			continue
		} else if err != nil {
			return false, err
		}
		if _, ok := r.Distance(a.Login, now); ok {
			return true, nil
		}
		if who, ok := r.OnCallAt(now); ok && who == a.Login {
			return true, nil
		}
	}
	return false, nil
}
