package storetest

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/jitdesk/jitdesk/approvals"
)

func (s *suite) rotations(t *testing.T) {
	db := s.open(t)
	Seed(t, db)
	update(t, db, func(tx approvals.Tx) error {
		if err := tx.InsertRotation(approvals.Rotation{Name: "ops", Members: []string{"carol", "alice"}, Shift: 8 * time.Hour, Start: base, CreatedAt: base}); err != nil {
			return err
		}
		if err := tx.InsertRotation(approvals.Rotation{Name: "dbs", Members: []string{"bob"}, Shift: time.Hour, Start: base}); err != nil {
			return err
		}
		for _, o := range []approvals.Override{
			{Login: "bob", From: base.Add(-2 * time.Hour), Until: base.Add(-time.Hour), CreatedAt: base.Add(-3 * time.Hour)},  // over
			{Login: "bob", From: base, Until: base.Add(time.Hour), CreatedAt: base},                                           // holding
			{Login: "alice", From: base.Add(2 * time.Hour), Until: base.Add(3 * time.Hour), CreatedAt: base.Add(time.Minute)}, // to come
		} {
			if err := tx.InsertOverride("ops", o); err != nil {
				return err
			}
		}
		return nil
	})
	view(t, db, func(tx approvals.ReadTx) error {
		r, err := tx.Rotation("ops", base)
		if err != nil || !slices.Equal(r.Members, []string{"carol", "alice"}) || r.Shift != 8*time.Hour || !r.Start.Equal(base) || len(r.Overrides) != 2 ||
			r.Overrides[0].Login != "bob" || r.Overrides[1].Login != "alice" || !r.Overrides[1].From.Equal(base.Add(2*time.Hour)) {
			t.Errorf("rotation: %+v %v", r, err)
		}
		if _, err := tx.Rotation("nope", base); !errors.Is(err, approvals.ErrNotFound) {
			t.Errorf("unknown rotation: %v", err)
		}
		return nil
	})
	update(t, db, func(tx approvals.Tx) error {
		n, err := tx.CancelOverrides("ops", base.Add(30*time.Minute))
		if err != nil || n != 2 {
			t.Errorf("cancelled %d overrides, want 2 (holding and to come): %v", n, err)
		}
		if err := tx.UpdateRotation(approvals.Rotation{Name: "ops", Members: []string{"alice"}, Shift: time.Hour, Start: base.Add(time.Hour)}); err != nil {
			return err
		}
		if err := tx.UpdateRotation(approvals.Rotation{Name: "nope", Shift: time.Hour}); !errors.Is(err, approvals.ErrNotFound) {
			t.Errorf("update unknown rotation: %v", err)
		}
		if err := tx.SetRotationDisabled("dbs", base); err != nil {
			return err
		}
		return nil
	})
	view(t, db, func(tx approvals.ReadTx) error {
		r, _ := tx.Rotation("ops", base.Add(29*time.Minute))
		// The holding override now ends when it was cancelled; the one to
		// come ends where it would have started.
		if !slices.Equal(r.Members, []string{"alice"}) || r.Shift != time.Hour || len(r.Overrides) != 2 ||
			!r.Overrides[0].Until.Equal(base.Add(30*time.Minute)) || !r.Overrides[1].Until.Equal(r.Overrides[1].From) {
			t.Errorf("rotation after update and cancel: %+v", r)
		}
		r, _ = tx.Rotation("ops", base.Add(2*time.Hour))
		if len(r.Overrides) != 0 {
			t.Errorf("a cancelled override to come still holds when it would have started: %+v", r.Overrides)
		}
		rs, err := tx.Rotations(base)
		if err != nil || len(rs) != 1 || rs[0].Name != "ops" {
			t.Errorf("rotations without the disabled one: %+v %v", rs, err)
		}
		d, _ := tx.Rotation("dbs", base)
		if d.DisabledAt.IsZero() {
			t.Error("disabled rotation has no DisabledAt")
		}
		names, err := tx.RotationNames()
		if err != nil || !slices.Equal(names, []string{"dbs", "ops"}) {
			t.Errorf("rotation names: %v %v", names, err)
		}
		return nil
	})
}

