package approvals

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Rotation is an on-call schedule: members hand the pager over every Shift,
// in order, starting at Start.
type Rotation struct {
	Name      string
	Members   []string // approver logins, in hand-over order
	Shift     time.Duration
	Start     time.Time
	CreatedAt time.Time
	// Overrides that had not ended when the rotation was loaded, oldest first.
	Overrides []Override
}

// Override gives the pager to Login from From until Until.
type Override struct {
	Login     string
	From      time.Time
	Until     time.Time
	CreatedAt time.Time
}

// OnCallAt returns who holds the pager at t: the most recent override
// covering t, else the member whose shift contains t. Before Start nobody is.
func (r Rotation) OnCallAt(t time.Time) (string, bool) {
	for i := len(r.Overrides) - 1; i >= 0; i-- {
		o := r.Overrides[i]
		if !t.Before(o.From) && t.Before(o.Until) {
			return o.Login, true
		}
	}
	if len(r.Members) == 0 || r.Shift <= 0 || t.Before(r.Start) {
		return "", false
	}
	n := int64(t.Sub(r.Start) / r.Shift)
	return r.Members[n%int64(len(r.Members))], true
}

// NextHandover is when the current scheduled shift ends and who takes over
// (overrides aside).
func (r Rotation) NextHandover(t time.Time) (time.Time, string) {
	if len(r.Members) == 0 || r.Shift <= 0 {
		return time.Time{}, ""
	}
	if t.Before(r.Start) {
		return r.Start, r.Members[0]
	}
	n := int64(t.Sub(r.Start)/r.Shift) + 1
	return r.Start.Add(time.Duration(n) * r.Shift), r.Members[n%int64(len(r.Members))]
}

// AddRotation creates a rotation.
func (s *Service) AddRotation(ctx context.Context, actor string, r Rotation) error {
	if !ValidLogin(r.Name) {
		return invalidf("rotation name %q: use 1-64 lower-case letters, digits, '.', '_' or '-'", r.Name)
	}
	r.Members = dedupe(r.Members)
	if len(r.Members) == 0 {
		return invalidf("rotation %s: give at least one --member", r.Name)
	}
	if r.Shift < time.Minute {
		return invalidf("rotation %s: shift must be at least 1m", r.Name)
	}
	if r.Start.IsZero() {
		return invalidf("rotation %s: --start is required", r.Name)
	}
	r.CreatedAt = s.Now()
	err := s.store.Update(ctx, func(tx Tx) error {
		if _, err := tx.Rotation(r.Name, r.CreatedAt); err == nil {
			return fmt.Errorf("%w: rotation %q", ErrConflict, r.Name)
		}
		for _, m := range r.Members {
			if _, err := tx.Approver(m); err != nil {
				return fmt.Errorf("member %q: %w", m, err)
			}
		}
		if err := tx.InsertRotation(r); err != nil {
			return err
		}
		return s.audit(tx, r.CreatedAt, actor, "rotation.added", r.Name, map[string]any{
			"members": r.Members, "shift": r.Shift.String(), "start": r.Start.Format(time.RFC3339),
		})
	})
	if err != nil {
		return fmt.Errorf("add rotation %s: %w", r.Name, err)
	}
	return nil
}

// OverrideOnCall gives the pager of a rotation to login until until.
func (s *Service) OverrideOnCall(ctx context.Context, actor, rotation, login string, from, until time.Time) error {
	now := s.Now()
	if from.IsZero() {
		from = now
	}
	if !until.After(from) || !until.After(now) {
		return invalidf("override until %s must be in the future and after its start", until.Format(time.RFC3339))
	}
	err := s.store.Update(ctx, func(tx Tx) error {
		if _, err := tx.Rotation(rotation, now); err != nil {
			return err
		}
		if _, err := tx.Approver(login); err != nil {
			return fmt.Errorf("%q: %w", login, err)
		}
		if err := tx.InsertOverride(rotation, Override{Login: login, From: from, Until: until, CreatedAt: now}); err != nil {
			return err
		}
		return s.audit(tx, now, actor, "rotation.override", rotation, map[string]any{"login": login, "from": from.Format(time.RFC3339), "until": until.Format(time.RFC3339)})
	})
	if err != nil {
		return fmt.Errorf("override %s: %w", rotation, err)
	}
	return nil
}

// Rotation returns a rotation with its current and future overrides.
func (s *Service) Rotation(ctx context.Context, name string) (Rotation, error) {
	var r Rotation
	err := s.store.View(ctx, func(tx ReadTx) error {
		var err error
		r, err = tx.Rotation(name, s.Now())
		return err
	})
	if err != nil {
		return Rotation{}, fmt.Errorf("rotation %q: %w", name, err)
	}
	return r, nil
}

// Rotations lists every rotation with its current and future overrides.
func (s *Service) Rotations(ctx context.Context) ([]Rotation, error) {
	var rs []Rotation
	err := s.store.View(ctx, func(tx ReadTx) error {
		var err error
		rs, err = tx.Rotations(s.Now())
		return err
	})
	return rs, err
}

// onCallRotations names the rotations whose pager login holds at t.
func onCallRotations(tx ReadTx, login string, t time.Time) ([]string, error) {
	rs, err := tx.Rotations(t)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, r := range rs {
		if who, ok := r.OnCallAt(t); ok && who == login {
			out = append(out, r.Name)
		}
	}
	return out, nil
}

// eligibleAt is Eligible plus on-call: a template naming a rotation makes
// whoever holds its pager at the time of the decision eligible.
func eligibleAt(tx ReadTx, t Template, a Approver, now time.Time) (bool, error) {
	if Eligible(t, a) {
		return true, nil
	}
	if len(t.OnCall) == 0 {
		return false, nil
	}
	on, err := onCallRotations(tx, a.Login, now)
	if err != nil {
		return false, err
	}
	for _, r := range on {
		if slices.Contains(t.OnCall, r) {
			return true, nil
		}
	}
	return false, nil
}

// describeApprovers says who may decide t, for refusals.
func describeApprovers(t Template) string {
	var parts []string
	if len(t.Approvers) > 0 {
		parts = append(parts, "approvers "+strings.Join(t.Approvers, ","))
	}
	if len(t.Groups) > 0 {
		parts = append(parts, "groups "+strings.Join(t.Groups, ","))
	}
	if len(t.OnCall) > 0 {
		parts = append(parts, "on call for "+strings.Join(t.OnCall, ","))
	}
	return strings.Join(parts, "; ")
}
