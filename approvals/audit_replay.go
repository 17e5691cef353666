package approvals

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// The replay: audit verify does not only check that the chain is intact, it
// rebuilds from the chain the state it records (requests, reviews,
// signatures, grants, configuration) and compares that with the tables, so
// an edit to a table that bypassed the domain (un-revoking a grant,
// extending its expiry, changing who approved) is named even though the
// chain itself is untouched.

// AuditMismatchError names the first difference between what the audit
// log records and what the tables hold. It matches ErrAuditBroken.
type AuditMismatchError struct {
	Object string // "grant 01…", "request 01…", "approver bob"
	What   string // "revoked at 2026-… in the log, not revoked in the table"
}

func (e *AuditMismatchError) Error() string {
	return fmt.Sprintf("%s: the tables do not match the audit log: %s: %s", ErrAuditBroken.Error(), e.Object, e.What)
}

// Is lets errors.Is(err, ErrAuditBroken) match.
func (e *AuditMismatchError) Is(target error) bool { return target == ErrAuditBroken }

func mismatch(object, format string, args ...any) error {
	return &AuditMismatchError{Object: object, What: fmt.Sprintf(format, args...)}
}

// ReplayReport counts what the replay compared, and what it could not:
// objects whose history began before events carried their state.
type ReplayReport struct {
	Requests, Reviews, Signatures, Grants, Config int
	// KeySignatures counts the SSHSIG signatures verified against the key
	// their approver held when signing.
	KeySignatures int
	// Unchecked lists object kinds with a count of objects the log
	// cannot vouch for field by field (made by an older jitdesk).
	Unchecked map[string]int
}

// tablePage is the page size of the table walks (the store's largest).
const tablePage = 500

type replayReview struct {
	decision     Decision
	signature    string
	keySignature string
}

type replayRequest struct {
	status     Status
	decidedBy  string
	decidedAt  time.Time
	escalation int
	reviews    map[string]replayReview
}

type replayGrant struct {
	ev                           GrantIssued
	legacy                       bool // issued before grant.issued carried the token digest
	revoked                      bool
	revokedAt                    time.Time
	revokedBy, revokeReason      string
	reviewed                     bool
	reviewedAt                   time.Time
	reviewedBy                   string
	expiresAt                    time.Time
	requestID, subject, audience string
}

type replayState struct {
	requests map[string]*replayRequest
	grants   map[string]*replayGrant
	// config maps "kind id" to the object's last audited state (JSON);
	// legacy holds objects whose events carry no state.
	config map[string]json.RawMessage
	legacy map[string]bool
}

// configKind maps configuration actions to the kind of object they change.
func configKind(a AuditAction) string {
	s := string(a)
	switch {
	case strings.HasPrefix(s, "application."):
		return "application"
	case strings.HasPrefix(s, "approver."):
		return "approver"
	case strings.HasPrefix(s, "template."):
		return "template"
	case a == ActionRotationOverride || a == ActionOverrideCancelled:
		return "" // overrides end by themselves; the rotation's own state is unchanged
	case strings.HasPrefix(s, "rotation."):
		return "rotation"
	case strings.HasPrefix(s, "webhook."):
		return "webhook"
	}
	return ""
}

