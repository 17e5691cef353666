package approvals

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// NewRequest is what an application (or the CLI on its behalf) asks for.
type NewRequest struct {
	// AppID is the calling application; when empty (operator CLI) the
	// template's own application is used.
	AppID       string
	TemplateKey string
	Requester   string
	Reason      string
	TTL         time.Duration // 0 = the template's default
	Metadata    map[string]string
}

// Submit validates and stores a new pending request.
func (s *Service) Submit(ctx context.Context, in NewRequest) (Request, error) {
	now := s.Now()
	var req Request
	err := s.store.Update(ctx, func(tx Tx) error {
		t, err := tx.Template(in.TemplateKey)
		if err != nil {
			return fmt.Errorf("template %q: %w", in.TemplateKey, err)
		}
		if in.AppID != "" && in.AppID != t.AppID {
			// Another application's template is not even acknowledged to exist.
			return fmt.Errorf("template %q: %w", in.TemplateKey, ErrNotFound)
		}
		req, err = s.buildRequest(t, in, now)
		if err != nil {
			return err
		}
		if err := s.checkPendingLimit(tx, t.AppID); err != nil {
			return err
		}
		if err := tx.InsertRequest(req); err != nil {
			return err
		}
		return s.audit(tx, now, "app:"+t.AppID, NewRequestCreated(req, t))
	})
	if err != nil {
		return Request{}, fmt.Errorf("submit request: %w", err)
	}
	return req, nil
}

// buildRequest applies the template's rules to in. Pure, so the rules are
// tested without a store.
func (s *Service) buildRequest(t Template, in NewRequest, now time.Time) (Request, error) {
	if t.Disabled() {
		return Request{}, fmt.Errorf("%w: template %s takes no new requests (disabled at %s)", ErrDisabled, t.Key, t.DisabledAt.Format(time.RFC3339))
	}
	requester, err := CanonicalSubject("requester", strings.TrimSpace(in.Requester))
	if err != nil {
		return Request{}, err
	}
	if !utf8.ValidString(in.Reason) {
		return Request{}, invalidf("reason is not valid UTF-8")
	}
	reason := strings.TrimSpace(in.Reason)
	if len(reason) > MaxReasonLen {
		return Request{}, invalidf("reason is %d bytes; at most %d", len(reason), MaxReasonLen)
	}
	if n := utf8.RuneCountInString(reason); n < t.MinReason || reason == "" {
		return Request{}, invalidf("reason must be at least %d characters for template %s (got %d); say why access is needed", max(t.MinReason, 1), t.Key, n)
	}
	ttl := in.TTL
	if ttl == 0 {
		ttl = t.DefaultTTL
	}
	if ttl < time.Minute {
		return Request{}, invalidf("ttl %s is shorter than 1m", FormatDuration(ttl))
	}
	if ttl > t.MaxTTL {
		return Request{}, invalidf("ttl %s exceeds the template's maximum of %s", FormatDuration(ttl), FormatDuration(t.MaxTTL))
	}
	if len(in.Metadata) > MaxMetadataKeys {
		return Request{}, invalidf("%d metadata keys; at most %d", len(in.Metadata), MaxMetadataKeys)
	}
	md := map[string]string{}
	declared := map[string]bool{}
	for _, f := range t.Fields {
		declared[f.Name] = true
		if f.Default != "" {
			md[f.Name] = f.Default
		}
	}
	for k, v := range in.Metadata {
		if !declared[k] {
			names := make([]string, 0, len(t.Fields))
			for _, f := range t.Fields {
				names = append(names, f.Name)
			}
			if len(names) == 0 {
				return Request{}, invalidf("metadata key %q: template %s takes no metadata fields", k, t.Key)
			}
			return Request{}, invalidf("metadata key %q is not a field of template %s (fields: %s)", k, t.Key, strings.Join(names, ", "))
		}
		if len(v) > MaxMetadataVal || !utf8.ValidString(v) {
			return Request{}, invalidf("metadata %q: value must be valid UTF-8 of at most %d bytes", k, MaxMetadataVal)
		}
		md[k] = v
	}
	for _, f := range t.Fields {
		if f.Required && strings.TrimSpace(md[f.Name]) == "" {
			return Request{}, invalidf("metadata field %q is required by template %s", f.Name, t.Key)
		}
	}
	return Request{
		ID:                s.newIDAt(now),
		TemplateKey:       t.Key,
		AppID:             t.AppID,
		Requester:         requester,
		RequesterIdentity: IdentityOf(requester),
		TemplateVersion:   max(t.Version, 1),
		Reason:            reason,
		Metadata:          md,
		TTL:               ttl,
		CreatedAt:         now,
		ExpiresAt:         now.Add(t.PendingTimeout),
		Status:            StatusPending,
		TemplateTitle:     t.Title,
		TemplateType:      t.Type,
	}, nil
}

