package storetest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/jitdesk/jitdesk/approvals"
)

func keysByKid(t *testing.T, db approvals.Store) map[string]approvals.SigningKey {
	t.Helper()
	out := map[string]approvals.SigningKey{}
	view(t, db, func(tx approvals.ReadTx) error {
		ks, err := tx.SigningKeys()
		for _, k := range ks {
			out[k.Kid] = k
		}
		return err
	})
	return out
}

// stagedKeyRotation pins down the signing-key contract of a staged
// rotation:
//   - ActivatesAt round-trips (zero: signs from creation).
//   - RetireSigningKey accepts a retirement ahead of time, and retiring a
//     key whose retirement is set already is ErrConflict unless the new
//     time is earlier (a retirement may be brought forward, never put off
//     or repeated); publish_until is only ever raised.
//   - ActivateSigningKey(kid, at) sets kid's ActivatesAt to at and retires
//     at "at" every other key not retired by then (RetiredAt zero or later
//     than at), leaving earlier retirements and every PublishUntil alone;
//     ErrNotFound for an unknown kid, ErrConflict for a kid retired at or
//     before "at" (it could never sign).
//   - Every such change is seen at once by another handle on the database
//     (a store caching keys must never serve them stale).
func (s *suite) stagedKeyRotation(t *testing.T) {
	db := s.open(t)
	var other approvals.Store
	if s.cfg.reopen != nil {
		other = s.cfg.reopen(t, db)
	}
	update(t, db, func(tx approvals.Tx) error {
		for _, k := range []approvals.SigningKey{
			{Kid: "k0", Alg: "EdDSA", Private: []byte("p0"), CreatedAt: base.Add(-48 * time.Hour), RetiredAt: base.Add(-24 * time.Hour), PublishUntil: base.Add(-12 * time.Hour)},
			{Kid: "k1", Alg: "EdDSA", Private: []byte("p1"), CreatedAt: base.Add(-24 * time.Hour), PublishUntil: base.Add(4 * time.Hour)},
			{Kid: "k2", Alg: "EdDSA", Private: []byte("p2"), CreatedAt: base, ActivatesAt: base.Add(2 * time.Hour)},
		} {
			if err := tx.InsertSigningKey(k); err != nil {
				return err
			}
		}
		return nil
	})
	ks := keysByKid(t, db)
	if !ks["k2"].ActivatesAt.Equal(base.Add(2*time.Hour)) || ks["k2"].ActivatesAt.Location() != time.UTC || !ks["k1"].ActivatesAt.IsZero() || !ks["k2"].RetiredAt.IsZero() {
		t.Fatalf("keys as inserted: %+v", ks)
	}
	if other != nil {
		keysByKid(t, other) // the other handle reads (and may cache) them now
	}
	update(t, db, func(tx approvals.Tx) error {
		// A staged rotation retires the signing key ahead of time.
		if err := tx.RetireSigningKey("k1", base.Add(2*time.Hour), base.Add(3*time.Hour)); err != nil {
			t.Errorf("retire ahead of time: %v", err)
		}
		if err := tx.RetireSigningKey("k1", base.Add(5*time.Hour), base); !errors.Is(err, approvals.ErrConflict) {
			t.Errorf("put a retirement off: %v, want ErrConflict", err)
		}
		if err := tx.RetireSigningKey("k1", base.Add(2*time.Hour), base); !errors.Is(err, approvals.ErrConflict) {
			t.Errorf("retire again at the same time: %v, want ErrConflict", err)
		}
		if err := tx.RetireSigningKey("k1", base.Add(90*time.Minute), base.Add(time.Hour)); err != nil {
			t.Errorf("bring a retirement forward: %v", err)
		}
		if err := tx.RetireSigningKey("k0", base, base); !errors.Is(err, approvals.ErrConflict) {
			t.Errorf("retire a key retired long ago at a later time: %v, want ErrConflict", err)
		}
		return nil
	})
	ks = keysByKid(t, db)
	if !ks["k1"].RetiredAt.Equal(base.Add(90*time.Minute)) || !ks["k1"].PublishUntil.Equal(base.Add(4*time.Hour)) {
		t.Errorf("k1 after its retirements: retired %v, published until %v; want %v and the unlowered %v",
			ks["k1"].RetiredAt, ks["k1"].PublishUntil, base.Add(90*time.Minute), base.Add(4*time.Hour))
	}
	if other != nil {
		if k := keysByKid(t, other)["k1"]; !k.RetiredAt.Equal(base.Add(90 * time.Minute)) {
			t.Errorf("another handle reads k1 retired at %v, want %v (stale cache?)", k.RetiredAt, base.Add(90*time.Minute))
		}
	}
	update(t, db, func(tx approvals.Tx) error {
		// Another pending key besides k2: activation retires it too.
		return tx.InsertSigningKey(approvals.SigningKey{Kid: "k3", Alg: "ES256", Private: []byte("p3"), CreatedAt: base, ActivatesAt: base.Add(3 * time.Hour)})
	})
	if other != nil {
		if k := keysByKid(t, other)["k3"]; !k.ActivatesAt.Equal(base.Add(3 * time.Hour)) {
			t.Errorf("another handle reads k3 as %+v", k)
		}
	}
	at := base.Add(time.Hour)
	update(t, db, func(tx approvals.Tx) error {
		if err := tx.ActivateSigningKey("k2", at); err != nil {
			return err
		}
		if err := tx.ActivateSigningKey("nope", at); !errors.Is(err, approvals.ErrNotFound) {
			t.Errorf("activate an unknown key: %v, want ErrNotFound", err)
		}
		return nil
	})
	if err := db.Update(ctx(), func(tx approvals.Tx) error { return tx.ActivateSigningKey("k0", at) }); !errors.Is(err, approvals.ErrConflict) {
		t.Errorf("activate a key retired before then: %v, want ErrConflict", err)
	}
	check := func(who string, ks map[string]approvals.SigningKey) {
		t.Helper()
		want := map[string][3]time.Time{ // activates, retired, publish until
			"k0": {{}, base.Add(-24 * time.Hour), base.Add(-12 * time.Hour)},
			"k1": {{}, at, base.Add(4 * time.Hour)},
			"k2": {at, {}, {}},
			"k3": {base.Add(3 * time.Hour), at, {}},
		}
		for kid, w := range want {
			k := ks[kid]
			if !k.ActivatesAt.Equal(w[0]) || !k.RetiredAt.Equal(w[1]) || !k.PublishUntil.Equal(w[2]) {
				t.Errorf("%s: %s activates %v, retired %v, published until %v; want %v, %v, %v", who, kid, k.ActivatesAt, k.RetiredAt, k.PublishUntil, w[0], w[1], w[2])
			}
		}
	}
	check("after activating k2", keysByKid(t, db))
	if other != nil {
		check("another handle after activating k2", keysByKid(t, other))
	}
}