// apply folds one event into the state.
func (st *replayState) apply(ev AuditEvent) error {
	req := func() *replayRequest {
		r := st.requests[ev.Subject]
		if r == nil {
			// A decision on a request the log never created is itself a
			// finding, reported when the tables are compared.
			r = &replayRequest{status: StatusPending, reviews: map[string]replayReview{}}
			st.requests[ev.Subject] = r
		}
		return r
	}
	decide := func(s Status) {
		r := req()
		r.status, r.decidedBy, r.decidedAt = s, ev.Actor, ev.At
	}
	switch AuditAction(ev.Action) {
	case ActionRequestCreated:
		st.requests[ev.Subject] = &replayRequest{status: StatusPending, reviews: map[string]replayReview{}}
	case ActionReviewApproved:
		var p ReviewApproved
		if err := json.Unmarshal(ev.Payload, &p); err != nil {
			return err
		}
		req().reviews[ev.Actor] = replayReview{decision: DecisionApprove, signature: p.Signature, keySignature: p.KeySignature}
	case ActionRequestApproved:
		decide(StatusApproved)
	case ActionBreakGlassUsed:
		var p BreakGlassUsed
		if err := json.Unmarshal(ev.Payload, &p); err != nil {
			return err
		}
		req().reviews[ev.Actor] = replayReview{decision: DecisionApprove, signature: p.Signature, keySignature: p.KeySignature}
		decide(StatusApproved)
	case ActionRequestDenied:
		var p RequestDenied
		if err := json.Unmarshal(ev.Payload, &p); err != nil {
			return err
		}
		req().reviews[ev.Actor] = replayReview{decision: DecisionDeny, keySignature: p.KeySignature}
		decide(StatusDenied)
	case ActionRequestCancelled:
		decide(StatusCancelled)
	case ActionRequestExpired:
		decide(StatusExpired)
	case ActionRequestEscalated:
		var p RequestEscalated
		if err := json.Unmarshal(ev.Payload, &p); err != nil {
			return err
		}
		req().escalation = p.Level
	case ActionGrantIssued:
		var p GrantIssued
		if err := json.Unmarshal(ev.Payload, &p); err != nil {
			return err
		}
		g := &replayGrant{ev: p, legacy: p.TokenSHA256 == "", requestID: p.Request, subject: p.Holder, audience: p.Audience}
		if t, err := parseAuditTime(p.ExpiresAt); err == nil {
			g.expiresAt = t
		}
		st.grants[ev.Subject] = g
	case ActionGrantRevoked:
		var p GrantRevocation
		if err := json.Unmarshal(ev.Payload, &p); err != nil {
			return err
		}
		if g := st.grants[ev.Subject]; g != nil {
			g.revoked, g.revokedAt, g.revokedBy, g.revokeReason = true, ev.At, ev.Actor, p.Reason
		} else {
			st.grants[ev.Subject] = &replayGrant{legacy: true, revoked: true, revokedAt: ev.At, revokedBy: ev.Actor, revokeReason: p.Reason}
		}
	case ActionBreakGlassReview:
		if g := st.grants[ev.Subject]; g != nil {
			g.reviewed, g.reviewedAt, g.reviewedBy = true, ev.At, ev.Actor
		}
	default:
		kind := configKind(AuditAction(ev.Action))
		if kind == "" {
			return nil
		}
		var p struct {
			State json.RawMessage `json:"state"`
		}
		_ = json.Unmarshal(ev.Payload, &p) // a legacy payload simply has no state
		key := kind + " " + ev.Subject
		if len(p.State) == 0 || string(p.State) == "null" {
			st.legacy[key] = true
			delete(st.config, key)
			return nil
		}
		st.config[key] = p.State
		delete(st.legacy, key)
	}
	return nil
}

// parseAuditTime reads a payload time; the tables keep milliseconds.
func parseAuditTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, fmt.Errorf("no time")
	}
	for _, layout := range []string{time.RFC3339Nano, time.RFC3339} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("time %q", s)
}

// sameMS compares two instants at the tables' precision.
func sameMS(a, b time.Time) bool { return a.UnixMilli() == b.UnixMilli() }

func showTime(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.UTC().Format(time.RFC3339)
}

// replay rebuilds the state the audit log records and compares it with the
// tables, returning the first difference as an *AuditMismatchError.
func (s *Service) replay(ctx context.Context) (ReplayReport, error) {
	st := &replayState{requests: map[string]*replayRequest{}, grants: map[string]*replayGrant{}, config: map[string]json.RawMessage{}, legacy: map[string]bool{}}
	rep := ReplayReport{Unchecked: map[string]int{}}
	var after int64
	for {
		var evs []AuditEvent
		if err := s.store.View(ctx, func(tx ReadTx) error {
			var err error
			evs, err = tx.AuditEvents(after, auditPage)
			return err
		}); err != nil {
			return rep, err
		}
		for _, ev := range evs {
			if err := st.apply(ev); err != nil {
				return rep, fmt.Errorf("%w: event %d (%s) has a payload this jitdesk cannot read: %v", ErrAuditBroken, ev.Seq, ev.Action, err)
			}
			after = ev.Seq
		}
		if len(evs) < auditPage {
			break
		}
	}
	if err := s.compareRequests(ctx, st, &rep); err != nil {
		return rep, err
	}
	if err := s.compareReviews(ctx, st, &rep); err != nil {
		return rep, err
	}
	if err := s.compareSignatures(ctx, st, &rep); err != nil {
		return rep, err
	}
	if err := s.compareKeySignatures(ctx, st, &rep); err != nil {
		return rep, err
	}
	if err := s.compareGrants(ctx, st, &rep); err != nil {
		return rep, err
	}
	if err := s.compareConfig(ctx, st, &rep); err != nil {
		return rep, err
	}
	return rep, nil
}

