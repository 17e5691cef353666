package approvals_test

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jitdesk/jitdesk/approvals"
)

func mustMismatch(t *testing.T, f *fixture, want ...string) {
	t.Helper()
	_, err := f.svc.VerifyAudit(f.ctx)
	var mm *approvals.AuditMismatchError
	if !errors.As(err, &mm) || !errors.Is(err, approvals.ErrAuditBroken) {
		t.Fatalf("audit verify after the edit: %v, want an AuditMismatchError", err)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Fatalf("audit verify said %q, want it to name %q", err, w)
		}
	}
}

// decidedFixture has an approved and revoked request, a denied one and a
// signed one, so every kind of state is in the tables and the log.
func decidedFixture(t *testing.T) (*fixture, approvals.Outcome, approvals.Request, approvals.Request) {
	f := newFixture(t)
	r := f.submit("k8s", "mallory", map[string]string{"namespace": "x"})
	out, err := f.approve(r.ID, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Revoke(f.ctx, approvals.RevokeInput{ID: r.ID, Approver: "bob", Reason: "done"}); err != nil {
		t.Fatal(err)
	}
	denied := f.submit("iam", "mallory", nil)
	if _, err := f.svc.Deny(f.ctx, approvals.DenyInput{RequestID: denied.ID, Approver: "carol", Digest: f.detail(denied.ID).Digest, Comment: "no ticket"}); err != nil {
		t.Fatal(err)
	}
	signed, err := f.svc.Submit(f.ctx, approvals.NewRequest{TemplateKey: "db", Requester: "mallory", Reason: "backfill the settlement rows"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Approve(f.ctx, approvals.ApproveInput{RequestID: signed.ID, Approver: "carol", Digest: f.detail(signed.ID).Digest,
		Signature: f.typedSig(signed.ID, "carol", "Carol Danvers", "Carol Danvers", 0)}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.VerifyAudit(f.ctx); err != nil {
		t.Fatalf("untouched database: %v", err)
	}
	return f, out, denied, signed
}

func TestAuditVerifyReplaysTheLogAgainstTheTables(t *testing.T) {
	f, _, _, _ := decidedFixture(t)
	rep, err := f.svc.VerifyAudit(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Replay.Requests != 3 || rep.Replay.Reviews != 3 || rep.Replay.Grants != 2 || rep.Replay.Signatures != 1 || rep.Replay.Config < 8 {
		t.Fatalf("replay compared %+v", rep.Replay)
	}
}

func TestAuditVerifyNamesAnUnrevokedGrant(t *testing.T) {
	f, out, _, _ := decidedFixture(t)
	tamper(t, f, `UPDATE grants SET revoked_at = NULL, revoked_by = NULL, revoke_reason = NULL WHERE id = '`+out.Grant.ID+`'`)
	mustMismatch(t, f, "grant "+out.Grant.ID, "revoked at", "in the log, not revoked in the table")
	// Verification reads the table, so the token is live again: audit
	// verify is what reveals the edit.
	if _, err := f.svc.VerifyToken(f.ctx, out.Token, "https://payments.test"); err != nil {
		t.Fatalf("the un-revoked token does not verify, so this test no longer shows the attack: %v", err)
	}
}

func TestAuditVerifyNamesAnExtendedGrant(t *testing.T) {
	f, out, _, _ := decidedFixture(t)
	later := out.Grant.ExpiresAt.Add(24 * time.Hour).UnixMilli()
	tamper(t, f, `UPDATE grants SET expires_at = `+strconv.FormatInt(later, 10)+` WHERE id = '`+out.Grant.ID+`'`)
	mustMismatch(t, f, "grant "+out.Grant.ID, "expires at")
}

func TestAuditVerifyNamesAChangedApprover(t *testing.T) {
	f, _, denied, _ := decidedFixture(t)
	tamper(t, f, `UPDATE reviews SET approver = 'bob' WHERE request_id = '`+denied.ID+`'`)
	mustMismatch(t, f, denied.ID)
}

func TestAuditVerifyNamesAChangedDecision(t *testing.T) {
	f, _, denied, _ := decidedFixture(t)
	tamper(t, f, `UPDATE requests SET status = 'approved' WHERE id = '`+denied.ID+`'`)
	mustMismatch(t, f, "request "+denied.ID, "denied in the log, approved in the table")
}

func TestAuditVerifyNamesADeletedSignature(t *testing.T) {
	f, _, _, signed := decidedFixture(t)
	tamper(t, f, `DELETE FROM signatures WHERE request_id = '`+signed.ID+`'`)
	mustMismatch(t, f, "signature", "missing from the table")
}

func TestAuditVerifyNamesASwappedToken(t *testing.T) {
	f, out, _, _ := decidedFixture(t)
	tamper(t, f, `UPDATE grants SET token = token || 'x' WHERE id = '`+out.Grant.ID+`'`)
	mustMismatch(t, f, "grant "+out.Grant.ID, "token")
}

func TestAuditVerifyNamesAChangedConfiguration(t *testing.T) {
	f, _, _, _ := decidedFixture(t)
	tamper(t, f, `INSERT INTO approver_groups (login, group_name) VALUES ('dave', 'sre')`)
	mustMismatch(t, f, "approver dave", `"groups":["sre"]`)
	f2 := newFixture(t)
	tamper(t, f2, `UPDATE templates SET quorum = 1 WHERE key = 'iam'`)
	mustMismatch(t, f2, "template iam")
	f3 := newFixture(t)
	tamper(t, f3, `UPDATE approvers SET disabled_at = NULL, auditor = TRUE WHERE login = 'dave'`)
	mustMismatch(t, f3, "approver dave", `"auditor":true`)
}

func TestAuditReplayWalksTablesPastOnePage(t *testing.T) {
	f := newFixture(t)
	const n = 1234 // more than two pages of every walk
	ins := make([]approvals.NewRequest, n)
	at := make([]time.Time, n)
	for i := range ins {
		ins[i] = approvals.NewRequest{TemplateKey: "iam", Requester: "m" + strconv.Itoa(i), Reason: "investigate the incident INC-1"}
		at[i] = t0.Add(time.Duration(i) * time.Second)
	}
	reqs, evs, err := f.svc.PrepareRequests(f.ctx, ins, at)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.db.BulkInsertRequests(f.ctx, reqs, evs); err != nil {
		t.Fatal(err)
	}
	rep, err := f.svc.VerifyAudit(f.ctx)
	if err != nil || rep.Replay.Requests != n {
		t.Fatalf("replay compared %d requests (%v), want %d", rep.Replay.Requests, err, n)
	}
	last := reqs[n-1].ID
	tamper(t, f, `UPDATE requests SET status = 'cancelled', decided_at = 1, decided_by = 'x' WHERE id = '`+last+`'`)
	mustMismatch(t, f, "request "+last)
}
