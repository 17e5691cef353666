package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jitdesk/jitdesk/approvals"
)

func (s *suite) cases() []testCase {
	return []testCase{
		{"WritesThroughAViewAreRefused", s.writesThroughAViewAreRefused},
		{"UpdateReturnsTheCallbacksErrorAndRollsBackOnPanic", s.updateReturnsTheCallbacksErrorAndRollsBackOnPanic},
		{"RowsRoundTripAndDuplicatesAreConflicts", s.rowsRoundTripAndDuplicatesAreConflicts},
		{"MissingReferencesAreNotFoundAndBadValuesInvalid", s.missingReferencesAreNotFoundAndBadValuesInvalid},
		{"GrantsSignaturesAndKeysRoundTrip", s.grantsSignaturesAndKeysRoundTrip},
		{"DecisionsOnlyMovePendingRequests", s.decisionsOnlyMovePendingRequests},
		{"HistoryIsAppendOnly", s.historyIsAppendOnly},
		{"AuditEventsChainWithApprovalsChainHash", s.auditEventsChainWithApprovalsChainHash},
		{"BulkInsertContinuesTheAuditChain", s.bulkInsertContinuesTheAuditChain},
		{"IntakeJTIsAreSingleUsePerApplicationAndAReplayLeavesTheTransactionUsable", s.intakeJTIs},
		{"KeysetPagesVisitEveryRowOnceInOrderBothWays", s.keysetPages},
		{"NeedsMeKeepsOnlyRequestsTheApproverCanStillDecide", s.needsMe},
		{"NeedsMeIncludesTemplatesOfRotationsTheApproverIsOnCallFor", s.needsMeOnCall},
		{"NeedsMeFollowsEscalationReachAndGroups", s.needsMeEscalation},
		{"ViewerSeesTheirTemplatesAndOwnRequestsAndAuditorsAll", s.viewerVisibility},
		{"RequesterListsOnlyThatRequester", s.requesterFilter},
		{"FilterTreatsPercentAndUnderscoreLiterally", s.filterLiteral},
		{"SelectiveFilterPagesLikeAnyList", s.selectiveFilter},
		{"ShortFilterSearchesOnlyTheNewestWindowOfHistory", s.shortFilterWindow},
		{"CountAtMostCapsTheCountAndLeavesSmallerCountsExact", s.countAtMost},
		{"DuePendingListsExpiredPendingRequestsSoonestFirst", s.duePending},
		{"DueEscalationsReturnsOnlyDueStepsOfEscalatingTemplatesOldestFirst", s.dueEscalations},
		{"SetEscalationIsACompareAndSet", s.setEscalation},
		{"EscalatingRequestsPagesPendingEscalatedRequests", s.escalatingRequests},
		{"RotationsKeepOverridesEndingAfterNowAndCancelThem", s.rotations},
		{"TemplateUpdatesRecordVersions", s.templateVersions},
		{"ApproverAdministration", s.approverAdmin},
		{"ApplicationUpdatesAndPendingCount", s.applicationAdmin},
		{"SettingsAndLatestGrantToken", s.settings},
		{"BreakGlassGrantsWaitForOneAcknowledgement", s.breakGlass},
		{"WholeTableWalksForAuditReplay", s.replayWalks},
		{"WebhookOutboxOrdersPerRequestAndLeasesClaims", s.webhookOutbox},
		{"WebhookRemovalCancelsPendingDeliveries", s.webhookRemoval},
		{"KeySignaturesRoundTripAreAppendOnlyAndNamedByTheirReviews", s.keySignatures},
		{"TemplatesKeepWhetherTheyRequireAKeySignature", s.templatesRequireKeySignature},
		{"StagedKeyRotationRetiresAheadAndActivationRetiresTheOthers", s.stagedKeyRotation},
		{"WebhookPruneDeletesOnlyOldFinishedDeliveriesAndUnneededBodies", s.webhookRetention},
		{"PendingTotalCountsPendingRequestsOfEveryApplication", s.pendingTotal},
		{"ChangeFeedNoticesWritesFromAnotherHandleAndFromItself", s.changeFeed},
	}
}