func (s *suite) templateVersions(t *testing.T) {
	db := s.open(t)
	Seed(t, db)
	update(t, db, func(tx approvals.Tx) error {
		tm, err := tx.Template("k8s")
		if err != nil {
			return err
		}
		tm.Version, tm.Title, tm.Quorum, tm.Groups, tm.Approvers = 2, "K8s exec v2", 2, nil, []string{"bob", "carol"}
		tm.Fields = []approvals.MetadataField{{Name: "cluster", Required: true}}
		tm.BreakGlassGroups = []string{"oncall", "sre"}
		if err := tx.UpdateTemplate(tm, "alice", base.Add(time.Hour)); err != nil {
			return err
		}
		if err := tx.UpdateTemplate(approvals.Template{Key: "nope", Version: 2, Type: approvals.TypeApprove, Quorum: 1}, "alice", base); !errors.Is(err, approvals.ErrNotFound) {
			t.Errorf("update unknown template: %v", err)
		}
		return tx.SetTemplateDisabled("db", base)
	})
	view(t, db, func(tx approvals.ReadTx) error {
		tm, _ := tx.Template("k8s")
		if tm.Version != 2 || tm.Title != "K8s exec v2" || tm.Quorum != 2 || len(tm.Groups) != 0 || !slices.Equal(tm.Approvers, []string{"bob", "carol"}) ||
			len(tm.Fields) != 1 || tm.Fields[0].Name != "cluster" || !slices.Equal(tm.BreakGlassGroups, []string{"oncall", "sre"}) {
			t.Errorf("current terms: %+v", tm)
		}
		vs, err := tx.TemplateVersions("k8s")
		if err != nil || len(vs) != 2 || vs[0].Version != 1 || vs[1].Version != 2 || vs[1].By != "alice" || !vs[1].At.Equal(base.Add(time.Hour)) {
			t.Errorf("versions: %+v %v", vs, err)
		}
		v1, err := tx.TemplateVersion("k8s", 1)
		if err != nil || v1.Title != "K8s exec" || v1.Quorum != 1 || !slices.Equal(v1.Groups, []string{"sre"}) {
			t.Errorf("version 1 terms: %+v %v", v1, err)
		}
		if _, err := tx.TemplateVersion("k8s", 3); !errors.Is(err, approvals.ErrNotFound) {
			t.Errorf("unknown version: %v", err)
		}
		d, _ := tx.Template("db")
		if !d.Disabled() || d.Version != 1 {
			t.Errorf("disabled template: %+v", d)
		}
		return nil
	})
	update(t, db, func(tx approvals.Tx) error { return tx.SetTemplateDisabled("db", time.Time{}) })
	view(t, db, func(tx approvals.ReadTx) error {
		if d, _ := tx.Template("db"); d.Disabled() {
			t.Error("re-enabled template still disabled")
		}
		return nil
	})
}

