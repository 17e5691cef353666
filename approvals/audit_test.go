package approvals_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/mod/sumdb/note"

	"github.com/jitdesk/jitdesk/approvals"
)

func jwtDate(t time.Time) *jwt.NumericDate { return jwt.NewNumericDate(t) }

func TestAuditChainVerifiesAfterEveryKindOfChange(t *testing.T) {
	f := newFixture(t)
	r := f.submit("k8s", "mallory", map[string]string{"namespace": "x"})
	if _, err := f.approve(r.ID, "alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Revoke(f.ctx, approvals.RevokeInput{ID: r.ID, Approver: "bob", Reason: "done"}); err != nil {
		t.Fatal(err)
	}
	rep, err := f.svc.VerifyAudit(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	// key, app, 4 approvers, 3 templates, request, review, grant, approved, revoked
	if rep.Events != 14 {
		t.Fatalf("events %d, want 14", rep.Events)
	}
	evs, _ := f.svc.AuditLog(f.ctx, 0, 50)
	for _, e := range evs {
		if strings.Contains(string(e.Payload), "eyJ") {
			t.Fatalf("an audit event carries a token: %s", e.Payload)
		}
	}
}

func TestAuditVerifyNamesTheFirstBrokenLink(t *testing.T) {
	f := newFixture(t)
	f.submit("k8s", "mallory", map[string]string{"namespace": "x"})
	tamper(t, f, `UPDATE audit_events SET actor = 'someone-else' WHERE seq = 3`)
	_, err := f.svc.VerifyAudit(f.ctx)
	if !errors.Is(err, approvals.ErrAuditBroken) || !strings.Contains(err.Error(), "event 3") {
		t.Fatalf("got %v, want a broken link at event 3", err)
	}
}

func TestAuditVerifyNoticesARemovedEvent(t *testing.T) {
	f := newFixture(t)
	tamper(t, f, `DELETE FROM audit_events WHERE seq = 4`)
	_, err := f.svc.VerifyAudit(f.ctx)
	if !errors.Is(err, approvals.ErrAuditBroken) || !strings.Contains(err.Error(), "missing") {
		t.Fatalf("got %v", err)
	}
}

func TestCheckpointRevealsTruncationThatTheChainCannot(t *testing.T) {
	f := newFixture(t)
	skey, vkey, err := note.GenerateKey(nil, "jitdesk-audit")
	if err != nil {
		t.Fatal(err)
	}
	signer, _ := note.NewSigner(skey)
	verifier, _ := note.NewVerifier(vkey)
	cp, err := f.svc.Checkpoint(f.ctx, signer)
	if err != nil {
		t.Fatal(err)
	}
	f.submit("k8s", "mallory", map[string]string{"namespace": "x"})
	if _, err := f.svc.VerifyCheckpoint(f.ctx, cp, verifier); err != nil {
		t.Fatalf("a log that grew must extend its checkpoint: %v", err)
	}
	// Cut the newest events: the chain alone still verifies, but the
	// replay finds the request whose creation was cut…
	tamper(t, f, `DELETE FROM audit_events WHERE seq >= 9`)
	var mm *approvals.AuditMismatchError
	if _, err := f.svc.VerifyAudit(f.ctx); !errors.As(err, &mm) || !strings.Contains(err.Error(), "no event of the log created it") {
		t.Fatalf("a truncated log verified against the tables: %v", err)
	}
	// …and the checkpoint says events were cut off.
	if _, err := f.svc.VerifyCheckpoint(f.ctx, cp, verifier); !errors.Is(err, approvals.ErrAuditBroken) || !strings.Contains(err.Error(), "cut off") {
		t.Fatalf("got %v, want truncation detected", err)
	}
	// A checkpoint signed by another key is refused.
	otherS, _, _ := note.GenerateKey(nil, "jitdesk-audit")
	os, _ := note.NewSigner(otherS)
	forged, _ := f.svc.Checkpoint(f.ctx, os)
	if _, err := f.svc.VerifyCheckpoint(f.ctx, forged, verifier); err == nil {
		t.Fatal("a checkpoint signed by another key verified")
	}
}
