package approvals

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"
)

// Shift is who holds one rotation's pager at a moment and who takes it
// next: what the console's On call tab and header show.
type Shift struct {
	Rotation string
	// Holder has the pager ("" before the rotation starts).
	Holder string
	// Override is the override Holder holds it by; nil when by schedule.
	Override *Override
	// Until is when the pager next changes hands: the scheduled hand-over
	// or an override starting or ending, whichever comes first. Zero when
	// it never changes (a one-member rotation without overrides).
	Until time.Time
	// Next holds the pager from Until; NextByOverride when by an override.
	Next           string
	NextByOverride bool
}

// overrideAt returns the override that decides who is on call at t (the
// most recent one covering it), if any.
func (r Rotation) overrideAt(t time.Time) *Override {
	for i := len(r.Overrides) - 1; i >= 0; i-- {
		o := r.Overrides[i]
		if !t.Before(o.From) && t.Before(o.Until) {
			return &o
		}
	}
	return nil
}

// ShiftAt says who holds the pager at t and when and to whom it passes
// next. Hand-overs where the same person carries on (an override ending in
// the holder's own shift) are skipped: Until is when someone else takes it.
func (r Rotation) ShiftAt(t time.Time) Shift {
	sh := Shift{Rotation: r.Name}
	sh.Holder, _ = r.OnCallAt(t)
	sh.Override = r.overrideAt(t)
	// Every moment the answer can change: the next len(Members)+1
	// scheduled hand-overs (enough to pass everyone once) and every
	// override's start and end.
	var at []time.Time
	h := t
	for i := 0; i <= len(r.Members); i++ {
		next, _ := r.NextHandover(h)
		if next.IsZero() || !next.After(h) {
			break
		}
		at = append(at, next)
		h = next
	}
	for _, o := range r.Overrides {
		for _, b := range []time.Time{o.From, o.Until} {
			if b.After(t) {
				at = append(at, b)
			}
		}
	}
	slices.SortFunc(at, func(a, b time.Time) int { return a.Compare(b) })
	for _, b := range at {
		who, _ := r.OnCallAt(b)
		if who != sh.Holder {
			sh.Until, sh.Next, sh.NextByOverride = b, who, r.overrideAt(b) != nil
			break
		}
	}
	return sh
}