func (s *suite) approverAdmin(t *testing.T) {
	db := s.open(t)
	Seed(t, db)
	update(t, db, func(tx approvals.Tx) error {
		if err := tx.UpdateApprover(approvals.Approver{Login: "bob", Name: "Robert", Email: "bob@example.com", Auditor: true, Groups: []string{"dba", "sre", "sre"}}); err != nil {
			return err
		}
		if err := tx.UpdateApprover(approvals.Approver{Login: "nope", Name: "N"}); !errors.Is(err, approvals.ErrNotFound) {
			t.Errorf("update unknown approver: %v", err)
		}
		if err := tx.UpdateApprover(approvals.Approver{Login: "carol", Name: "Carol", Email: "bob@example.com"}); err != nil {
			return err
		}
		if err := tx.SetApproverDisabled("carol", base, "alice"); err != nil {
			return err
		}
		if err := tx.SetApproverDisabled("nope", base, "alice"); !errors.Is(err, approvals.ErrNotFound) {
			t.Errorf("disable unknown approver: %v", err)
		}
		if err := tx.AddSSHKey("bob", approvals.SSHKey{Fingerprint: "SHA256:bob", AuthorizedKey: "ssh-ed25519 BBBB", AddedAt: base}); err != nil {
			return err
		}
		if err := tx.AddSSHKey("bob", approvals.SSHKey{Fingerprint: "SHA256:abc", AuthorizedKey: "x", AddedAt: base}); !errors.Is(err, approvals.ErrConflict) {
			t.Errorf("adding alice's key to bob: %v", err)
		}
		if err := tx.RemoveSSHKey("bob", "SHA256:bob", base.Add(time.Hour)); err != nil {
			return err
		}
		if err := tx.RemoveSSHKey("bob", "SHA256:bob", base.Add(2*time.Hour)); !errors.Is(err, approvals.ErrNotFound) {
			t.Errorf("removing a removed key: %v", err)
		}
		return nil
	})
	view(t, db, func(tx approvals.ReadTx) error {
		b, err := tx.Approver("bob")
		if err != nil || b.Name != "Robert" || !b.Auditor || !slices.Equal(b.Groups, []string{"dba", "sre"}) || len(b.SSHKeys) != 1 || b.SSHKeys[0].Active() ||
			!b.SSHKeys[0].RemovedAt.Equal(base.Add(time.Hour)) || !b.SSHKeys[0].AddedAt.Equal(base) {
			t.Errorf("bob: %+v %v", b, err)
		}
		c, _ := tx.Approver("carol")
		if !c.Disabled() || c.DisabledBy != "alice" || !c.DisabledAt.Equal(base) {
			t.Errorf("carol: %+v", c)
		}
		same, err := tx.ApproversByEmail("bob@example.com")
		if err != nil || len(same) != 2 || same[0].Login != "bob" || same[1].Login != "carol" {
			t.Errorf("approvers by email: %+v %v", same, err)
		}
		if none, err := tx.ApproversByEmail(""); err != nil || len(none) != 0 {
			t.Errorf("the empty email matches %d: %v", len(none), err)
		}
		return nil
	})
	update(t, db, func(tx approvals.Tx) error {
		if err := tx.SetApproverDisabled("carol", time.Time{}, ""); err != nil {
			return err
		}
		// A removed key comes back to its owner.
		return tx.AddSSHKey("bob", approvals.SSHKey{Fingerprint: "SHA256:bob", AuthorizedKey: "ssh-ed25519 BBBB", AddedAt: base.Add(3 * time.Hour)})
	})
	view(t, db, func(tx approvals.ReadTx) error {
		if c, _ := tx.Approver("carol"); c.Disabled() || c.DisabledBy != "" {
			t.Errorf("re-enabled carol: %+v", c)
		}
		b, _ := tx.ApproverBySSHKey("SHA256:bob")
		if len(b.SSHKeys) != 1 || !b.SSHKeys[0].Active() || !b.SSHKeys[0].AddedAt.Equal(base.Add(3*time.Hour)) {
			t.Errorf("restored key: %+v", b.SSHKeys)
		}
		return nil
	})
}

func (s *suite) applicationAdmin(t *testing.T) {
	db := s.open(t)
	Seed(t, db)
	InsertRequests(t, db, []approvals.Request{Req(1, "k8s", "m", approvals.StatusPending), Req(2, "k8s", "m", approvals.StatusPending),
		Req(3, "k8s", "m", approvals.StatusPending), Req(4, "k8s", "m", approvals.StatusApproved)})
	update(t, db, func(tx approvals.Tx) error {
		if err := tx.InsertApplication(approvals.Application{ID: "app2", Name: "billing", Audience: "b", Secret: []byte("s2"), CreatedAt: base}); err != nil {
			return err
		}
		a, err := tx.Application("app1")
		if err != nil {
			return err
		}
		a.Name, a.Audience, a.Secret, a.SecretFormat = "payments-v2", "aud2", []byte("new"), approvals.SecretPrinted
		a.PreviousSecret, a.PreviousSecretFormat, a.PreviousSecretUntil = []byte("old"), approvals.SecretRaw, base.Add(time.Hour)
		a.Disabled = true
		a.Limits = approvals.AppLimits{MaxPending: 7, RatePerSecond: 2.5, Burst: 9, MaxLongPolls: 3}
		if err := tx.UpdateApplication(a); err != nil {
			return err
		}
		if err := tx.UpdateApplication(approvals.Application{ID: "nope", Name: "x", Secret: []byte("s")}); !errors.Is(err, approvals.ErrNotFound) {
			t.Errorf("update unknown application: %v", err)
		}
		for atMost, want := range map[int]int{2: 2, 10: 3} {
			if n, err := tx.CountPendingForApp("app1", atMost); err != nil || n != want {
				t.Errorf("pending of app1 at most %d: %d %v, want %d", atMost, n, err, want)
			}
		}
		if n, err := tx.CountPendingForApp("app2", 10); err != nil || n != 0 {
			t.Errorf("pending of app2: %d %v", n, err)
		}
		return nil
	})
	if err := db.Update(ctx(), func(tx approvals.Tx) error {
		return tx.UpdateApplication(approvals.Application{ID: "app2", Name: "payments-v2", Audience: "b", Secret: []byte("s2")})
	}); !errors.Is(err, approvals.ErrConflict) {
		t.Errorf("renaming onto a taken name: %v", err)
	}
	view(t, db, func(tx approvals.ReadTx) error {
		a, err := tx.Application("app1")
		if err != nil || a.Name != "payments-v2" || string(a.Secret) != "new" || string(a.PreviousSecret) != "old" || a.PreviousSecretFormat != approvals.SecretRaw ||
			!a.PreviousSecretUntil.Equal(base.Add(time.Hour)) || !a.Disabled || a.Limits != (approvals.AppLimits{MaxPending: 7, RatePerSecond: 2.5, Burst: 9, MaxLongPolls: 3}) {
			t.Errorf("updated application: %+v %v", a, err)
		}
		apps, _ := tx.Applications("", 10)
		if len(apps) != 2 || apps[0].Name != "billing" || apps[1].Name != "payments-v2" {
			t.Errorf("applications by name: %+v", apps)
		}
		if apps, _ := tx.Applications("billing", 10); len(apps) != 1 {
			t.Errorf("applications after billing: %+v", apps)
		}
		return nil
	})
}