// Caller is an application authenticated by an intake token.
type Caller struct {
	AppID   string
	Subject string // the user the application asks for
}

// AuthenticateIntake verifies an application's intake token and records its
// jti so the same token can never be used twice.
func (s *Service) AuthenticateIntake(ctx context.Context, token string) (Caller, error) {
	var c Caller
	err := s.store.Update(ctx, func(tx Tx) error {
		var err error
		c, err = s.authenticate(tx, tx.Application, token, s.Now())
		return err
	})
	var abort errAbortBatch
	if errors.As(err, &abort) {
		return Caller{}, abort.err
	}
	return c, err
}

// Detail is everything an approver needs to review a request.
type Detail struct {
	Request     Request
	Template    Template
	Application Application
	Reviews     []Review
	Grant       *Grant // set once approved
	// Digest is the hash of what the approver is shown; decisions carry it back.
	Digest string
}

// ApprovedBy lists the approvers who approved so far.
func (d Detail) ApprovedBy() []string {
	var out []string
	for _, r := range d.Reviews {
		if r.Decision == DecisionApprove {
			out = append(out, r.Approver)
		}
	}
	return out
}

// Get returns a request with its template, application, reviews and grant.
func (s *Service) Get(ctx context.Context, id string) (Detail, error) {
	var d Detail
	err := s.store.View(ctx, func(tx ReadTx) error {
		var err error
		d, err = loadDetail(tx, id)
		return err
	})
	if err != nil {
		return Detail{}, fmt.Errorf("request %s: %w", id, err)
	}
	return d, nil
}

func loadDetail(tx ReadTx, id string) (Detail, error) {
	var d Detail
	var err error
	if d.Request, err = tx.Request(id); err != nil {
		return d, err
	}
	// The terms the request is decided on: the version it was made under.
	if d.Template, err = termsOf(tx, d.Request); err != nil {
		return d, err
	}
	if d.Application, err = tx.Application(d.Request.AppID); err != nil {
		return d, fmt.Errorf("application %s: %w", d.Request.AppID, err)
	}
	d.Application.Secret, d.Application.PreviousSecret = nil, nil // never leave the domain through a read
	if d.Reviews, err = tx.Reviews(id); err != nil {
		return d, err
	}
	if d.Request.Status == StatusApproved {
		g, err := tx.GrantByRequest(id)
		if err != nil {
			return d, fmt.Errorf("grant of approved request: %w", err)
		}
		g.Token = "" // a bearer secret: only RevealToken and the application's pick-up return it
		d.Grant = &g
	}
	d.Digest = Digest(d.Request, d.Template)
	return d, nil
}

// GetForApp returns a request only if it belongs to appID; another
// application's request is reported as not found.
func (s *Service) GetForApp(ctx context.Context, appID, id string) (Detail, error) {
	d, err := s.Get(ctx, id)
	if err != nil {
		return Detail{}, err
	}
	if d.Request.AppID != appID {
		return Detail{}, fmt.Errorf("request %s: %w", id, ErrNotFound)
	}
	return d, nil
}