func (s *suite) writesThroughAViewAreRefused(t *testing.T) {
	db := s.open(t)
	err := db.View(ctx(), func(rt approvals.ReadTx) error {
		w, ok := rt.(approvals.Tx)
		if !ok {
			return errors.New("refused by type")
		}
		return w.InsertApprover(approvals.Approver{Login: "sneaky", Name: "S"})
	})
	if err == nil {
		t.Fatal("a write inside View succeeded")
	}
	view(t, db, func(tx approvals.ReadTx) error {
		if _, err := tx.Approver("sneaky"); !errors.Is(err, approvals.ErrNotFound) {
			t.Errorf("the refused write is visible: %v", err)
		}
		return nil
	})
}

func (s *suite) updateReturnsTheCallbacksErrorAndRollsBackOnPanic(t *testing.T) {
	db := s.open(t)
	mine := fmt.Errorf("wrapped: %w", approvals.ErrNotEligible)
	err := db.Update(ctx(), func(tx approvals.Tx) error {
		if err := tx.InsertApprover(approvals.Approver{Login: "a", Name: "A"}); err != nil {
			return err
		}
		return mine
	})
	if err != mine || !errors.Is(err, approvals.ErrNotEligible) {
		t.Fatalf("Update returned %v, want the callback's error unchanged", err)
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("the panic did not propagate")
			}
		}()
		_ = db.Update(ctx(), func(tx approvals.Tx) error {
			if err := tx.InsertApprover(approvals.Approver{Login: "b", Name: "B"}); err != nil {
				return err
			}
			panic("boom")
		})
	}()
	// The writer is free again and nothing was kept.
	update(t, db, func(tx approvals.Tx) error {
		for _, l := range []string{"a", "b"} {
			if _, err := tx.Approver(l); !errors.Is(err, approvals.ErrNotFound) {
				t.Errorf("approver %s survived a rollback: %v", l, err)
			}
		}
		return nil
	})
	cancelled, cancel := context.WithCancel(ctx())
	cancel()
	if err := db.Update(cancelled, func(approvals.Tx) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Fatalf("Update with a cancelled context: %v", err)
	}
}

func (s *suite) rowsRoundTripAndDuplicatesAreConflicts(t *testing.T) {
	db := s.open(t)
	Seed(t, db)
	// Duplicates, one after another in one transaction: each is refused
	// with its sentinel and the transaction goes on.
	err := db.Update(ctx(), func(tx approvals.Tx) error {
		if err := tx.InsertApplication(approvals.Application{ID: "app2", Name: "payments", Audience: "a", Secret: []byte("s")}); !errors.Is(err, approvals.ErrConflict) {
			t.Errorf("duplicate app name: %v", err)
		}
		if err := tx.InsertApplication(approvals.Application{ID: "app1", Name: "other", Audience: "a", Secret: []byte("s")}); !errors.Is(err, approvals.ErrConflict) {
			t.Errorf("duplicate app id: %v", err)
		}
		if err := tx.InsertApprover(approvals.Approver{Login: "alice"}); !errors.Is(err, approvals.ErrConflict) {
			t.Errorf("duplicate login: %v", err)
		}
		if err := tx.InsertApprover(approvals.Approver{Login: "dave", Name: "D", SSHKeys: []approvals.SSHKey{{Fingerprint: "SHA256:abc"}}}); !errors.Is(err, approvals.ErrConflict) {
			t.Errorf("duplicate ssh key: %v", err)
		}
		if err := tx.InsertTemplate(approvals.Template{Key: "k8s", AppID: "app1", Type: approvals.TypeApprove, Quorum: 1}); !errors.Is(err, approvals.ErrConflict) {
			t.Errorf("duplicate template: %v", err)
		}
		if err := tx.InsertRequest(Req(1, "k8s", "m", approvals.StatusPending)); err != nil {
			return err
		}
		if err := tx.InsertRequest(Req(1, "k8s", "m", approvals.StatusPending)); !errors.Is(err, approvals.ErrConflict) {
			t.Errorf("duplicate request: %v", err)
		}
		return errors.New("roll back")
	})
	if err == nil || err.Error() != "roll back" {
		t.Fatalf("want the rollback error back, got %v", err)
	}
	view(t, db, func(tx approvals.ReadTx) error {
		a, err := tx.ApproverBySSHKey("SHA256:abc")
		if err != nil || a.Login != "alice" || len(a.Groups) != 1 || len(a.SSHKeys) != 1 || a.SSHKeys[0].AuthorizedKey != "ssh-ed25519 AAAA" {
			t.Errorf("approver by key: %+v %v", a, err)
		}
		if _, err := tx.ApproverBySSHKey("SHA256:none"); !errors.Is(err, approvals.ErrNotFound) {
			t.Errorf("unknown key: %v", err)
		}
		if _, err := tx.Approver("dave"); !errors.Is(err, approvals.ErrNotFound) {
			t.Errorf("rolled-back approver exists: %v", err)
		}
		if _, err := tx.Request("R00001"); !errors.Is(err, approvals.ErrNotFound) {
			t.Errorf("rolled-back request exists: %v", err)
		}
		as, err := tx.Approvers("alice", 10)
		if err != nil || len(as) != 2 || as[0].Login != "bob" || as[0].Groups[0] != "dba" || as[1].Login != "carol" {
			t.Errorf("approvers after alice: %+v %v", as, err)
		}
		tm, err := tx.Template("k8s")
		if err != nil || len(tm.Fields) != 2 || tm.Fields[0].Name != "ns" || !tm.Fields[0].Required || tm.Fields[1].Default != "x" ||
			tm.Groups[0] != "sre" || tm.DefaultTTL != time.Hour || tm.Quorum != 1 || tm.Type != approvals.TypeApprove || !tm.CreatedAt.IsZero() || tm.Version != 1 {
			t.Errorf("template: %+v %v", tm, err)
		}
		if _, err := tx.Template("nope"); !errors.Is(err, approvals.ErrNotFound) {
			t.Errorf("unknown template: %v", err)
		}
		tms, err := tx.Templates("", 10)
		if err != nil || len(tms) != 2 || tms[0].Key != "db" || tms[0].Approvers[0] != "bob" {
			t.Errorf("templates: %+v %v", tms, err)
		}
		app, err := tx.ApplicationByName("payments")
		if err != nil || app.ID != "app1" || len(app.Secret) != 32 || app.CreatedAt != base || app.CreatedAt.Location() != time.UTC || app.SecretFormat != approvals.SecretPrinted {
			t.Errorf("application: %+v %v", app, err)
		}
		apps, err := tx.Applications("", 10)
		if err != nil || len(apps) != 1 || apps[0].Secret != nil {
			t.Errorf("application list must not carry secrets: %+v %v", apps, err)
		}
		if _, err := tx.Application("nope"); !errors.Is(err, approvals.ErrNotFound) {
			t.Errorf("unknown application: %v", err)
		}
		if _, err := tx.ApplicationByName("nope"); !errors.Is(err, approvals.ErrNotFound) {
			t.Errorf("unknown application name: %v", err)
		}
		return nil
	})
}