func (s *suite) settings(t *testing.T) {
	db := s.open(t)
	Seed(t, db)
	view(t, db, func(tx approvals.ReadTx) error {
		if v, ok, err := tx.Setting("issuer"); ok || v != "" || err != nil {
			t.Errorf("unset setting: %q %v %v", v, ok, err)
		}
		if g, ok, err := tx.LatestGrant(); ok || g.Token != "" || err != nil {
			t.Errorf("newest grant of none: %q %v %v", g.Token, ok, err)
		}
		return nil
	})
	InsertRequests(t, db, []approvals.Request{Req(1, "k8s", "m", approvals.StatusApproved), Req(2, "k8s", "m", approvals.StatusApproved)})
	update(t, db, func(tx approvals.Tx) error {
		if err := tx.SetSetting("issuer", "https://a"); err != nil {
			return err
		}
		if err := tx.SetSetting("issuer", "https://b"); err != nil {
			return err
		}
		for i, id := range []string{"R00002", "R00001"} {
			g := approvals.Grant{ID: fmt.Sprint("g", i), RequestID: id, AppID: "app1", Subject: "m", Audience: "aud", Scope: "k8s",
				IssuedAt: base.Add(time.Duration(i) * time.Minute), ExpiresAt: base.Add(time.Hour), Kid: "k", Token: fmt.Sprint("tok", i)}
			if err := tx.InsertGrant(g); err != nil {
				return err
			}
		}
		return nil
	})
	view(t, db, func(tx approvals.ReadTx) error {
		if v, ok, err := tx.Setting("issuer"); !ok || v != "https://b" || err != nil {
			t.Errorf("setting: %q %v %v", v, ok, err)
		}
		if g, ok, err := tx.LatestGrant(); !ok || g.Token != "tok1" || err != nil {
			t.Errorf("newest grant token: %q %v %v", g.Token, ok, err)
		}
		return nil
	})
}