// deliver records a claimed attempt that ends delivery id in state at.
func deliver(t *testing.T, tx approvals.Tx, id int64, state approvals.DeliveryState, at time.Time) {
	t.Helper()
	claim := fmt.Sprint("c", id)
	if ok, err := tx.ClaimWebhookDelivery(id, claim, at, at.Add(time.Minute)); !ok || err != nil {
		t.Fatalf("claim delivery %d: %v %v", id, ok, err)
	}
	a := approvals.WebhookAttempt{DeliveryID: id, Claim: claim, At: at, Status: 200, Delivered: state == approvals.DeliveryDelivered}
	if state == approvals.DeliveryDead {
		a.Status, a.Error = 500, "gave up"
	}
	if _, _, ok, err := tx.RecordWebhookAttempt(a, state, time.Time{}); !ok || err != nil {
		t.Fatalf("record delivery %d %s: %v %v", id, state, ok, err)
	}
}

func queueDepth(t *testing.T, db approvals.Store) (int, int) {
	t.Helper()
	var q, d int
	view(t, db, func(tx approvals.ReadTx) error {
		var err error
		q, d, err = tx.WebhookQueueDepth()
		return err
	})
	return q, d
}

func prune(t *testing.T, db approvals.Store, before time.Time, limit int) (int, int) {
	t.Helper()
	var d, b int
	update(t, db, func(tx approvals.Tx) error {
		var err error
		d, b, err = tx.PruneWebhookDeliveries(before, limit)
		return err
	})
	return d, b
}