// Each failure that may abort the transaction runs in one of its own.
func (s *suite) missingReferencesAreNotFoundAndBadValuesInvalid(t *testing.T) {
	db := s.open(t)
	Seed(t, db)
	for name, c := range map[string]struct {
		write func(approvals.Tx) error
		want  error
	}{
		"template of an unknown application": {func(tx approvals.Tx) error {
			return tx.InsertTemplate(approvals.Template{Key: "x", AppID: "nope", Type: approvals.TypeApprove, Quorum: 1})
		}, approvals.ErrNotFound},
		"template naming an unknown approver": {func(tx approvals.Tx) error {
			return tx.InsertTemplate(approvals.Template{Key: "y", AppID: "app1", Type: approvals.TypeApprove, Quorum: 1, Approvers: []string{"ghost"}})
		}, approvals.ErrNotFound},
		"template naming an unknown rotation": {func(tx approvals.Tx) error {
			return tx.InsertTemplate(approvals.Template{Key: "y2", AppID: "app1", Type: approvals.TypeApprove, Quorum: 1, OnCall: []string{"ghost"}})
		}, approvals.ErrNotFound},
		"template of an unknown type": {func(tx approvals.Tx) error {
			return tx.InsertTemplate(approvals.Template{Key: "z", AppID: "app1", Type: "bogus", Quorum: 1})
		}, approvals.ErrInvalid},
		"template without quorum": {func(tx approvals.Tx) error {
			return tx.InsertTemplate(approvals.Template{Key: "q", AppID: "app1", Type: approvals.TypeApprove})
		}, approvals.ErrInvalid},
		"request of an unknown template": {func(tx approvals.Tx) error {
			return tx.InsertRequest(Req(1, "nope", "m", approvals.StatusPending))
		}, approvals.ErrNotFound},
		"pending request with a decision": {func(tx approvals.Tx) error {
			r := Req(2, "k8s", "m", approvals.StatusPending)
			r.DecidedAt = base
			return tx.InsertRequest(r)
		}, approvals.ErrInvalid},
		"review of an unknown request": {func(tx approvals.Tx) error {
			return tx.InsertReview(approvals.Review{RequestID: "nope", Approver: "bob", Decision: approvals.DecisionApprove, At: base})
		}, approvals.ErrNotFound},
		"rotation member who is not an approver": {func(tx approvals.Tx) error {
			return tx.InsertRotation(approvals.Rotation{Name: "r", Members: []string{"ghost"}, Shift: time.Hour, Start: base})
		}, approvals.ErrNotFound},
		"override of an unknown rotation": {func(tx approvals.Tx) error {
			return tx.InsertOverride("nope", approvals.Override{Login: "carol", From: base, Until: base.Add(time.Hour)})
		}, approvals.ErrNotFound},
		"application without a secret": {func(tx approvals.Tx) error {
			return tx.InsertApplication(approvals.Application{ID: "app9", Name: "nine", Audience: "a"})
		}, approvals.ErrInvalid},
	} {
		err := db.Update(ctx(), c.write)
		if !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", name, err, c.want)
		}
	}
	// Nothing of the failed writes remains, and the store still writes.
	update(t, db, func(tx approvals.Tx) error {
		for _, k := range []string{"x", "y", "y2", "z", "q"} {
			if _, err := tx.Template(k); !errors.Is(err, approvals.ErrNotFound) {
				t.Errorf("template %s of a failed insert exists: %v", k, err)
			}
		}
		return tx.InsertRequest(Req(3, "k8s", "m", approvals.StatusPending))
	})
}