// List returns one keyset page of requests.
func (s *Service) List(ctx context.Context, q RequestQuery) ([]Request, error) {
	if q.Limit < 0 || q.Limit > 500 {
		return nil, invalidf("limit %d must be between 1 and 500", q.Limit)
	}
	var out []Request
	err := s.store.View(ctx, func(tx ReadTx) error {
		if ok, err := s.fillVisibility(tx, &q); err != nil || !ok {
			return err
		}
		if err := s.fillOnCall(tx, &q); err != nil {
			return err
		}
		var err error
		out, err = tx.Requests(q)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list requests: %w", err)
	}
	return out, nil
}

// Count counts what q selects, stopping at q.CountAtMost when it is set.
func (s *Service) Count(ctx context.Context, q RequestQuery) (int, error) {
	var n int
	err := s.store.View(ctx, func(tx ReadTx) error {
		if ok, err := s.fillVisibility(tx, &q); err != nil || !ok {
			return err
		}
		if err := s.fillOnCall(tx, &q); err != nil {
			return err
		}
		var err error
		n, err = tx.CountRequests(q)
		return err
	})
	return n, err
}

// RequesterHistory returns the requester's most recent requests, newest first.
func (s *Service) RequesterHistory(ctx context.Context, requester string, limit int) ([]Request, error) {
	return s.List(ctx, RequestQuery{Scope: ScopeAll, Requester: requester, Limit: limit})
}

// PrepareRequests applies the template rules to each input as if it had been
// submitted at the matching time, without storing anything, and returns the
// requests with their request.created audit events (Seq and hashes are left
// for the store to fill). It exists for bulk-loading demo and benchmark data
// through a store's batch path; the rules are the same as Submit's.
func (s *Service) PrepareRequests(ctx context.Context, ins []NewRequest, at []time.Time) ([]Request, []AuditEvent, error) {
	if len(ins) != len(at) {
		return nil, nil, invalidf("%d requests but %d times", len(ins), len(at))
	}
	cache := map[string]Template{}
	err := s.store.View(ctx, func(tx ReadTx) error {
		for _, in := range ins {
			if _, ok := cache[in.TemplateKey]; ok {
				continue
			}
			t, err := tx.Template(in.TemplateKey)
			if err != nil {
				return fmt.Errorf("template %q: %w", in.TemplateKey, err)
			}
			cache[in.TemplateKey] = t
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	reqs := make([]Request, 0, len(ins))
	evs := make([]AuditEvent, 0, len(ins))
	for i, in := range ins {
		t := cache[in.TemplateKey]
		r, err := s.buildRequest(t, in, at[i].UTC())
		if err != nil {
			return nil, nil, err
		}
		ev, err := NewAuditEvent(r.CreatedAt, "app:"+t.AppID, NewRequestCreated(r, t))
		if err != nil {
			return nil, nil, err
		}
		reqs = append(reqs, r)
		evs = append(evs, ev)
	}
	return reqs, evs, nil
}

// fillVisibility applies who may see what to a list: a Viewer sees the
// requests of templates they could decide under any rule and their own (an
// auditor everything); "needs me" leaves out requests whose requester is
// the approver under the identity profile. ok is false when the query can
// select nothing (an unknown or disabled viewer or approver).
func (s *Service) fillVisibility(tx ReadTx, q *RequestQuery) (bool, error) {
	for _, login := range []string{q.Viewer, q.EligibleFor} {
		if login == "" {
			continue
		}
		a, err := tx.Approver(login)
		if errors.Is(err, ErrNotFound) {
			return false, nil
		} else if err != nil {
			return false, err
		}
		if a.Disabled() {
			return false, nil
		}
		if login == q.Viewer && a.Auditor {
			q.AllVisible = true
		}
		if q.SelfIdentities == nil {
			if q.SelfIdentities, err = personIdentities(tx, a); err != nil {
				return false, err
			}
		}
	}
	if q.Viewer != "" && q.EligibleFor == "" && q.OnCall == nil {
		// The rotations the viewer holds by override count as visible too.
		reach, err := reachOf(tx, q.Viewer, s.Now())
		if err != nil {
			return false, err
		}
		q.OnCall = []string{}
		for name, d := range reach {
			if d == 0 {
				q.OnCall = append(q.OnCall, name)
			}
		}
	}
	return true, nil
}

// fillOnCall makes "needs me" follow the pager: the rotations the approver
// holds right now join the templates they may decide, rotations they are
// further along in count for requests escalated that far, and their groups
// count for escalated requests of templates escalating to them.
func (s *Service) fillOnCall(tx ReadTx, q *RequestQuery) error {
	if q.EligibleFor == "" || q.OnCall != nil {
		return nil
	}
	now := s.Now()
	reach, err := reachOf(tx, q.EligibleFor, now)
	if err != nil {
		return err
	}
	q.OnCall = []string{}
	for name, d := range reach {
		if d == 0 {
			q.OnCall = append(q.OnCall, name)
		} else {
			q.Reach = append(q.Reach, RotationReach{Rotation: name, Level: d})
		}
	}
	if a, err := tx.Approver(q.EligibleFor); err == nil {
		q.EscalationGroups = a.Groups
	}
	return nil
}
