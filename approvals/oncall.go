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
	// DisabledAt is set once the rotation was removed: nobody is on call
	// for it any more (history keeps it).
	DisabledAt time.Time
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
	if o := r.overrideAt(t); o != nil {
		return o.Login, true
	}
	return r.scheduledAt(t)
}

// scheduledAt is who the schedule alone gives the pager at t.
func (r Rotation) scheduledAt(t time.Time) (string, bool) {
	if len(r.Members) == 0 || r.Shift <= 0 || t.Before(r.Start) {
		return "", false
	}
	n := int64(t.Sub(r.Start) / r.Shift)
	return r.Members[n%int64(len(r.Members))], true
}

// Distance says how many hand-overs away login is from holding the pager at
// t: 0 when on call (by schedule or override), 1 for the next member, and so
// on around the rotation. false when login is not in the rotation at all.
// While an override holds, only its holder is at 0: the scheduled members
// step one further away (the one the schedule gives the pager is then the
// first escalation), so escalation first goes back to the schedule.
func (r Rotation) Distance(login string, t time.Time) (int, bool) {
	o := r.overrideAt(t)
	overridden := o != nil
	if overridden && o.Login == login {
		return 0, true
	}
	n := len(r.Members)
	if n == 0 || r.Shift <= 0 || t.Before(r.Start) {
		return 0, false
	}
	cur := int(int64(t.Sub(r.Start)/r.Shift) % int64(n))
	for i, m := range r.Members {
		if m == login {
			d := (i - cur + n) % n
			if overridden {
				d++
			}
			return d, true
		}
	}
	return 0, false
}

// NextHandover is when the current scheduled shift ends and who the
// schedule gives the pager to then (overrides aside: Shift.Until and
// Shift.Next, from ShiftAt, account for them).
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
	// The store keeps milliseconds; the audited state must be what is kept.
	r.Start = r.Start.UTC().Truncate(time.Millisecond)
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
		return s.audit(tx, r.CreatedAt, actor, NewConfigChange(ActionRotationAdded, r.Name, NewRotationState(r), nil))
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
		return s.audit(tx, now, actor, NewConfigChange(ActionRotationOverride, rotation, nil, map[string]any{"login": login, "from": auditTime(from), "until": auditTime(until)}))
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

// reachOf says, for login at t, how far each rotation is from reaching them:
// rotation name → hand-overs away (0 = on call now).
func reachOf(tx ReadTx, login string, t time.Time) (map[string]int, error) {
	rs, err := tx.Rotations(t)
	if err != nil {
		return nil, err
	}
	out := map[string]int{}
	for _, r := range rs {
		if d, ok := r.Distance(login, t); ok {
			out[r.Name] = d
		}
	}
	return out, nil
}

// eligibleAt is Eligible plus on-call and escalation: a template naming a
// rotation makes whoever holds its pager at decision time eligible, and a
// request escalated `level` steps also the next `level` people in the
// rotation; from the first step the template's escalation group too.
func eligibleAt(tx ReadTx, t Template, a Approver, now time.Time, level int) (bool, error) {
	if Eligible(t, a) {
		return true, nil
	}
	if level >= 1 && t.EscalateGroup != "" && slices.Contains(a.Groups, t.EscalateGroup) {
		return true, nil
	}
	if len(t.OnCall) == 0 {
		return false, nil
	}
	reach, err := reachOf(tx, a.Login, now)
	if err != nil {
		return false, err
	}
	for _, r := range t.OnCall {
		if d, ok := reach[r]; ok && d <= level {
			return true, nil
		}
	}
	return false, nil
}

// EscalateDue takes every due escalation step: a request pending for k
// periods of its template's EscalateAfter reaches level k (capped). Racing
// sweepers are safe: each step is a compare-and-set, audited once.
func (s *Service) EscalateDue(ctx context.Context) (int, error) {
	total := 0
	for {
		n := 0
		err := s.store.Update(ctx, func(tx Tx) error {
			now := s.Now()
			due, err := tx.DueEscalations(now, sweepBatch)
			if err != nil {
				return err
			}
			for _, r := range due {
				t, err := tx.Template(r.TemplateKey)
				if err != nil {
					return err
				}
				to := min(int(now.Sub(r.CreatedAt)/t.EscalateAfter), t.EscalateCap)
				if to <= r.Escalation {
					continue
				}
				moved, err := tx.SetEscalation(r.ID, r.Escalation, to)
				if err != nil {
					return err
				}
				if !moved {
					continue
				}
				n++
				if err := s.audit(tx, now, SystemSweeper, RequestEscalated{ID: r.ID, Level: to, Template: t.Key}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return total, fmt.Errorf("escalate due requests: %w", err)
		}
		total += n
		if n < sweepBatch {
			return total, nil
		}
	}
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