// webhookRetention: WebhookQueueDepth counts pending and dead deliveries;
// PruneWebhookDeliveries deletes up to limit finished (delivered, dead,
// cancelled) deliveries that finished before the cut-off, oldest first,
// then exactly the event bodies no delivery refers to any more; pending
// deliveries, later finished ones, the bodies they need and the audit log
// are never touched; a limit of 0 or less deletes nothing.
func (s *suite) webhookRetention(t *testing.T) {
	db := s.open(t)
	ids := map[string]int64{} // "A1" = hook hA's delivery of event 1
	update(t, db, func(tx approvals.Tx) error {
		for _, h := range []string{"hA", "hB"} {
			if err := tx.InsertWebhook(approvals.Webhook{ID: h, URL: "https://" + h + ".example", Secret: "s", CreatedAt: base}); err != nil {
				return err
			}
		}
		for seq := int64(1); seq <= 4; seq++ {
			if n := announce(t, tx, "request.created", seq, fmt.Sprint("R", seq), base); n != 2 {
				t.Fatalf("event %d: %d deliveries, want 2", seq, n)
			}
			if _, err := tx.AppendAudit(approvals.AuditEvent{At: base, Actor: "app", Action: "request.created", Subject: fmt.Sprint("R", seq)}); err != nil {
				return err
			}
		}
		if err := tx.InsertWebhook(approvals.Webhook{ID: "hC", URL: "https://hC.example", Secret: "s", Events: []string{"test"}, CreatedAt: base}); err != nil {
			return err
		}
		return tx.EnqueueWebhookDelivery("hC", 4, "R4", base)
	})
	view(t, db, func(tx approvals.ReadTx) error {
		log, err := tx.WebhookDeliveries(approvals.WebhookLogQuery{Limit: 100})
		for _, d := range log {
			ids[fmt.Sprint(d.HookID[1:], d.Seq)] = d.ID
		}
		return err
	})
	if len(ids) != 9 {
		t.Fatalf("deliveries: %v", ids)
	}
	if q, d := queueDepth(t, db); q != 9 || d != 0 {
		t.Errorf("queue depth of 9 new deliveries: %d queued, %d dead", q, d)
	}
	update(t, db, func(tx approvals.Tx) error {
		deliver(t, tx, ids["A1"], approvals.DeliveryDelivered, base.Add(1*time.Minute))
		deliver(t, tx, ids["B1"], approvals.DeliveryDelivered, base.Add(2*time.Minute))
		deliver(t, tx, ids["B3"], approvals.DeliveryDelivered, base.Add(3*time.Minute))
		deliver(t, tx, ids["A2"], approvals.DeliveryDead, base.Add(4*time.Minute))
		deliver(t, tx, ids["A3"], approvals.DeliveryDelivered, base.Add(10*time.Hour)) // finished after the cut-off
		if n, err := tx.DisableWebhook("hC", base.Add(5*time.Minute), "alice"); err != nil || n != 1 {
			t.Errorf("remove hC: %d cancelled, %v", n, err)
		}
		return nil
	})
	// Pending: B2, A4, B4.
	if q, d := queueDepth(t, db); q != 3 || d != 1 {
		t.Errorf("queue depth: %d queued, %d dead; want 3 and 1", q, d)
	}
	var auditBefore []approvals.AuditEvent
	view(t, db, func(tx approvals.ReadTx) error {
		var err error
		auditBefore, err = tx.AuditEvents(0, 100)
		return err
	})
	cut := base.Add(time.Hour)
	if d, b := prune(t, db, cut, 0); d != 0 || b != 0 {
		t.Errorf("prune with limit 0: %d deliveries, %d bodies; want nothing", d, b)
	}
	// Oldest first: A1 and B1, which free event 1's body.
	if d, b := prune(t, db, cut, 2); d != 2 || b != 1 {
		t.Errorf("first prune: %d deliveries, %d bodies; want 2 and 1", d, b)
	}
	// B3, A2 and C4: event 2 still has B2 pending, 3 has A3, 4 has A4 and B4.
	if d, b := prune(t, db, cut, 100); d != 3 || b != 0 {
		t.Errorf("second prune: %d deliveries, %d bodies; want 3 and 0", d, b)
	}
	if d, b := prune(t, db, cut, 100); d != 0 || b != 0 {
		t.Errorf("third prune: %d deliveries, %d bodies; want nothing left", d, b)
	}
	if q, d := queueDepth(t, db); q != 3 || d != 0 {
		t.Errorf("queue depth after the prune: %d queued, %d dead; want 3 and 0", q, d)
	}
	view(t, db, func(tx approvals.ReadTx) error {
		log, err := tx.WebhookDeliveries(approvals.WebhookLogQuery{Limit: 100})
		if err != nil {
			return err
		}
		left := map[string]approvals.DeliveryState{}
		for _, d := range log {
			left[fmt.Sprint(d.HookID[1:], d.Seq)] = d.State
		}
		want := map[string]approvals.DeliveryState{"B2": approvals.DeliveryPending, "A3": approvals.DeliveryDelivered,
			"A4": approvals.DeliveryPending, "B4": approvals.DeliveryPending}
		if fmt.Sprint(left) != fmt.Sprint(want) {
			t.Errorf("deliveries kept: %v, want %v", left, want)
		}
		// The pending ones are still due, with their bodies.
		for hook, seqs := range map[string]string{"hA": "[4]", "hB": "[2 4]"} {
			due, err := tx.DueWebhookDeliveries(hook, cut, 10)
			var got []int64
			for _, d := range due {
				got = append(got, d.Seq)
				if string(d.Body) != fmt.Sprintf(`{"seq":%d}`, d.Seq) {
					t.Errorf("%s: delivery of event %d has body %q", hook, d.Seq, d.Body)
				}
			}
			if err != nil || fmt.Sprint(got) != seqs {
				t.Errorf("due to %s after the prune: %v %v, want %s", hook, got, err, seqs)
			}
		}
		after, err := tx.AuditEvents(0, 100)
		if err != nil || len(after) != len(auditBefore) {
			t.Fatalf("audit events after the prune: %d %v, want %d", len(after), err, len(auditBefore))
		}
		for i := range after {
			if after[i].Hash != auditBefore[i].Hash {
				t.Errorf("audit event %d changed", after[i].Seq)
			}
		}
		return nil
	})
	// Event 1's body is gone and its seq free: storing it again works;
	// event 3's is still there.
	update(t, db, func(tx approvals.Tx) error {
		if err := tx.InsertWebhookEvent(approvals.WebhookEvent{Seq: 1, Type: "request.created", RequestID: "R1", At: base, Body: []byte("{}")}); err != nil {
			t.Errorf("event 1's body after the prune: %v", err)
		}
		if err := tx.InsertWebhookEvent(approvals.WebhookEvent{Seq: 3, Type: "request.created", RequestID: "R3", At: base, Body: []byte("{}")}); !errors.Is(err, approvals.ErrConflict) {
			t.Errorf("event 3's body (A3 needs it) was pruned: %v", err)
		}
		return nil
	})
}