func (s *suite) grantsSignaturesAndKeysRoundTrip(t *testing.T) {
	db := s.open(t)
	Seed(t, db)
	g := approvals.Grant{ID: "g1", RequestID: "R00001", AppID: "app1", Subject: "m", Audience: "aud", Scope: "k8s",
		IssuedAt: base, ExpiresAt: base.Add(time.Hour), Kid: "k1", Token: "tok"}
	update(t, db, func(tx approvals.Tx) error {
		if err := tx.InsertRequest(Req(1, "db", "m", approvals.StatusPending)); err != nil {
			return err
		}
		sig := approvals.StoredSignature{Digest: "d1", RequestID: "R00001", Approver: "bob", Kind: "typed", Canonical: []byte{0, 1, 2}, SignedAt: base}
		if err := tx.InsertSignature(sig); err != nil {
			return err
		}
		if err := tx.InsertSignature(sig); !errors.Is(err, approvals.ErrConflict) {
			t.Errorf("signature stored twice: %v", err)
		}
		if err := tx.InsertReview(approvals.Review{RequestID: "R00001", Approver: "bob", Decision: approvals.DecisionApprove, SignatureDigest: "d1", GrantTTL: 30 * time.Minute, Comment: "ok", At: base}); err != nil {
			return err
		}
		if err := tx.InsertGrant(g); err != nil {
			return err
		}
		g2 := g
		g2.ID = "g2"
		if err := tx.InsertGrant(g2); !errors.Is(err, approvals.ErrConflict) {
			t.Errorf("second grant for one request: %v", err)
		}
		if err := tx.InsertGrant(g); !errors.Is(err, approvals.ErrConflict) {
			t.Errorf("duplicate grant id: %v", err)
		}
		if err := tx.RevokeGrant("g1", base.Add(time.Minute), "alice", "leaked"); err != nil {
			return err
		}
		if err := tx.RevokeGrant("g1", base.Add(2*time.Minute), "bob", "again"); !errors.Is(err, approvals.ErrRevoked) || !strings.Contains(err.Error(), "alice") {
			t.Errorf("revoked twice: %v", err)
		}
		if err := tx.RevokeGrant("nope", base, "bob", ""); !errors.Is(err, approvals.ErrNotFound) {
			t.Errorf("revoke unknown grant: %v", err)
		}
		if err := tx.InsertSigningKey(approvals.SigningKey{Kid: "k1", Alg: "EdDSA", Private: []byte("pk"), CreatedAt: base}); err != nil {
			return err
		}
		if err := tx.InsertSigningKey(approvals.SigningKey{Kid: "k1", Alg: "EdDSA", Private: []byte("pk"), CreatedAt: base}); !errors.Is(err, approvals.ErrConflict) {
			t.Errorf("duplicate kid: %v", err)
		}
		if err := tx.InsertSigningKey(approvals.SigningKey{Kid: "k2", Alg: "ES256", Private: []byte("pk2"), CreatedAt: base.Add(time.Hour)}); err != nil {
			return err
		}
		if err := tx.ExtendKeyPublication("k1", base.Add(2*time.Hour), base.Add(2*time.Hour)); err != nil {
			return err
		}
		if err := tx.ExtendKeyPublication("k1", base.Add(time.Hour), base.Add(time.Hour)); err != nil { // never lowers it
			return err
		}
		if err := tx.ExtendKeyPublication("nope", base, base); !errors.Is(err, approvals.ErrNotFound) {
			t.Errorf("extend unknown key: %v", err)
		}
		if err := tx.RetireSigningKey("k1", base.Add(3*time.Hour), base.Add(time.Hour)); err != nil {
			return err
		}
		if err := tx.RetireSigningKey("k1", base.Add(4*time.Hour), base); !errors.Is(err, approvals.ErrConflict) {
			t.Errorf("retire twice: %v", err)
		}
		if err := tx.RetireSigningKey("nope", base, base); !errors.Is(err, approvals.ErrNotFound) {
			t.Errorf("retire unknown key: %v", err)
		}
		return nil
	})
	if err := db.Update(ctx(), func(tx approvals.Tx) error {
		return tx.InsertReview(approvals.Review{RequestID: "R00001", Approver: "ghost", Decision: approvals.DecisionApprove, At: base})
	}); !errors.Is(err, approvals.ErrNotFound) {
		t.Errorf("review by an unknown approver: %v", err)
	}
	view(t, db, func(tx approvals.ReadTx) error {
		got, err := tx.GrantByRequest("R00001")
		if err != nil || got.ID != "g1" || got.Token != "tok" || !got.Revoked() || got.RevokedBy != "alice" || got.RevokeReason != "leaked" ||
			!got.RevokedAt.Equal(base.Add(time.Minute)) || !got.ExpiresAt.Equal(g.ExpiresAt) || got.BreakGlass {
			t.Errorf("grant: %+v %v", got, err)
		}
		if got2, err := tx.Grant("g1"); err != nil || got2 != got {
			t.Errorf("grant by id: %+v %v", got2, err)
		}
		if _, err := tx.Grant("nope"); !errors.Is(err, approvals.ErrNotFound) {
			t.Errorf("unknown grant: %v", err)
		}
		if _, err := tx.GrantByRequest("nope"); !errors.Is(err, approvals.ErrNotFound) {
			t.Errorf("grant of an unknown request: %v", err)
		}
		sigs, err := tx.Signatures("R00001")
		if err != nil || len(sigs) != 1 || !bytes.Equal(sigs[0].Canonical, []byte{0, 1, 2}) || !sigs[0].SignedAt.Equal(base) || sigs[0].Kind != "typed" {
			t.Errorf("signatures: %+v %v", sigs, err)
		}
		revs, err := tx.Reviews("R00001")
		if err != nil || len(revs) != 1 || revs[0].GrantTTL != 30*time.Minute || revs[0].SignatureDigest != "d1" || revs[0].Comment != "ok" || revs[0].Decision != approvals.DecisionApprove {
			t.Errorf("reviews: %+v %v", revs, err)
		}
		keys, err := tx.SigningKeys()
		if err != nil || len(keys) != 2 || keys[0].Kid != "k2" || !keys[0].RetiredAt.IsZero() || !keys[0].PublishUntil.IsZero() ||
			!keys[1].RetiredAt.Equal(base.Add(3*time.Hour)) || !keys[1].PublishUntil.Equal(base.Add(2*time.Hour)) || string(keys[1].Private) != "pk" {
			t.Errorf("signing keys: %+v %v", keys, err)
		}
		return nil
	})
}

