package storetest

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/jitdesk/jitdesk/approvals"
)

// announce enqueues event seq of type typ about requestID the way Service
// does: deliveries first, then the body when any hook wants it.
func announce(t *testing.T, tx approvals.Tx, typ string, seq int64, requestID string, at time.Time) int {
	t.Helper()
	n, err := tx.EnqueueWebhookDeliveries(typ, seq, requestID, at)
	if err != nil {
		t.Fatal(err)
	}
	if n > 0 {
		if err := tx.InsertWebhookEvent(approvals.WebhookEvent{Seq: seq, Type: typ, RequestID: requestID, At: at, Body: []byte(fmt.Sprintf(`{"seq":%d}`, seq))}); err != nil {
			t.Fatal(err)
		}
	}
	return n
}

func (s *suite) webhookOutbox(t *testing.T) {
	db := s.open(t)
	update(t, db, func(tx approvals.Tx) error {
		if err := tx.InsertWebhook(approvals.Webhook{ID: "h-all", URL: "https://a.example/hook", Secret: "whsec_a", CreatedAt: base, CreatedBy: "alice"}); err != nil {
			return err
		}
		if err := tx.InsertWebhook(approvals.Webhook{ID: "h-all", URL: "https://x", Secret: "x"}); !errors.Is(err, approvals.ErrConflict) {
			t.Errorf("duplicate hook: %v", err)
		}
		return tx.InsertWebhook(approvals.Webhook{ID: "h-approved", URL: "https://b.example/hook", Secret: "whsec_b", Events: []string{"request.approved"}, CreatedAt: base})
	})
	update(t, db, func(tx approvals.Tx) error {
		if n := announce(t, tx, "request.created", 1, "R1", base); n != 1 {
			t.Errorf("created: %d deliveries, want 1 (h-all)", n)
		}
		if n := announce(t, tx, "request.approved", 2, "R1", base.Add(time.Second)); n != 2 {
			t.Errorf("approved: %d deliveries, want 2", n)
		}
		if n := announce(t, tx, "request.created", 3, "R2", base.Add(2*time.Second)); n != 1 {
			t.Errorf("second request: %d deliveries, want 1", n)
		}
		if n := announce(t, tx, "other.type", 4, "R3", base); n != 1 {
			t.Errorf("unnamed type: %d deliveries, want 1 (h-all takes every type)", n)
		}
		return nil
	})
	now := base.Add(time.Minute)
	var due []approvals.WebhookDelivery
	view(t, db, func(tx approvals.ReadTx) error {
		ids, err := tx.ActiveWebhookIDs()
		if err != nil || !slices.Equal(ids, []string{"h-all", "h-approved"}) {
			t.Errorf("active hooks: %v %v", ids, err)
		}
		w, err := tx.Webhook("h-approved")
		if err != nil || w.URL != "https://b.example/hook" || w.Secret != "whsec_b" || !slices.Equal(w.Events, []string{"request.approved"}) {
			t.Errorf("hook: %+v %v", w, err)
		}
		if _, err := tx.Webhook("nope"); !errors.Is(err, approvals.ErrNotFound) {
			t.Errorf("unknown hook: %v", err)
		}
		hooks, err := tx.Webhooks("", 10)
		if err != nil || len(hooks) != 2 || hooks[0].ID != "h-all" || hooks[0].CreatedBy != "alice" || len(hooks[0].Events) != 0 {
			t.Errorf("hooks: %+v %v", hooks, err)
		}
		// R1's approval to h-all waits behind R1's creation: only the heads
		// of each (hook, request) chain are due.
		due, err = tx.DueWebhookDeliveries("h-all", now, 10)
		if err != nil {
			return err
		}
		var seqs []int64
		for _, d := range due {
			seqs = append(seqs, d.Seq)
		}
		if fmt.Sprint(seqs) != "[1 4 3]" {
			t.Errorf("due to h-all: seqs %v, want [1 4 3] (soonest first, R1's second event waiting)", seqs)
		}
		if len(due) > 0 && (due[0].URL != "https://a.example/hook" || due[0].Secret != "whsec_a" || string(due[0].Body) != `{"seq":1}` ||
			due[0].EventType != "request.created" || due[0].RequestID != "R1" || due[0].State != approvals.DeliveryPending) {
			t.Errorf("due delivery: %+v", due[0])
		}
		if next, err := tx.NextWebhookDue("h-all"); err != nil || !next.Equal(base) {
			t.Errorf("next due: %v %v", next, err)
		}
		other, _ := tx.DueWebhookDeliveries("h-approved", now, 10)
		if len(other) != 1 || other[0].Seq != 2 {
			t.Errorf("due to h-approved: %+v (a chain per hook)", other)
		}
		if early, _ := tx.DueWebhookDeliveries("h-all", base.Add(-time.Second), 10); len(early) != 0 {
			t.Errorf("%d due before anything was due", len(early))
		}
		return nil
	})
	if len(due) == 0 {
		t.Fatal("nothing due")
	}
	head := due[0]
	lease := now.Add(30 * time.Second)
	update(t, db, func(tx approvals.Tx) error {
		if ok, err := tx.ClaimWebhookDelivery(head.ID, "node-a", now, lease); !ok || err != nil {
			t.Errorf("claim: %v %v", ok, err)
		}
		// The lease moved it out of the due range: a second deliverer loses.
		if ok, err := tx.ClaimWebhookDelivery(head.ID, "node-b", now, lease); ok || err != nil {
			t.Errorf("second claim: %v %v", ok, err)
		}
		if ds, _ := tx.DueWebhookDeliveries("h-all", now, 10); len(ds) != 2 {
			t.Errorf("claimed delivery still due: %d due", len(ds))
		}
		// A lapsed lease can be claimed again, which takes the claim away.
		if ok, err := tx.ClaimWebhookDelivery(head.ID, "node-b", lease, lease.Add(30*time.Second)); !ok || err != nil {
			t.Errorf("claim after the lease lapsed: %v %v", ok, err)
		}
		_, _, ok, err := tx.RecordWebhookAttempt(approvals.WebhookAttempt{DeliveryID: head.ID, Claim: "node-a", At: lease, Status: 200, Delivered: true}, approvals.DeliveryDelivered, time.Time{})
		if ok || err != nil {
			t.Errorf("an attempt under a lost claim was recorded: %v %v", ok, err)
		}
		// A failure under the live claim: pending again, due at the retry.
		hook, req, ok, err := tx.RecordWebhookAttempt(approvals.WebhookAttempt{DeliveryID: head.ID, Claim: "node-b", At: lease, Status: 500, Error: "boom"}, approvals.DeliveryPending, lease.Add(time.Minute))
		if !ok || err != nil || hook != "h-all" || req != "R1" {
			t.Errorf("failed attempt: %s %s %v %v", hook, req, ok, err)
		}
		if ok, err := tx.ClaimWebhookDelivery(head.ID, "node-b", lease.Add(time.Minute), lease.Add(2*time.Minute)); !ok || err != nil {
			t.Errorf("claim at the retry: %v %v", ok, err)
		}
		hook, req, ok, err = tx.RecordWebhookAttempt(approvals.WebhookAttempt{DeliveryID: head.ID, Claim: "node-b", At: lease.Add(time.Minute), Status: 204, Delivered: true}, approvals.DeliveryDelivered, time.Time{})
		if !ok || err != nil {
			t.Errorf("delivered attempt: %s %s %v %v", hook, req, ok, err)
		}
		// Delivered: the chain's next event becomes due.
		return tx.ReleaseNextWebhookDelivery(hook, req, lease.Add(time.Minute))
	})
	view(t, db, func(tx approvals.ReadTx) error {
		ds, err := tx.DueWebhookDeliveries("h-all", lease.Add(time.Minute), 10)
		var seqs []int64
		for _, d := range ds {
			seqs = append(seqs, d.Seq)
		}
		if err != nil || fmt.Sprint(seqs) != "[4 3 2]" {
			t.Errorf("due after delivery: %v %v, want [4 3 2]", seqs, err)
		}
		log, err := tx.WebhookDeliveries(approvals.WebhookLogQuery{HookID: "h-all"})
		if err != nil || len(log) != 4 || log[0].ID < log[1].ID {
			t.Fatalf("log of h-all newest first: %+v %v", log, err)
		}
		var first approvals.WebhookDelivery
		for _, d := range log {
			if d.ID == head.ID {
				first = d
			}
		}
		if first.State != approvals.DeliveryDelivered || first.Attempts != 2 || first.LastStatus != 204 || !first.DoneAt.Equal(lease.Add(time.Minute)) ||
			!first.NextAttemptAt.IsZero() || !first.LastAttemptAt.Equal(lease.Add(time.Minute)) {
			t.Errorf("delivered row: %+v", first)
		}
		all, _ := tx.WebhookDeliveries(approvals.WebhookLogQuery{})
		if len(all) != 5 {
			t.Errorf("whole log: %d rows", len(all))
		}
		older, _ := tx.WebhookDeliveries(approvals.WebhookLogQuery{Before: all[1].ID, Limit: 10})
		if len(older) != 3 || older[0].ID >= all[1].ID {
			t.Errorf("log before %d: %+v", all[1].ID, older)
		}
		return nil
	})
	// A single test delivery to one hook follows the same chain order.
	update(t, db, func(tx approvals.Tx) error {
		if err := tx.EnqueueWebhookDelivery("h-approved", 5, "R1", now); err != nil {
			return err
		}
		if err := tx.EnqueueWebhookDelivery("h-approved", 5, "R1", now); !errors.Is(err, approvals.ErrConflict) {
			t.Errorf("the same event twice to one hook: %v", err)
		}
		return tx.InsertWebhookEvent(approvals.WebhookEvent{Seq: 5, Type: "test", RequestID: "R1", At: now, Body: []byte("{}")})
	})
	view(t, db, func(tx approvals.ReadTx) error {
		ds, _ := tx.DueWebhookDeliveries("h-approved", now, 10)
		if len(ds) != 1 || ds[0].Seq != 2 {
			t.Errorf("the test delivery must wait behind R1's approval: %+v", ds)
		}
		return nil
	})
}