// pendingTotal: PendingTotal counts pending requests of every application
// and follows decisions.
func (s *suite) pendingTotal(t *testing.T) {
	db := s.open(t)
	Seed(t, db)
	total := func() int {
		var n int
		view(t, db, func(tx approvals.ReadTx) error {
			var err error
			n, err = tx.PendingTotal()
			return err
		})
		return n
	}
	if n := total(); n != 0 {
		t.Errorf("pending of an empty store: %d", n)
	}
	update(t, db, func(tx approvals.Tx) error {
		if err := tx.InsertApplication(approvals.Application{ID: "app2", Name: "billing", Audience: "aud2", Secret: make([]byte, 32), CreatedAt: base}); err != nil {
			return err
		}
		return tx.InsertTemplate(approvals.Template{Key: "bill", AppID: "app2", Title: "Bill", Type: approvals.TypeApprove, Quorum: 1, Approvers: []string{"bob"}})
	})
	seedRequests(t, db, 40) // 30 pending, 10 expired
	InsertRequests(t, db, []approvals.Request{func() approvals.Request {
		r := Req(100, "bill", "m", approvals.StatusPending)
		r.AppID = "app2"
		return r
	}()})
	if n := total(); n != 31 {
		t.Errorf("pending total: %d, want 31 (30 of app1, 1 of app2)", n)
	}
	update(t, db, func(tx approvals.Tx) error {
		if err := tx.SetRequestStatus("R00100", approvals.StatusApproved, base, "bob", ""); err != nil {
			return err
		}
		return tx.SetRequestStatus("R00000", approvals.StatusDenied, base, "bob", "")
	})
	if n := total(); n != 29 {
		t.Errorf("pending total after two decisions: %d, want 29", n)
	}
	if want := count(t, db, approvals.RequestQuery{Scope: approvals.ScopePending}); want != 29 {
		t.Errorf("pending requests listed: %d, want 29", want)
	}
}
