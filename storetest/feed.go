package storetest

import (
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/jitdesk/jitdesk/approvals"
)

// feedPatience bounds how long a test waits for an expected wake before it
// fails instead of hanging. It is not a latency claim: stores wake
// subscribers within milliseconds.
const feedPatience = 30 * time.Second

// feedQuiet is how long the feed must stay silent to count as "no value
// without a write", after a settle period of the same length that lets the
// notices of earlier writes (one's own and the database's) drain.
const feedQuiet = 500 * time.Millisecond

func (s *suite) changeFeed(t *testing.T) {
	if s.cfg.reopen == nil {
		t.Skip("the store gave no WithReopen: no second handle on the same database")
	}
	db := s.open(t)
	other := s.cfg.reopen(t, db)
	ch, stop := db.Subscribe()
	ch2, stop2 := db.Subscribe()
	for i, writer := range []approvals.Store{other, db, other} {
		update(t, writer, func(tx approvals.Tx) error {
			_, err := tx.AppendAudit(approvals.AuditEvent{At: base, Actor: "a", Action: "x", Subject: strconv.Itoa(i)})
			return err
		})
		for n, c := range []<-chan struct{}{ch, ch2} {
			select {
			case <-c:
			case <-time.After(feedPatience):
				t.Fatalf("write %d not noticed by subscriber %d", i, n)
			}
		}
	}
	// A read is not a change.
	view(t, other, func(tx approvals.ReadTx) error { _, _, err := tx.AuditHead(); return err })
	settle := time.After(feedQuiet)
	for settling := true; settling; {
		select {
		case <-ch:
		case <-settle:
			settling = false
		}
	}
	select {
	case <-ch:
		t.Fatal("a value without a write")
	case <-time.After(feedQuiet):
	}
	// A rolled-back write is not a change either.
	_ = other.Update(ctx(), func(tx approvals.Tx) error {
		if _, err := tx.AppendAudit(approvals.AuditEvent{At: base, Actor: "a", Action: "rolled back"}); err != nil {
			return err
		}
		return errors.New("roll back")
	})
	select {
	case <-ch:
		t.Fatal("a value for a rolled-back write")
	case <-time.After(feedQuiet):
	}
	stop()
	stop()   // idempotent
	select { // drop ch2's notice of earlier writes (they have all arrived)
	case <-ch2:
	default:
	}
	// The other subscription still hears writes after this one ended.
	update(t, other, func(tx approvals.Tx) error {
		_, err := tx.AppendAudit(approvals.AuditEvent{At: base, Actor: "a", Action: "after stop"})
		return err
	})
	select {
	case <-ch2:
	case <-time.After(feedPatience):
		t.Fatal("the remaining subscriber missed a write")
	}
	stop2()
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	// Subscribing to a closed store starts nothing and still returns.
	_, stop3 := db.Subscribe()
	stop3()
}