func (s *Service) compareRequests(ctx context.Context, st *replayState, rep *ReplayReport) error {
	seen := map[string]bool{}
	afterID := ""
	for {
		var page []Request
		if err := s.store.View(ctx, func(tx ReadTx) error {
			var err error
			page, err = tx.RequestsByID(afterID, tablePage)
			return err
		}); err != nil {
			return err
		}
		for _, r := range page {
			afterID = r.ID
			seen[r.ID] = true
			obj := "request " + r.ID
			lr := st.requests[r.ID]
			if lr == nil {
				return mismatch(obj, "is in the table, but no event of the log created it")
			}
			if lr.status != r.Status {
				return mismatch(obj, "%s in the log, %s in the table", lr.status, r.Status)
			}
			if r.Status != StatusPending {
				if lr.decidedBy != r.DecidedBy {
					return mismatch(obj, "decided by %s in the log, by %s in the table", lr.decidedBy, r.DecidedBy)
				}
				if !sameMS(lr.decidedAt, r.DecidedAt) {
					return mismatch(obj, "decided at %s in the log, at %s in the table", showTime(lr.decidedAt), showTime(r.DecidedAt))
				}
			}
			approvals := 0
			for _, rv := range lr.reviews {
				if rv.decision == DecisionApprove {
					approvals++
				}
			}
			if approvals != r.Approvals {
				return mismatch(obj, "%d approval(s) in the log, %d in the table", approvals, r.Approvals)
			}
			if lr.escalation != r.Escalation {
				return mismatch(obj, "escalation level %d in the log, %d in the table", lr.escalation, r.Escalation)
			}
			rep.Requests++
		}
		if len(page) < tablePage {
			break
		}
	}
	for id := range st.requests {
		if !seen[id] {
			return mismatch("request "+id, "is in the log, missing from the table")
		}
	}
	return nil
}