// OnCallNow returns every rotation's shift at "at", by rotation name.
// Rotations are few (the store lists them without paging).
func (s *Service) OnCallNow(ctx context.Context, at time.Time) ([]Shift, error) {
	var rs []Rotation
	err := s.store.View(ctx, func(tx ReadTx) error {
		var err error
		rs, err = tx.Rotations(at)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("on call now: %w", err)
	}
	out := make([]Shift, 0, len(rs))
	for _, r := range rs {
		out = append(out, r.ShiftAt(at))
	}
	return out, nil
}

// OnCallFor returns the shifts login holds at "at" (none when not on call).
func (s *Service) OnCallFor(ctx context.Context, login string, at time.Time) ([]Shift, error) {
	all, err := s.OnCallNow(ctx, at)
	if err != nil {
		return nil, err
	}
	var out []Shift
	for _, sh := range all {
		if sh.Holder == login && login != "" {
			out = append(out, sh)
		}
	}
	return out, nil
}

// PendingEscalation is a pending request with when it escalates next.
type PendingEscalation struct {
	Request Request
	// NextEscalation is when the request reaches its next escalation level
	// (NextLevel); zero when its template does not escalate or the request
	// is at its template's cap. It may be in the past until the sweeper
	// takes the step.
	NextEscalation time.Time
	NextLevel      int
	Cap            int
}

// nextEscalation fills when r escalates next under t.
func nextEscalation(r Request, t Template) PendingEscalation {
	p := PendingEscalation{Request: r, Cap: t.EscalateCap}
	if t.EscalateAfter > 0 && r.Escalation < t.EscalateCap {
		p.NextLevel = r.Escalation + 1
		p.NextEscalation = r.CreatedAt.Add(time.Duration(p.NextLevel) * t.EscalateAfter)
	}
	return p
}

// withEscalation looks up each request's template (once per template) for
// its escalation terms.
func withEscalation(tx ReadTx, rs []Request) ([]PendingEscalation, error) {
	cache := map[string]Template{}
	out := make([]PendingEscalation, 0, len(rs))
	for _, r := range rs {
		t, ok := cache[r.TemplateKey]
		if !ok {
			var err error
			if t, err = tx.Template(r.TemplateKey); err != nil {
				return nil, fmt.Errorf("template %s: %w", r.TemplateKey, err)
			}
			cache[r.TemplateKey] = t
		}
		out = append(out, nextEscalation(r, t))
	}
	return out, nil
}

// needsMeScan bounds how many escalating requests one NeedsMeEscalation
// call reads while looking for those the approver may decide.
const needsMeScan = 1000

// NeedsMeEscalation returns up to limit pending requests of escalating
// templates that login could decide now (oldest first), each with when it
// escalates past them to the next people: the pages an on-call approver
// must answer before they go further. It reads escalating requests a page
// at a time and applies the decision rules (eligible at the request's
// level, not the requester, not yet reviewed by them) to each, stopping
// after needsMeScan rows.
func (s *Service) NeedsMeEscalation(ctx context.Context, login string, limit int) ([]PendingEscalation, error) {
	if limit < 1 || limit > 500 {
		return nil, invalidf("limit %d must be between 1 and 500", limit)
	}
	var out []PendingEscalation
	err := s.store.View(ctx, func(tx ReadTx) error {
		a, err := tx.Approver(login)
		if errors.Is(err, ErrNotFound) {
			return nil // nobody to page
		} else if err != nil {
			return err
		}
		now := s.Now()
		type key struct {
			template string
			level    int
		}
		eligible := map[key]bool{}
		templates := map[string]Template{}
		var after *Cursor
		for scanned := 0; scanned < needsMeScan && len(out) < limit; {
			rs, err := tx.EscalatingRequests(0, after, 100)
			if err != nil {
				return err
			}
			for _, r := range rs {
				t, ok := templates[r.TemplateKey]
				if !ok {
					if t, err = tx.Template(r.TemplateKey); err != nil {
						return fmt.Errorf("template %s: %w", r.TemplateKey, err)
					}
					templates[r.TemplateKey] = t
				}
				if r.Requester == login || !now.Before(r.ExpiresAt) {
					continue
				}
				k := key{r.TemplateKey, r.Escalation}
				ok, seen := eligible[k]
				if !seen {
					if ok, err = eligibleAt(tx, t, a, now, r.Escalation); err != nil {
						return err
					}
					eligible[k] = ok
				}
				if !ok {
					continue
				}
				reviews, err := tx.Reviews(r.ID)
				if err != nil {
					return err
				}
				if slices.ContainsFunc(reviews, func(v Review) bool { return v.Approver == login }) {
					continue
				}
				out = append(out, nextEscalation(r, t))
				if len(out) == limit {
					break
				}
			}
			scanned += len(rs)
			if len(rs) < 100 {
				break
			}
			last := rs[len(rs)-1]
			after = &Cursor{At: last.CreatedAt, ID: last.ID}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("requests paging %s: %w", login, err)
	}
	return out, nil
}

// Escalated returns up to limit pending requests escalated at least one
// step, oldest first, after the given position.
func (s *Service) Escalated(ctx context.Context, viewer string, after *Cursor, limit int) ([]PendingEscalation, error) {
	if limit < 1 || limit > 500 {
		return nil, invalidf("limit %d must be between 1 and 500", limit)
	}
	var out []PendingEscalation
	err := s.store.View(ctx, func(tx ReadTx) error {
		a, err := tx.Approver(viewer)
		if errors.Is(err, ErrNotFound) {
			return nil // an unknown viewer sees nothing
		} else if err != nil {
			return err
		}
		rs, err := tx.EscalatingRequests(1, after, limit)
		if err != nil {
			return err
		}
		now := s.Now()
		seen := rs[:0]
		for _, r := range rs {
			t, err := termsOf(tx, r)
			if err != nil {
				return err
			}
			if ok, err := visibleTo(tx, a, r, t, now); err != nil {
				return err
			} else if ok {
				seen = append(seen, r)
			}
		}
		out, err = withEscalation(tx, seen)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("escalated requests: %w", err)
	}
	return out, nil
}

// PostReview is a break-glass grant waiting for its after-the-fact review,
// with what a reviewer needs to judge it.
type PostReview struct {
	Grant   Grant // Token is never filled: a review needs no credential
	Request Request
	// Reason is the justification given when the glass was broken.
	Reason string
	// TTL is how long the grant was issued for.
	TTL time.Duration
	// CanReview is nil when the viewer may acknowledge or revoke the
	// grant, else why not (they used it, or the template is not theirs).
	CanReview error
}

// PostReviewQueue returns up to limit unreviewed break-glass grants, oldest
// first, after the given position, each saying whether viewer may review it.
func (s *Service) PostReviewQueue(ctx context.Context, viewer string, after *Cursor, limit int) ([]PostReview, error) {
	if limit < 1 || limit > 500 {
		return nil, invalidf("limit %d must be between 1 and 500", limit)
	}
	var out []PostReview
	err := s.store.View(ctx, func(tx ReadTx) error {
		gs, err := tx.AwaitingReview(after, limit)
		if err != nil {
			return err
		}
		now := s.Now()
		a, err := tx.Approver(viewer)
		if errors.Is(err, ErrNotFound) {
			return nil // an unknown viewer sees nothing
		} else if err != nil {
			return err
		}
		for _, g := range gs {
			g.Token = ""
			item := PostReview{Grant: g, TTL: g.ExpiresAt.Sub(g.IssuedAt)}
			if item.Request, err = tx.Request(g.RequestID); err != nil {
				return err
			}
			t, err := termsOf(tx, item.Request)
			if err != nil {
				return err
			}
			if ok, err := visibleTo(tx, a, item.Request, t, now); err != nil {
				return err
			} else if !ok {
				continue // another team's emergency is not this approver's to see
			}
			reviews, err := tx.Reviews(g.RequestID)
			if err != nil {
				return err
			}
			for _, r := range reviews {
				if r.Approver == g.Subject && r.Decision == DecisionApprove {
					item.Reason = r.Comment
				}
			}
			_, item.CanReview = breakGlassReviewer(tx, g, viewer, now)
			out = append(out, item)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("post-review queue: %w", err)
	}
	return out, nil
}
