package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jitdesk/jitdesk/approvals"
)

func TestChunksArePowersOfTwoUpToTheMaximum(t *testing.T) {
	for _, c := range []struct {
		n    int
		want []int
	}{{0, nil}, {1, []int{1}}, {5, []int{4, 1}}, {128, []int{128}}, {300, []int{128, 128, 32, 8, 4}}} {
		if got := chunks(c.n); !slices.Equal(got, c.want) {
			t.Errorf("chunks(%d) = %v, want %v", c.n, got, c.want)
		}
	}
}

// The chain a batch appends is the chain that many AppendAudit calls make:
// the same seqs, previous hashes and hashes, across chunk boundaries.
func TestAppendAuditEventsChainsExactlyAsOneByOne(t *testing.T) {
	ctx := context.Background()
	evs := make([]approvals.AuditEvent, 131)
	for i := range evs {
		evs[i] = approvals.AuditEvent{At: base.Add(1500 * time.Second), Actor: "app:app1", Action: "request.created", Subject: fmt.Sprint("R", i),
			Payload: json.RawMessage(fmt.Sprintf(`{ "n": %d, "s": "x y" }`, i))}
	}
	chain := func(batch bool) []approvals.AuditEvent {
		db := openTemp(t)
		seedBasics(t, db)
		var out []approvals.AuditEvent
		err := db.Update(ctx, func(atx approvals.Tx) error {
			if _, err := atx.AppendAudit(approvals.AuditEvent{At: base, Actor: "x", Action: "before", Subject: "s"}); err != nil {
				return err
			}
			if batch {
				stored, err := atx.(approvals.BatchTx).AppendAuditEvents(evs)
				out = stored
				return err
			}
			for _, ev := range evs {
				stored, err := atx.AppendAudit(ev)
				if err != nil {
					return err
				}
				out = append(out, stored)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		var read []approvals.AuditEvent
		if err := db.View(ctx, func(rtx approvals.ReadTx) error {
			var err error
			read, err = rtx.AuditEvents(1, 1000)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if len(read) != len(out) {
			t.Fatalf("stored %d events, returned %d", len(read), len(out))
		}
		for i := range read {
			if read[i].Hash != out[i].Hash || read[i].Seq != out[i].Seq {
				t.Fatalf("event %d returned as %d %s, stored as %d %s", i, out[i].Seq, out[i].Hash, read[i].Seq, read[i].Hash)
			}
		}
		return read
	}
	one, many := chain(false), chain(true)
	for i := range one {
		a, b := one[i], many[i]
		if a.Seq != b.Seq || a.PrevHash != b.PrevHash || a.Hash != b.Hash || string(a.Payload) != string(b.Payload) {
			t.Fatalf("event %d: one by one %d %s→%s, batched %d %s→%s", i, a.Seq, a.PrevHash, a.Hash, b.Seq, b.PrevHash, b.Hash)
		}
	}
}

func TestUseIntakeJTIsRefusesWhatWasUsedBeforeOrEarlierInTheBatch(t *testing.T) {
	db := openTemp(t)
	seedBasics(t, db)
	ctx := context.Background()
	exp := base.Add(10 * time.Minute)
	if err := db.Update(ctx, func(atx approvals.Tx) error { return atx.UseIntakeJTI("app1", "old", exp, base) }); err != nil {
		t.Fatal(err)
	}
	jtis := make([]approvals.IntakeJTI, 131) // three chunks: 128, 2 and 1
	for i := range jtis {
		jtis[i] = approvals.IntakeJTI{AppID: "app1", JTI: fmt.Sprint("j", i), Exp: exp}
	}
	jtis[5].JTI = "old"      // used before
	jtis[9].JTI = "j3"       // earlier in the same chunk
	jtis[130].JTI = "j1"     // earlier, in another chunk
	jtis[129].AppID = "app2" // another application's "j129" would be fresh too; this one is
	var fresh []bool
	err := db.Update(ctx, func(atx approvals.Tx) error {
		var err error
		fresh, err = atx.(approvals.BatchTx).UseIntakeJTIs(jtis, base)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for i, ok := range fresh {
		if want := i != 5 && i != 9 && i != 130; ok != want {
			t.Errorf("jti %d (%s): fresh %v, want %v", i, jtis[i].JTI, ok, want)
		}
	}
	err = db.Update(ctx, func(atx approvals.Tx) error { return atx.UseIntakeJTI("app1", "j7", exp, base) })
	if !errors.Is(err, approvals.ErrReplay) {
		t.Fatalf("a jti the batch burned, used again: %v, want ErrReplay", err)
	}
}

func TestInsertRequestsStoresAndIndexesEachRowAsInsertRequestDoes(t *testing.T) {
	db := openTemp(t)
	seedBasics(t, db)
	ctx := context.Background()
	reqs := make([]approvals.Request, 130)
	for i := range reqs {
		reqs[i] = req(i, "k8s", fmt.Sprint("user", i), approvals.StatusPending)
		reqs[i].Reason = fmt.Sprintf("needle%03d", i)
	}
	reqs[7].Reason = "qz here" // found only through the pending character pairs
	if err := db.Update(ctx, func(atx approvals.Tx) error { return atx.(approvals.BatchTx).InsertRequests(reqs) }); err != nil {
		t.Fatal(err)
	}
	err := db.View(ctx, func(rtx approvals.ReadTx) error {
		for _, c := range []struct{ filter, want string }{{"needle129", "R00129"}, {"needle005", "R00005"}, {"qz", "R00007"}, {"Qz", "R00007"}} {
			rs, err := rtx.Requests(approvals.RequestQuery{Scope: approvals.ScopePending, Filter: c.filter})
			if err != nil {
				return err
			}
			if got := fmt.Sprint(idsOf(rs)); got != "["+c.want+"]" {
				t.Errorf("filter %q: %s, want [%s]", c.filter, got, c.want)
			}
		}
		got, err := rtx.Request("R00042")
		if err != nil || got.Requester != "user42" || got.Reason != "needle042" || got.Metadata["ns"] != "x" {
			t.Errorf("stored %+v, %v", got, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(ctx, func(atx approvals.Tx) error {
		return atx.(approvals.BatchTx).InsertRequests([]approvals.Request{req(500, "k8s", "x", approvals.StatusPending), reqs[3]})
	})
	if !errors.Is(err, approvals.ErrConflict) {
		t.Fatalf("a duplicate id: %v, want ErrConflict", err)
	}
	var n int
	if err := db.read.QueryRow(`SELECT COUNT(*) FROM requests`).Scan(&n); err != nil || n != len(reqs) {
		t.Fatalf("%d requests stored after the refused batch, want %d (%v)", n, len(reqs), err)
	}
}

func TestChunkShapesHoldOneStatementPerChunkSize(t *testing.T) {
	for _, n := range chunks(2*maxChunk - 1) {
		got := insertJTIsShapes.of(n)
		want := `INSERT INTO intake_jtis (app_id, jti, exp) VALUES ` + valuesSQL(n, 3) + ` ON CONFLICT DO NOTHING RETURNING app_id, jti`
		if got != want {
			t.Errorf("jtis, %d rows: %s", n, got)
		}
		if groups := strings.Count(insertRequestsShapes.of(n), "(?"); groups != n {
			t.Errorf("requests, %d rows: %d value groups", n, groups)
		}
		if groups := strings.Count(insertAuditShapes.of(n), "(?"); groups != n {
			t.Errorf("audit, %d rows: %d value groups", n, groups)
		}
	}
}