func (s *Service) compareReviews(ctx context.Context, st *replayState, rep *ReplayReport) error {
	seen := map[[2]string]bool{}
	var lastReq, lastApprover string
	for {
		var page []Review
		if err := s.store.View(ctx, func(tx ReadTx) error {
			var err error
			page, err = tx.ReviewsAfter(lastReq, lastApprover, tablePage)
			return err
		}); err != nil {
			return err
		}
		for _, rv := range page {
			lastReq, lastApprover = rv.RequestID, rv.Approver
			seen[[2]string{rv.RequestID, rv.Approver}] = true
			obj := fmt.Sprintf("review of request %s by %s", rv.RequestID, rv.Approver)
			lr := st.requests[rv.RequestID]
			var want replayReview
			ok := false
			if lr != nil {
				want, ok = lr.reviews[rv.Approver]
			}
			if !ok {
				return mismatch(obj, "is in the table, but the log records no such decision")
			}
			if want.decision != rv.Decision {
				return mismatch(obj, "%s in the log, %s in the table", pastTense(want.decision), pastTense(rv.Decision))
			}
			if want.signature != rv.SignatureDigest {
				return mismatch(obj, "signature %s in the log, %s in the table", orNone(want.signature), orNone(rv.SignatureDigest))
			}
			if want.keySignature != rv.KeySignatureDigest {
				return mismatch(obj, "key signature %s in the log, %s in the table", orNone(want.keySignature), orNone(rv.KeySignatureDigest))
			}
			rep.Reviews++
		}
		if len(page) < tablePage {
			break
		}
	}
	for id, lr := range st.requests {
		for approver, rv := range lr.reviews {
			if !seen[[2]string{id, approver}] {
				return mismatch(fmt.Sprintf("review of request %s by %s", id, approver), "%s in the log, missing from the table", pastTense(rv.decision))
			}
		}
	}
	return nil
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func (s *Service) compareSignatures(ctx context.Context, st *replayState, rep *ReplayReport) error {
	logged := map[string][2]string{} // digest → request, approver
	for id, lr := range st.requests {
		for approver, rv := range lr.reviews {
			if rv.signature != "" {
				logged[rv.signature] = [2]string{id, approver}
			}
		}
	}
	after := ""
	for {
		var page []StoredSignature
		if err := s.store.View(ctx, func(tx ReadTx) error {
			var err error
			page, err = tx.SignaturesAfter(after, tablePage)
			return err
		}); err != nil {
			return err
		}
		for _, sig := range page {
			after = sig.Digest
			obj := "signature " + sig.Digest
			who, ok := logged[sig.Digest]
			if !ok {
				// A signature whose approval was refused afterwards cannot
				// exist: signatures are stored only with their review.
				return mismatch(obj, "is in the table, but no review in the log carries it")
			}
			if who != [2]string{sig.RequestID, sig.Approver} {
				return mismatch(obj, "belongs to %s's review of %s in the log, to %s's of %s in the table", who[1], who[0], sig.Approver, sig.RequestID)
			}
			delete(logged, sig.Digest)
			rep.Signatures++
		}
		if len(page) < tablePage {
			break
		}
	}
	for digest, who := range logged {
		return mismatch("signature "+digest, "of %s's review of %s is in the log, missing from the table", who[1], who[0])
	}
	return nil
}

// compareKeySignatures checks every stored SSHSIG: a review in the log
// names it, and it verifies over its statement with a key its approver
// held at the time (verifyKeySignature).
func (s *Service) compareKeySignatures(ctx context.Context, st *replayState, rep *ReplayReport) error {
	logged := map[string][2]string{} // digest → request, approver
	for id, lr := range st.requests {
		for approver, rv := range lr.reviews {
			if rv.keySignature != "" {
				logged[rv.keySignature] = [2]string{id, approver}
			}
		}
	}
	approvers := map[string]Approver{}
	after := ""
	for {
		var page []StoredKeySignature
		if err := s.store.View(ctx, func(tx ReadTx) error {
			var err error
			if page, err = tx.KeySignaturesAfter(after, tablePage); err != nil {
				return err
			}
			for _, ks := range page {
				if _, ok := approvers[ks.Approver]; !ok {
					a, err := tx.Approver(ks.Approver)
					if err != nil {
						return fmt.Errorf("key signature %s: approver %s: %w", ks.Digest, ks.Approver, err)
					}
					approvers[ks.Approver] = a
				}
			}
			return nil
		}); err != nil {
			return err
		}
		for _, ks := range page {
			after = ks.Digest
			obj := "key signature " + ks.Digest
			who, ok := logged[ks.Digest]
			if !ok {
				return mismatch(obj, "is in the table, but no decision in the log carries it")
			}
			if who != [2]string{ks.RequestID, ks.Approver} {
				return mismatch(obj, "belongs to %s's review of %s in the log, to %s's of %s in the table", who[1], who[0], ks.Approver, ks.RequestID)
			}
			if err := verifyKeySignature(ks, approvers[ks.Approver]); err != nil {
				return mismatch(obj, "does not verify: %v", err)
			}
			delete(logged, ks.Digest)
			rep.KeySignatures++
		}
		if len(page) < tablePage {
			break
		}
	}
	for digest, who := range logged {
		return mismatch("key signature "+digest, "of %s's review of %s is in the log, missing from the table", who[1], who[0])
	}
	return nil
}

func (s *Service) compareGrants(ctx context.Context, st *replayState, rep *ReplayReport) error {
	seen := map[string]bool{}
	after := ""
	for {
		var page []Grant
		if err := s.store.View(ctx, func(tx ReadTx) error {
			var err error
			page, err = tx.GrantsAfter(after, tablePage)
			return err
		}); err != nil {
			return err
		}
		for _, g := range page {
			after = g.ID
			seen[g.ID] = true
			obj := "grant " + g.ID
			lg := st.grants[g.ID]
			if lg == nil {
				return mismatch(obj, "is in the table, but the log never issued it")
			}
			if lg.revoked != g.Revoked() {
				if lg.revoked {
					return mismatch(obj, "revoked at %s by %s in the log, not revoked in the table", showTime(lg.revokedAt), lg.revokedBy)
				}
				return mismatch(obj, "not revoked in the log, revoked at %s by %s in the table", showTime(g.RevokedAt), g.RevokedBy)
			}
			if lg.revoked && (!sameMS(lg.revokedAt, g.RevokedAt) || lg.revokedBy != g.RevokedBy || lg.revokeReason != g.RevokeReason) {
				return mismatch(obj, "revoked at %s by %s (%q) in the log, at %s by %s (%q) in the table", showTime(lg.revokedAt), lg.revokedBy, lg.revokeReason, showTime(g.RevokedAt), g.RevokedBy, g.RevokeReason)
			}
			if lg.reviewed != g.Acknowledged() || (lg.reviewed && lg.reviewedBy != g.ReviewedBy) {
				return mismatch(obj, "post-review by %s in the log, by %s in the table", orNone(lg.reviewedBy), orNone(g.ReviewedBy))
			}
			if lg.requestID == "" {
				rep.Unchecked["grant"]++
				continue
			}
			if lg.requestID != g.RequestID || lg.subject != g.Subject || lg.audience != g.Audience || lg.ev.Scope != g.Scope || lg.ev.Kid != g.Kid || lg.ev.BreakGlass != g.BreakGlass {
				return mismatch(obj, "issued for request %s to %s (aud %s, scope %s, key %s, break-glass %t) in the log; the table says request %s to %s (aud %s, scope %s, key %s, break-glass %t)",
					lg.requestID, lg.subject, lg.audience, lg.ev.Scope, lg.ev.Kid, lg.ev.BreakGlass, g.RequestID, g.Subject, g.Audience, g.Scope, g.Kid, g.BreakGlass)
			}
			if !lg.expiresAt.IsZero() && !sameMS(lg.expiresAt, g.ExpiresAt) && lg.expiresAt.Truncate(time.Second) != g.ExpiresAt.Truncate(time.Second) {
				return mismatch(obj, "expires at %s in the log, at %s in the table", showTime(lg.expiresAt), showTime(g.ExpiresAt))
			}
			if lg.legacy {
				rep.Unchecked["grant token"]++
			} else if tok, err := s.openToken(g); err != nil {
				return mismatch(obj, "its stored token does not open: %v", err)
			} else if TokenDigest(tok) != lg.ev.TokenSHA256 {
				return mismatch(obj, "its token is not the one the log recorded at issue (SHA-256 %s)", lg.ev.TokenSHA256)
			}
			rep.Grants++
		}
		if len(page) < tablePage {
			break
		}
	}
	for id, lg := range st.grants {
		if !seen[id] && lg.requestID != "" {
			return mismatch("grant "+id, "issued in the log, missing from the table")
		}
	}
	return nil
}

// tableConfig reads every configuration object's state as audited, keyed
// like replayState.config.
func (s *Service) tableConfig(ctx context.Context) (map[string]any, error) {
	out := map[string]any{}
	err := s.store.View(ctx, func(tx ReadTx) error {
		for after := ""; ; {
			page, err := tx.Applications(after, 500)
			if err != nil {
				return err
			}
			for _, a := range page {
				out["application "+a.ID] = NewApplicationState(a)
				after = a.Name
			}
			if len(page) < 500 {
				break
			}
		}
		for after := ""; ; {
			page, err := tx.Approvers(after, 500)
			if err != nil {
				return err
			}
			for _, a := range page {
				out["approver "+a.Login] = NewApproverState(a)
				after = a.Login
			}
			if len(page) < 500 {
				break
			}
		}
		for after := ""; ; {
			page, err := tx.Templates(after, 500)
			if err != nil {
				return err
			}
			for _, t := range page {
				out["template "+t.Key] = NewTemplateState(t)
				after = t.Key
			}
			if len(page) < 500 {
				break
			}
		}
		names, err := tx.RotationNames()
		if err != nil {
			return err
		}
		for _, n := range names {
			r, err := tx.Rotation(n, time.Time{})
			if err != nil {
				return err
			}
			out["rotation "+n] = NewRotationState(r)
		}
		for after := ""; ; {
			page, err := tx.Webhooks(after, 500)
			if err != nil {
				return err
			}
			for _, w := range page {
				out["webhook "+w.ID] = map[string]any{"url": w.URL, "events": nonNil(w.Events), "disabled": !w.Active()}
				after = w.ID
			}
			if len(page) < 500 {
				break
			}
		}
		return nil
	})
	return out, err
}

func (s *Service) compareConfig(ctx context.Context, st *replayState, rep *ReplayReport) error {
	tables, err := s.tableConfig(ctx)
	if err != nil {
		return err
	}
	keys := slices.Sorted(maps.Keys(tables))
	for _, key := range keys {
		if st.legacy[key] {
			rep.Unchecked[strings.Fields(key)[0]]++
			continue
		}
		logged, ok := st.config[key]
		if !ok {
			if strings.HasPrefix(key, "application ") || strings.HasPrefix(key, "approver ") || strings.HasPrefix(key, "template ") || strings.HasPrefix(key, "rotation ") {
				// Objects made by an older jitdesk have events without
				// state; objects never audited at all are a finding.
				return mismatch(key, "is in the table, but no event of the log created it")
			}
			continue
		}
		want, err := canonicalJSON(logged)
		if err != nil {
			return fmt.Errorf("%w: %s: audited state does not decode: %v", ErrAuditBroken, key, err)
		}
		b, err := json.Marshal(tables[key])
		if err != nil {
			return err
		}
		got, err := canonicalJSON(b)
		if err != nil {
			return err
		}
		if want != got {
			return mismatch(key, "the log's last change left %s; the table holds %s", want, got)
		}
		rep.Config++
	}
	for key := range st.config {
		if _, ok := tables[key]; !ok {
			return mismatch(key, "is in the log, missing from the table")
		}
	}
	return nil
}

// canonicalJSON re-encodes JSON with sorted keys, so two encodings of the
// same state compare equal.
func canonicalJSON(b []byte) (string, error) {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return "", err
	}
	out, err := json.Marshal(v)
	return string(out), err
}