func (s *suite) decisionsOnlyMovePendingRequests(t *testing.T) {
	db := s.open(t)
	Seed(t, db)
	update(t, db, func(tx approvals.Tx) error {
		if err := tx.InsertRequest(Req(1, "k8s", "mallory", approvals.StatusPending)); err != nil {
			return err
		}
		if err := tx.InsertReview(approvals.Review{RequestID: "R00001", Approver: "alice", Decision: approvals.DecisionApprove, At: base}); err != nil {
			return err
		}
		if err := tx.InsertReview(approvals.Review{RequestID: "R00001", Approver: "alice", Decision: approvals.DecisionDeny, At: base}); !errors.Is(err, approvals.ErrAlreadyReviewed) {
			t.Errorf("second review: %v", err)
		}
		// A deny does not count as an approval.
		if err := tx.InsertReview(approvals.Review{RequestID: "R00001", Approver: "carol", Decision: approvals.DecisionDeny, At: base}); err != nil {
			return err
		}
		if err := tx.SetRequestStatus("R00001", approvals.StatusApproved, base, "alice", ""); err != nil {
			return err
		}
		err := tx.SetRequestStatus("R00001", approvals.StatusDenied, base, "bob", "")
		var de *approvals.DecidedError
		if !errors.Is(err, approvals.ErrNotPending) || !errors.As(err, &de) || de.Status != approvals.StatusApproved || de.By != "alice" || !de.At.Equal(base) ||
			!strings.Contains(err.Error(), "approved by alice") {
			t.Errorf("second decision: %v", err)
		}
		if err := tx.SetRequestStatus("nope", approvals.StatusDenied, base, "bob", ""); !errors.Is(err, approvals.ErrNotFound) {
			t.Errorf("unknown request: %v", err)
		}
		if err := tx.InsertRequest(Req(2, "k8s", "mallory", approvals.StatusPending)); err != nil {
			return err
		}
		if err := tx.SetRequestStatus("R00002", approvals.StatusCancelled, base.Add(time.Minute), "mallory", "not needed"); err != nil {
			return err
		}
		return nil
	})
	view(t, db, func(tx approvals.ReadTx) error {
		r, err := tx.Request("R00001")
		if err != nil || r.Approvals != 1 || r.Status != approvals.StatusApproved || r.DecidedBy != "alice" || !r.DecidedAt.Equal(base) ||
			r.TemplateTitle != "K8s exec" || r.TemplateType != approvals.TypeApprove || r.AppName != "payments" || r.Metadata["ns"] != "x" ||
			r.TTL != time.Hour || r.RequesterIdentity != approvals.IdentityOf("mallory") || r.TemplateVersion != 1 {
			t.Errorf("request: %+v %v", r, err)
		}
		revs, _ := tx.Reviews("R00001")
		if len(revs) != 2 {
			t.Errorf("reviews: %+v", revs)
		}
		r2, _ := tx.Request("R00002")
		if r2.Status != approvals.StatusCancelled || r2.DecidedComment != "not needed" || r2.DecidedBy != "mallory" {
			t.Errorf("cancelled request: %+v", r2)
		}
		return nil
	})
}