func (s *suite) breakGlass(t *testing.T) {
	db := s.open(t)
	Seed(t, db)
	var reqs []approvals.Request
	for i := 1; i <= 4; i++ {
		reqs = append(reqs, Req(i, "k8s", "m", approvals.StatusApproved))
	}
	InsertRequests(t, db, reqs)
	update(t, db, func(tx approvals.Tx) error {
		for i, r := range reqs {
			g := approvals.Grant{ID: fmt.Sprintf("g%d", i), RequestID: r.ID, AppID: "app1", Subject: "m", Audience: "aud", Scope: "k8s",
				IssuedAt: base.Add(time.Duration(i/2) * time.Minute), ExpiresAt: base.Add(time.Hour), Kid: "k", Token: "t", BreakGlass: i != 1}
			if err := tx.InsertGrant(g); err != nil {
				return err
			}
		}
		return nil
	})
	awaiting := func(after *approvals.Cursor, limit int) []string {
		var ids []string
		view(t, db, func(tx approvals.ReadTx) error {
			gs, err := tx.AwaitingReview(after, limit)
			for _, g := range gs {
				ids = append(ids, g.ID)
			}
			return err
		})
		return ids
	}
	if got := fmt.Sprint(awaiting(nil, 10)); got != "[g0 g2 g3]" {
		t.Errorf("awaiting review: %s", got)
	}
	if got := fmt.Sprint(awaiting(&approvals.Cursor{At: base, ID: "g0"}, 1)); got != "[g2]" {
		t.Errorf("awaiting review after g0: %s", got)
	}
	update(t, db, func(tx approvals.Tx) error {
		if err := tx.AcknowledgeGrant("g2", base.Add(time.Hour), "bob", "fine"); err != nil {
			return err
		}
		if err := tx.AcknowledgeGrant("g2", base.Add(2*time.Hour), "alice", "again"); !errors.Is(err, approvals.ErrConflict) {
			t.Errorf("acknowledged twice: %v", err)
		}
		if err := tx.AcknowledgeGrant("g1", base, "bob", ""); !errors.Is(err, approvals.ErrConflict) {
			t.Errorf("acknowledging a grant that is not break-glass: %v", err)
		}
		if err := tx.AcknowledgeGrant("nope", base, "bob", ""); !errors.Is(err, approvals.ErrNotFound) {
			t.Errorf("acknowledging an unknown grant: %v", err)
		}
		return nil
	})
	view(t, db, func(tx approvals.ReadTx) error {
		if n, err := tx.CountAwaitingReview(); n != 2 || err != nil {
			t.Errorf("count awaiting: %d %v", n, err)
		}
		g, _ := tx.Grant("g2")
		if !g.BreakGlass || g.ReviewedBy != "bob" || g.ReviewComment != "fine" || !g.ReviewedAt.Equal(base.Add(time.Hour)) {
			t.Errorf("acknowledged grant: %+v", g)
		}
		return nil
	})
}

func (s *suite) replayWalks(t *testing.T) {
	db := s.open(t)
	Seed(t, db)
	seedRequests(t, db, 30)
	update(t, db, func(tx approvals.Tx) error {
		for _, id := range []string{"R00002", "R00001"} {
			for _, who := range []string{"bob", "alice"} {
				if err := tx.InsertReview(approvals.Review{RequestID: id, Approver: who, Decision: approvals.DecisionDeny, At: base}); err != nil {
					return err
				}
			}
			if err := tx.InsertSignature(approvals.StoredSignature{Digest: "d-" + id, RequestID: id, Approver: "bob", Kind: "typed", Canonical: []byte("x"), SignedAt: base}); err != nil {
				return err
			}
			if err := tx.InsertGrant(approvals.Grant{ID: "g-" + id, RequestID: id, AppID: "app1", Subject: "m", Audience: "aud", Scope: "k8s", IssuedAt: base, ExpiresAt: base, Kid: "k", Token: "t"}); err != nil {
				return err
			}
		}
		return nil
	})
	view(t, db, func(tx approvals.ReadTx) error {
		var all []string
		after := ""
		for range 100 {
			rs, err := tx.RequestsByID(after, 7)
			if err != nil {
				return err
			}
			if len(rs) == 0 {
				break
			}
			all = append(all, idsOf(rs)...)
			after = rs[len(rs)-1].ID
		}
		if len(all) != 30 || !slices.IsSorted(all) {
			t.Errorf("requests by id: %v", all)
		}
		revs, err := tx.ReviewsAfter("R00001", "alice", 10)
		if err != nil || len(revs) != 3 || revs[0].RequestID != "R00001" || revs[0].Approver != "bob" || revs[1].RequestID != "R00002" || revs[1].Approver != "alice" {
			t.Errorf("reviews after (R00001, alice): %+v %v", revs, err)
		}
		if revs, _ := tx.ReviewsAfter("", "", 10); len(revs) != 4 {
			t.Errorf("all reviews: %d", len(revs))
		}
		gs, err := tx.GrantsAfter("g-R00001", 10)
		if err != nil || len(gs) != 1 || gs[0].ID != "g-R00002" {
			t.Errorf("grants after g-R00001: %+v %v", gs, err)
		}
		sigs, err := tx.SignaturesAfter("", 10)
		if err != nil || len(sigs) != 2 || sigs[0].Digest != "d-R00001" || sigs[1].RequestID != "R00002" {
			t.Errorf("signatures: %+v %v", sigs, err)
		}
		return nil
	})
}