func (s *suite) webhookRemoval(t *testing.T) {
	db := s.open(t)
	update(t, db, func(tx approvals.Tx) error {
		if err := tx.InsertWebhook(approvals.Webhook{ID: "h1", URL: "https://a", Secret: "s", CreatedAt: base}); err != nil {
			return err
		}
		announce(t, tx, "request.created", 1, "R1", base)
		announce(t, tx, "request.approved", 2, "R1", base)
		return nil
	})
	update(t, db, func(tx approvals.Tx) error {
		n, err := tx.DisableWebhook("h1", base.Add(time.Hour), "alice")
		if err != nil || n != 2 {
			t.Errorf("removal cancelled %d: %v", n, err)
		}
		if _, err := tx.DisableWebhook("h1", base, "alice"); !errors.Is(err, approvals.ErrNotFound) {
			t.Errorf("removing twice: %v", err)
		}
		if n, err := tx.EnqueueWebhookDeliveries("request.created", 3, "R2", base); n != 0 || err != nil {
			t.Errorf("a removed hook still subscribed: %d %v", n, err)
		}
		return nil
	})
	view(t, db, func(tx approvals.ReadTx) error {
		w, _ := tx.Webhook("h1")
		if w.Active() || w.DisabledBy != "alice" {
			t.Errorf("removed hook: %+v", w)
		}
		if ids, _ := tx.ActiveWebhookIDs(); len(ids) != 0 {
			t.Errorf("active hooks: %v", ids)
		}
		if next, err := tx.NextWebhookDue("h1"); !next.IsZero() || err != nil {
			t.Errorf("next due of a removed hook: %v %v", next, err)
		}
		log, _ := tx.WebhookDeliveries(approvals.WebhookLogQuery{HookID: "h1"})
		for _, d := range log {
			if d.State != approvals.DeliveryCancelled || !d.DoneAt.Equal(base.Add(time.Hour)) {
				t.Errorf("delivery after removal: %+v", d)
			}
		}
		return nil
	})
}