func (s *suite) historyIsAppendOnly(t *testing.T) {
	if s.cfg.exec == nil {
		t.Skip("the store gave no WithExec: raw statements cannot be run")
	}
	db := s.open(t)
	Seed(t, db)
	update(t, db, func(tx approvals.Tx) error {
		if err := tx.InsertRequest(Req(1, "db", "m", approvals.StatusPending)); err != nil {
			return err
		}
		if err := tx.InsertReview(approvals.Review{RequestID: "R00001", Approver: "bob", Decision: approvals.DecisionApprove, At: base}); err != nil {
			return err
		}
		if err := tx.InsertSignature(approvals.StoredSignature{Digest: "d1", RequestID: "R00001", Approver: "bob", Kind: "typed", Canonical: []byte("{}"), SignedAt: base}); err != nil {
			return err
		}
		if err := tx.InsertGrant(approvals.Grant{ID: "g1", RequestID: "R00001", AppID: "app1", Subject: "m", Audience: "aud", Scope: "db", IssuedAt: base, ExpiresAt: base, Kid: "k", Token: "t"}); err != nil {
			return err
		}
		if err := tx.UpdateTemplate(approvals.Template{Key: "k8s", AppID: "app1", Name: "K8s", Title: "K8s v2", Type: approvals.TypeApprove, Quorum: 1, Version: 2}, "alice", base); err != nil {
			return err
		}
		_, err := tx.AppendAudit(approvals.AuditEvent{At: base, Actor: "a", Action: "x", Subject: "s"})
		return err
	})
	for _, stmt := range []string{
		"UPDATE audit_events SET actor = 'evil'", "DELETE FROM audit_events",
		"UPDATE signatures SET kind = 'drawn'", "DELETE FROM signatures",
		"DELETE FROM requests", "DELETE FROM reviews", "DELETE FROM grants",
		"UPDATE template_versions SET terms = '{}'", "DELETE FROM template_versions",
	} {
		err := s.cfg.exec(t, db, stmt)
		if err == nil || !(strings.Contains(err.Error(), "append-only") || strings.Contains(err.Error(), "kept forever")) {
			t.Errorf("%s: got %v, want it refused", stmt, err)
		}
	}
	view(t, db, func(tx approvals.ReadTx) error {
		evs, _ := tx.AuditEvents(0, 10)
		if len(evs) != 1 || evs[0].Actor != "a" {
			t.Errorf("audit events after the refused statements: %+v", evs)
		}
		return nil
	})
}

func (s *suite) auditEventsChainWithApprovalsChainHash(t *testing.T) {
	db := s.open(t)
	payloads := []string{`{"k":1}`, "", `{ "spaced" : [1, 2],  "html": "<b>" }`, `{}`, `{"k":"v"}`}
	var appended []approvals.AuditEvent
	view(t, db, func(tx approvals.ReadTx) error {
		seq, head, err := tx.AuditHead()
		if err != nil || seq != 0 || head != "" {
			t.Errorf("empty head: %d %q %v", seq, head, err)
		}
		return nil
	})
	for i, p := range payloads {
		update(t, db, func(tx approvals.Tx) error {
			ev, err := tx.AppendAudit(approvals.AuditEvent{At: base.Add(time.Duration(i) * 1234567), Actor: "a", Action: "x", Subject: strconv.Itoa(i), Payload: []byte(p)})
			appended = append(appended, ev)
			return err
		})
	}
	// Several appends in one transaction chain on each other.
	update(t, db, func(tx approvals.Tx) error {
		for i := range 3 {
			ev, err := tx.AppendAudit(approvals.AuditEvent{At: base, Actor: "b", Action: "y", Subject: strconv.Itoa(i)})
			if err != nil {
				return err
			}
			appended = append(appended, ev)
		}
		return nil
	})
	update(t, db, func(tx approvals.Tx) error {
		for _, bad := range []string{`{"unterminated":`, `[1,2]`, `"text"`} {
			if _, err := tx.AppendAudit(approvals.AuditEvent{At: base, Payload: []byte(bad)}); !errors.Is(err, approvals.ErrInvalid) {
				t.Errorf("payload %s: %v, want ErrInvalid", bad, err)
			}
		}
		return nil
	})
	view(t, db, func(tx approvals.ReadTx) error {
		evs, err := tx.AuditEvents(0, 100)
		if err != nil || len(evs) != len(appended) {
			t.Fatalf("events: %d %v", len(evs), err)
		}
		prev := ""
		for i, e := range evs {
			if e.Seq != int64(i+1) || e.PrevHash != prev || approvals.ChainHash(prev, e) != e.Hash {
				t.Fatalf("event %d does not rehash", e.Seq)
			}
			if e.Hash != appended[i].Hash || string(e.Payload) != string(appended[i].Payload) || !e.At.Equal(appended[i].At) || e.Seq != appended[i].Seq {
				t.Fatalf("event %d as stored differs from what AppendAudit returned:\n%+v\n%+v", e.Seq, e, appended[i])
			}
			prev = e.Hash
		}
		if string(evs[1].Payload) != "{}" || string(evs[2].Payload) != `{"spaced":[1,2],"html":"<b>"}` {
			t.Errorf("payloads stored as %s and %s", evs[1].Payload, evs[2].Payload)
		}
		seq, head, _ := tx.AuditHead()
		if seq != int64(len(appended)) || head != prev {
			t.Fatalf("head %d %s", seq, head)
		}
		if page, _ := tx.AuditEvents(3, 2); len(page) != 2 || page[0].Seq != 4 || page[1].Seq != 5 {
			t.Fatalf("two after 3: %+v", page)
		}
		desc, err := tx.AuditEventsDesc(0, 2)
		if err != nil || len(desc) != 2 || desc[0].Seq != seq || desc[1].Seq != seq-1 {
			t.Fatalf("newest two: %+v %v", desc, err)
		}
		desc, _ = tx.AuditEventsDesc(2, 10)
		if len(desc) != 1 || desc[0].Seq != 1 {
			t.Fatalf("before 2: %+v", desc)
		}
		return nil
	})
}

func (s *suite) bulkInsertContinuesTheAuditChain(t *testing.T) {
	db := s.open(t)
	b, ok := db.(BulkLoader)
	if !ok {
		t.Skip("the store has no BulkInsertRequests")
	}
	Seed(t, db)
	update(t, db, func(tx approvals.Tx) error {
		_, err := tx.AppendAudit(approvals.AuditEvent{At: base, Actor: "a", Action: "init"})
		return err
	})
	var reqs []approvals.Request
	var evs []approvals.AuditEvent
	for i := range 100 {
		reqs = append(reqs, Req(i, "k8s", "m", approvals.StatusPending))
		evs = append(evs, approvals.AuditEvent{At: base, Actor: "app", Action: "request.created", Subject: reqs[i].ID, Payload: []byte(`{"n": 1}`)})
	}
	if err := b.BulkInsertRequests(ctx(), reqs, evs); err != nil {
		t.Fatal(err)
	}
	if err := b.BulkInsertRequests(ctx(), reqs[:1], nil); !errors.Is(err, approvals.ErrConflict) {
		t.Fatalf("duplicate bulk insert: %v", err)
	}
	view(t, db, func(tx approvals.ReadTx) error {
		all, _ := tx.AuditEvents(0, 1000)
		prev := ""
		for _, e := range all {
			if e.PrevHash != prev || approvals.ChainHash(prev, e) != e.Hash {
				t.Fatalf("event %d does not rehash", e.Seq)
			}
			prev = e.Hash
		}
		if len(all) != 101 || string(all[1].Payload) != `{"n":1}` {
			t.Fatalf("%d events", len(all))
		}
		n, _ := tx.CountRequests(approvals.RequestQuery{Scope: approvals.ScopeAll})
		if n != 100 {
			t.Fatalf("%d requests", n)
		}
		r, err := tx.Request("R00042")
		if err != nil || r.Metadata["ns"] != "x" || !r.CreatedAt.Equal(reqs[42].CreatedAt) || r.Status != approvals.StatusPending {
			t.Fatalf("bulk-loaded request: %+v %v", r, err)
		}
		return nil
	})
	// Appends after the bulk load go on from its head.
	update(t, db, func(tx approvals.Tx) error {
		ev, err := tx.AppendAudit(approvals.AuditEvent{At: base, Actor: "a", Action: "after"})
		if err == nil && ev.Seq != 102 {
			t.Errorf("append after bulk load got seq %d", ev.Seq)
		}
		return err
	})
}

func (s *suite) intakeJTIs(t *testing.T) {
	db := s.open(t)
	use := func(app, jti string, exp, now time.Time) error {
		return db.Update(ctx(), func(tx approvals.Tx) error { return tx.UseIntakeJTI(app, jti, exp, now) })
	}
	if err := use("a", "j1", base.Add(time.Minute), base); err != nil {
		t.Fatal(err)
	}
	if err := use("a", "j1", base.Add(time.Minute), base); !errors.Is(err, approvals.ErrReplay) {
		t.Fatalf("replay: %v", err)
	}
	if err := use("b", "j1", base.Add(time.Minute), base); err != nil {
		t.Fatalf("same jti of another application: %v", err)
	}
	// An intake batch: a replay among fresh tokens is refused and the
	// rest of the transaction commits.
	update(t, db, func(tx approvals.Tx) error {
		if err := tx.UseIntakeJTI("a", "j2", base.Add(time.Minute), base); err != nil {
			return err
		}
		if err := tx.UseIntakeJTI("a", "j1", base.Add(time.Minute), base); !errors.Is(err, approvals.ErrReplay) {
			t.Errorf("replay inside a batch: %v", err)
		}
		return tx.UseIntakeJTI("a", "j3", base.Add(time.Minute), base)
	})
	for _, j := range []string{"j2", "j3"} {
		if err := use("a", j, base.Add(time.Minute), base); !errors.Is(err, approvals.ErrReplay) {
			t.Errorf("%s of the batch was not kept: %v", j, err)
		}
	}
	// Many expired records are pruned over time, but never one whose exp
	// is within the leeway: j1 is still refused just after its exp.
	update(t, db, func(tx approvals.Tx) error {
		for i := range 250 {
			if err := tx.UseIntakeJTI("old", strconv.Itoa(i), base.Add(-time.Hour), base.Add(-2*time.Hour)); err != nil {
				return err
			}
		}
		return nil
	})
	for i := range 5 {
		if err := use("a", "k"+strconv.Itoa(i), base.Add(time.Minute), base); err != nil {
			t.Fatal(err)
		}
	}
	if err := use("a", "j1", base.Add(time.Minute), base.Add(time.Minute+time.Second)); !errors.Is(err, approvals.ErrReplay) {
		t.Fatalf("replay inside the leeway: %v", err)
	}
}
