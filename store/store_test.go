package store

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jitdesk/jitdesk/approvals"
	"github.com/jitdesk/jitdesk/storetest"
)

var base = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

func openTemp(t testing.TB) *DB {
	t.Helper()
	db, err := Open(filepath.Join(t.TempDir(), "sub", "jitdesk.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// seedBasics adds one application, approvers alice (sre), bob (dba), carol,
// and templates "k8s" (group sre) and "db" (approver bob).
func seedBasics(t testing.TB, db *DB) {
	t.Helper()
	err := db.Update(context.Background(), func(tx approvals.Tx) error {
		if err := tx.InsertApplication(approvals.Application{ID: "app1", Name: "payments", Audience: "aud", Secret: make([]byte, 32), CreatedAt: base}); err != nil {
			return err
		}
		for _, a := range []approvals.Approver{
			{Login: "alice", Name: "Alice", Groups: []string{"sre"}, SSHKeys: []approvals.SSHKey{{Fingerprint: "SHA256:abc", AuthorizedKey: "ssh-ed25519 AAAA"}}},
			{Login: "bob", Name: "Bob", Groups: []string{"dba"}},
			{Login: "carol", Name: "Carol"},
		} {
			if err := tx.InsertApprover(a); err != nil {
				return err
			}
		}
		if err := tx.InsertTemplate(approvals.Template{Key: "k8s", AppID: "app1", Name: "K8s", Title: "K8s exec", Type: approvals.TypeApprove, Groups: []string{"sre"}, Quorum: 1, DefaultTTL: time.Hour, MaxTTL: time.Hour, PendingTimeout: time.Hour,
			Fields: []approvals.MetadataField{{Name: "ns", Required: true}, {Name: "ticket", Default: "x"}}}); err != nil {
			return err
		}
		return tx.InsertTemplate(approvals.Template{Key: "db", AppID: "app1", Name: "DB", Title: "Prod DB write", Type: approvals.TypeSignAndApprove, Approvers: []string{"bob"}, Quorum: 1, DefaultTTL: time.Hour, MaxTTL: time.Hour, PendingTimeout: time.Hour})
	})
	if err != nil {
		t.Fatal(err)
	}
}

func req(i int, tmpl, requester string, status approvals.Status) approvals.Request {
	r := approvals.Request{
		ID: fmt.Sprintf("R%05d", i), TemplateKey: tmpl, AppID: "app1", Requester: requester, Reason: fmt.Sprintf("reason %d", i),
		Metadata: map[string]string{"ns": "x"}, TTL: time.Hour, CreatedAt: base.Add(time.Duration(i/3) * time.Second), // ties on purpose
		ExpiresAt: base.Add(48 * time.Hour), Status: status,
	}
	if status != approvals.StatusPending {
		r.DecidedAt, r.DecidedBy = base.Add(time.Duration(1000-i/2)*time.Second), "bob"
	}
	return r
}

func TestOpenCreatesPrivateFolderAndFileWithDurableSettings(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b")
	db, err := Open(filepath.Join(dir, "j.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, name := range []string{"j.db", "j.db-wal", "j.db-shm"} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s: mode %v, %v; want 0600", name, fi.Mode().Perm(), err)
		}
	}
	if di, _ := os.Stat(dir); di.Mode().Perm() != 0o700 {
		t.Fatalf("folder mode %v, want 0700", di.Mode().Perm())
	}
	want := map[string]string{"journal_mode": "wal", "foreign_keys": "1", "synchronous": "2", "busy_timeout": "10000"}
	for name, pool := range map[string]*sql.DB{"write": db.write, "read": db.read, "feed": db.feedPool} {
		conn, err := pool.Conn(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for pragma, w := range want {
			var got string
			if err := conn.QueryRowContext(context.Background(), "PRAGMA "+pragma).Scan(&got); err != nil {
				t.Fatal(err)
			}
			if got != w {
				t.Errorf("%s pool: PRAGMA %s = %s, want %s", name, pragma, got, w)
			}
		}
		var qo string
		_ = conn.QueryRowContext(context.Background(), "PRAGMA query_only").Scan(&qo)
		if (qo == "1") != (name != "write") {
			t.Errorf("%s pool: query_only = %s", name, qo)
		}
		conn.Close()
	}
}

func TestOpenAcceptsPathsWithURICharacters(t *testing.T) {
	dir := t.TempDir()
	name := "odd ?name #1 100%25.db"
	db, err := Open(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	seedBasics(t, db)
	entries, _ := os.ReadDir(dir)
	found := false
	for _, e := range entries {
		found = found || e.Name() == name
		if !strings.HasPrefix(e.Name(), name) {
			t.Errorf("unexpected file %q next to the database", e.Name())
		}
	}
	if !found {
		t.Fatalf("database not created under its own name; folder has %v", entries)
	}
}

func TestWritesThroughAViewAreRefused(t *testing.T) {
	db := openTemp(t)
	err := db.View(context.Background(), func(rt approvals.ReadTx) error {
		return rt.(approvals.Tx).InsertApprover(approvals.Approver{Login: "sneaky"})
	})
	if err == nil {
		t.Fatal("a write inside View succeeded")
	}
}

func TestUpdateReturnsTheCallbacksErrorAndRollsBackOnPanic(t *testing.T) {
	db := openTemp(t)
	ctx := context.Background()
	mine := fmt.Errorf("wrapped: %w", approvals.ErrNotEligible)
	err := db.Update(ctx, func(tx approvals.Tx) error {
		if err := tx.InsertApprover(approvals.Approver{Login: "a"}); err != nil {
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
		_ = db.Update(ctx, func(tx approvals.Tx) error {
			if err := tx.InsertApprover(approvals.Approver{Login: "b"}); err != nil {
				return err
			}
			panic("boom")
		})
	}()
	// The single writer connection is free again and nothing was kept.
	if err := db.Update(ctx, func(tx approvals.Tx) error {
		for _, l := range []string{"a", "b"} {
			if _, err := tx.Approver(l); !errors.Is(err, approvals.ErrNotFound) {
				t.Errorf("approver %s survived a rollback: %v", l, err)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if err := db.Update(cancelled, func(approvals.Tx) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Fatalf("Update with a cancelled context: %v", err)
	}
}

func TestReopenIsIdempotent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j.db")
	var schema string
	for i := 0; i < 3; i++ {
		db, err := Open(path)
		if err != nil {
			t.Fatalf("open #%d: %v", i, err)
		}
		var v int
		var s string
		_ = db.read.QueryRow("PRAGMA user_version").Scan(&v)
		_ = db.read.QueryRow("SELECT group_concat(name, ',') FROM (SELECT name FROM sqlite_schema ORDER BY name)").Scan(&s)
		if v != SchemaVersion() || (i > 0 && s != schema) {
			t.Fatalf("open #%d: user_version %d (want %d), schema changed: %v", i, v, SchemaVersion(), s != schema)
		}
		schema = s
		db.Close()
	}
}

func TestDatabaseFromANewerJitdeskIsRefusedUntouched(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j.db")
	db, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	newer := SchemaVersion() + 1
	if _, err := db.write.Exec(fmt.Sprintf("PRAGMA user_version = %d", newer)); err != nil {
		t.Fatal(err)
	}
	db.Close() // checkpoints the WAL into the main file
	before, _ := os.ReadFile(path)
	_, err = Open(path)
	if !errors.Is(err, approvals.ErrSchemaTooNew) {
		t.Fatalf("got %v, want ErrSchemaTooNew", err)
	}
	for _, want := range []string{fmt.Sprintf("version %d", newer), fmt.Sprintf("up to %d", SchemaVersion())} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	after, _ := os.ReadFile(path)
	if !bytes.Equal(before, after) {
		t.Fatal("the newer database was modified")
	}
}

func TestRowsRoundTripAndDuplicatesAreConflicts(t *testing.T) {
	db := openTemp(t)
	seedBasics(t, db)
	ctx := context.Background()
	err := db.Update(ctx, func(tx approvals.Tx) error {
		if err := tx.InsertApplication(approvals.Application{ID: "app2", Name: "payments", Audience: "a", Secret: []byte("s")}); !errors.Is(err, approvals.ErrConflict) {
			t.Errorf("duplicate app name: %v", err)
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
		if err := tx.InsertTemplate(approvals.Template{Key: "x", AppID: "nope", Type: approvals.TypeApprove, Quorum: 1}); !errors.Is(err, approvals.ErrNotFound) {
			t.Errorf("template of an unknown application: %v", err)
		}
		if err := tx.InsertTemplate(approvals.Template{Key: "y", AppID: "app1", Type: approvals.TypeApprove, Quorum: 1, Approvers: []string{"ghost"}}); !errors.Is(err, approvals.ErrNotFound) {
			t.Errorf("template naming an unknown approver: %v", err)
		}
		if err := tx.InsertTemplate(approvals.Template{Key: "z", AppID: "app1", Type: "bogus", Quorum: 1}); !errors.Is(err, approvals.ErrInvalid) {
			t.Errorf("template of an unknown type: %v", err)
		}
		if err := tx.InsertRequest(req(1, "nope", "m", approvals.StatusPending)); !errors.Is(err, approvals.ErrNotFound) {
			t.Errorf("request of an unknown template: %v", err)
		}
		return errors.New("roll back")
	})
	if err == nil || err.Error() != "roll back" {
		t.Fatalf("want the rollback error back, got %v", err)
	}
	_ = db.View(ctx, func(tx approvals.ReadTx) error {
		a, err := tx.ApproverBySSHKey("SHA256:abc")
		if err != nil || a.Login != "alice" || len(a.Groups) != 1 || a.SSHKeys[0].AuthorizedKey != "ssh-ed25519 AAAA" {
			t.Errorf("approver by key: %+v %v", a, err)
		}
		if _, err := tx.ApproverBySSHKey("SHA256:none"); !errors.Is(err, approvals.ErrNotFound) {
			t.Errorf("unknown key: %v", err)
		}
		if _, err := tx.Approver("dave"); !errors.Is(err, approvals.ErrNotFound) {
			t.Errorf("rolled-back approver exists: %v", err)
		}
		as, err := tx.Approvers("alice", 10)
		if err != nil || len(as) != 2 || as[0].Login != "bob" || as[0].Groups[0] != "dba" {
			t.Errorf("approvers after alice: %+v %v", as, err)
		}
		tm, err := tx.Template("k8s")
		if err != nil || len(tm.Fields) != 2 || tm.Fields[0].Name != "ns" || !tm.Fields[0].Required || tm.Fields[1].Default != "x" ||
			tm.Groups[0] != "sre" || tm.DefaultTTL != time.Hour || tm.Quorum != 1 || tm.Type != approvals.TypeApprove || !tm.CreatedAt.IsZero() {
			t.Errorf("template: %+v %v", tm, err)
		}
		tms, err := tx.Templates("", 10)
		if err != nil || len(tms) != 2 || tms[0].Key != "db" || tms[0].Approvers[0] != "bob" {
			t.Errorf("templates: %+v %v", tms, err)
		}
		app, err := tx.ApplicationByName("payments")
		if err != nil || app.ID != "app1" || len(app.Secret) != 32 || app.CreatedAt != base || app.CreatedAt.Location() != time.UTC {
			t.Errorf("application: %+v %v", app, err)
		}
		apps, err := tx.Applications("", 10)
		if err != nil || len(apps) != 1 || apps[0].Secret != nil {
			t.Errorf("application list must not carry secrets: %+v %v", apps, err)
		}
		if _, err := tx.Application("nope"); !errors.Is(err, approvals.ErrNotFound) {
			t.Errorf("unknown application: %v", err)
		}
		return nil
	})
}

func TestGrantsSignaturesAndKeysRoundTrip(t *testing.T) {
	db := openTemp(t)
	seedBasics(t, db)
	ctx := context.Background()
	g := approvals.Grant{ID: "g1", RequestID: "R00001", AppID: "app1", Subject: "m", Audience: "aud", Scope: "k8s",
		IssuedAt: base, ExpiresAt: base.Add(time.Hour), Kid: "k1", Token: "tok"}
	err := db.Update(ctx, func(tx approvals.Tx) error {
		if err := tx.InsertRequest(req(1, "db", "m", approvals.StatusPending)); err != nil {
			return err
		}
		sig := approvals.StoredSignature{Digest: "d1", RequestID: "R00001", Approver: "bob", Kind: "typed", Canonical: []byte{0, 1, 2}, SignedAt: base}
		if err := tx.InsertSignature(sig); err != nil {
			return err
		}
		if err := tx.InsertSignature(sig); !errors.Is(err, approvals.ErrConflict) {
			t.Errorf("signature stored twice: %v", err)
		}
		if err := tx.InsertReview(approvals.Review{RequestID: "R00001", Approver: "ghost", Decision: approvals.DecisionApprove, At: base}); !errors.Is(err, approvals.ErrNotFound) {
			t.Errorf("review by an unknown approver: %v", err)
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
		if err := tx.RevokeGrant("g1", base.Add(time.Minute), "alice", "leaked"); err != nil {
			return err
		}
		if err := tx.RevokeGrant("g1", base.Add(2*time.Minute), "bob", "again"); !errors.Is(err, approvals.ErrRevoked) {
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
	if err != nil {
		t.Fatal(err)
	}
	_ = db.View(ctx, func(tx approvals.ReadTx) error {
		got, err := tx.GrantByRequest("R00001")
		if err != nil || got.ID != "g1" || got.Token != "tok" || !got.Revoked() || got.RevokedBy != "alice" || got.RevokeReason != "leaked" ||
			!got.RevokedAt.Equal(base.Add(time.Minute)) || !got.ExpiresAt.Equal(g.ExpiresAt) {
			t.Errorf("grant: %+v %v", got, err)
		}
		if _, err := tx.Grant("nope"); !errors.Is(err, approvals.ErrNotFound) {
			t.Errorf("unknown grant: %v", err)
		}
		sigs, err := tx.Signatures("R00001")
		if err != nil || len(sigs) != 1 || !bytes.Equal(sigs[0].Canonical, []byte{0, 1, 2}) || !sigs[0].SignedAt.Equal(base) {
			t.Errorf("signatures: %+v %v", sigs, err)
		}
		revs, err := tx.Reviews("R00001")
		if err != nil || len(revs) != 1 || revs[0].GrantTTL != 30*time.Minute || revs[0].SignatureDigest != "d1" || revs[0].Comment != "ok" {
			t.Errorf("reviews: %+v %v", revs, err)
		}
		keys, err := tx.SigningKeys()
		if err != nil || len(keys) != 2 || keys[0].Kid != "k2" || !keys[0].RetiredAt.IsZero() || !keys[0].PublishUntil.IsZero() ||
			!keys[1].RetiredAt.Equal(base.Add(3*time.Hour)) || !keys[1].PublishUntil.Equal(base.Add(2*time.Hour)) {
			t.Errorf("signing keys: %+v %v", keys, err)
		}
		return nil
	})
}

func TestDecisionsOnlyMovePendingRequests(t *testing.T) {
	db := openTemp(t)
	seedBasics(t, db)
	ctx := context.Background()
	err := db.Update(ctx, func(tx approvals.Tx) error {
		if err := tx.InsertRequest(req(1, "k8s", "mallory", approvals.StatusPending)); err != nil {
			return err
		}
		if err := tx.InsertReview(approvals.Review{RequestID: "R00001", Approver: "alice", Decision: approvals.DecisionApprove, At: base}); err != nil {
			return err
		}
		if err := tx.InsertReview(approvals.Review{RequestID: "R00001", Approver: "alice", Decision: approvals.DecisionDeny, At: base}); !errors.Is(err, approvals.ErrAlreadyReviewed) {
			t.Errorf("second review: %v", err)
		}
		if err := tx.SetRequestStatus("R00001", approvals.StatusApproved, base, "alice", ""); err != nil {
			return err
		}
		err := tx.SetRequestStatus("R00001", approvals.StatusDenied, base, "bob", "")
		if !errors.Is(err, approvals.ErrNotPending) || !strings.Contains(err.Error(), "approved by alice") {
			t.Errorf("second decision: %v", err)
		}
		if err := tx.SetRequestStatus("nope", approvals.StatusDenied, base, "bob", ""); !errors.Is(err, approvals.ErrNotFound) {
			t.Errorf("unknown request: %v", err)
		}
		r, _ := tx.Request("R00001")
		if r.Approvals != 1 || r.Status != approvals.StatusApproved || r.TemplateTitle != "K8s exec" || r.AppName != "payments" || r.Metadata["ns"] != "x" {
			t.Errorf("request: %+v", r)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestHistoryIsAppendOnly(t *testing.T) {
	db := openTemp(t)
	seedBasics(t, db)
	ctx := context.Background()
	if err := db.Update(ctx, func(tx approvals.Tx) error {
		if err := tx.InsertRequest(req(1, "db", "m", approvals.StatusPending)); err != nil {
			return err
		}
		if err := tx.InsertSignature(approvals.StoredSignature{Digest: "d1", RequestID: "R00001", Approver: "bob", Kind: "typed", Canonical: []byte("{}"), SignedAt: base}); err != nil {
			return err
		}
		_, err := tx.AppendAudit(approvals.AuditEvent{At: base, Actor: "a", Action: "x", Subject: "s"})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	for _, stmt := range []string{
		"UPDATE audit_events SET actor = 'evil'", "DELETE FROM audit_events",
		"UPDATE signatures SET kind = 'drawn'", "DELETE FROM signatures",
		"DELETE FROM requests",
	} {
		_, err := db.write.Exec(stmt)
		if err == nil || !(strings.Contains(err.Error(), "append-only") || strings.Contains(err.Error(), "kept forever")) {
			t.Errorf("%s: got %v, want it refused", stmt, err)
		}
	}
}

func TestAuditEventsChainWithApprovalsChainHash(t *testing.T) {
	db := openTemp(t)
	ctx := context.Background()
	payloads := []string{`{"k":1}`, "", `{ "spaced" : [1, 2],  "html": "<b>" }`, `{}`, `{"k":"v"}`}
	var appended []approvals.AuditEvent
	for i, p := range payloads {
		if err := db.Update(ctx, func(tx approvals.Tx) error {
			ev, err := tx.AppendAudit(approvals.AuditEvent{At: base.Add(time.Duration(i) * 1234567), Actor: "a", Action: "x", Subject: strconv.Itoa(i), Payload: []byte(p)})
			appended = append(appended, ev)
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	err := db.Update(ctx, func(tx approvals.Tx) error {
		for _, bad := range []string{`{"unterminated":`, `[1,2]`, `"text"`} {
			if _, err := tx.AppendAudit(approvals.AuditEvent{At: base, Payload: []byte(bad)}); !errors.Is(err, approvals.ErrInvalid) {
				t.Errorf("payload %s: %v, want ErrInvalid", bad, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	_ = db.View(ctx, func(tx approvals.ReadTx) error {
		evs, err := tx.AuditEvents(0, 100)
		if err != nil || len(evs) != len(payloads) {
			t.Fatalf("events: %d %v", len(evs), err)
		}
		prev := ""
		for i, e := range evs {
			if e.Seq != int64(i+1) || e.PrevHash != prev || approvals.ChainHash(prev, e) != e.Hash {
				t.Fatalf("event %d does not rehash", e.Seq)
			}
			if e.Hash != appended[i].Hash || string(e.Payload) != string(appended[i].Payload) || !e.At.Equal(appended[i].At) {
				t.Fatalf("event %d as stored differs from what AppendAudit returned:\n%+v\n%+v", e.Seq, e, appended[i])
			}
			prev = e.Hash
		}
		if string(evs[1].Payload) != "{}" || string(evs[2].Payload) != `{"spaced":[1,2],"html":"<b>"}` {
			t.Errorf("payloads stored as %s and %s", evs[1].Payload, evs[2].Payload)
		}
		seq, head, _ := tx.AuditHead()
		if seq != 5 || head != prev {
			t.Fatalf("head %d %s", seq, head)
		}
		desc, err := tx.AuditEventsDesc(0, 2)
		if err != nil || len(desc) != 2 || desc[0].Seq != 5 || desc[1].Seq != 4 {
			t.Fatalf("newest two: %+v %v", desc, err)
		}
		desc, _ = tx.AuditEventsDesc(2, 10)
		if len(desc) != 1 || desc[0].Seq != 1 {
			t.Fatalf("before 2: %+v", desc)
		}
		return nil
	})
}

func TestBulkInsertContinuesTheAuditChain(t *testing.T) {
	db := openTemp(t)
	seedBasics(t, db)
	ctx := context.Background()
	if err := db.Update(ctx, func(tx approvals.Tx) error {
		_, err := tx.AppendAudit(approvals.AuditEvent{At: base, Actor: "a", Action: "init"})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	var reqs []approvals.Request
	var evs []approvals.AuditEvent
	for i := 0; i < 100; i++ {
		reqs = append(reqs, req(i, "k8s", "m", approvals.StatusPending))
		evs = append(evs, approvals.AuditEvent{At: base, Actor: "app", Action: "request.created", Subject: reqs[i].ID, Payload: []byte(`{"n": 1}`)})
	}
	if err := db.BulkInsertRequests(ctx, reqs, evs); err != nil {
		t.Fatal(err)
	}
	if err := db.BulkInsertRequests(ctx, reqs[:1], nil); !errors.Is(err, approvals.ErrConflict) {
		t.Fatalf("duplicate bulk insert: %v", err)
	}
	_ = db.View(ctx, func(tx approvals.ReadTx) error {
		all, _ := tx.AuditEvents(0, 1000)
		prev := ""
		for _, e := range all {
			if e.PrevHash != prev || approvals.ChainHash(prev, e) != e.Hash {
				t.Fatalf("event %d does not rehash", e.Seq)
			}
			prev = e.Hash
		}
		if len(all) != 101 {
			t.Fatalf("%d events", len(all))
		}
		n, _ := tx.CountRequests(approvals.RequestQuery{Scope: approvals.ScopeAll})
		if n != 100 {
			t.Fatalf("%d requests", n)
		}
		return nil
	})
}

// seededRequest is row i of seedRequests: a quarter expired, a fifth on
// template db, every eleventh by alice, created_at and decided_at with ties.
func seededRequest(i int) approvals.Request {
	status := approvals.StatusPending
	if i%4 == 3 {
		status = approvals.StatusExpired
	}
	tmpl, requester := "k8s", fmt.Sprintf("user%d", i%7)
	if i%5 == 0 {
		tmpl = "db"
	}
	if i%11 == 0 {
		requester = "alice"
	}
	return req(i, tmpl, requester, status)
}

func seedRequests(t testing.TB, db *DB, n int) {
	t.Helper()
	var reqs []approvals.Request
	for i := 0; i < n; i++ {
		reqs = append(reqs, seededRequest(i))
	}
	if err := db.BulkInsertRequests(context.Background(), reqs, nil); err != nil {
		t.Fatal(err)
	}
}

func walk(t *testing.T, db *DB, q approvals.RequestQuery, cursor func(approvals.Request) approvals.Cursor) []string {
	t.Helper()
	var ids []string
	var pages [][]approvals.Request
	for {
		var page []approvals.Request
		_ = db.View(context.Background(), func(tx approvals.ReadTx) error {
			var err error
			page, err = tx.Requests(q)
			if err != nil {
				t.Fatal(err)
			}
			return nil
		})
		if len(page) == 0 {
			break
		}
		pages = append(pages, page)
		for _, r := range page {
			ids = append(ids, r.ID)
		}
		c := cursor(page[len(page)-1])
		q.After = &c
	}
	// Walk back from the end with Before: the same pages in reverse.
	var back []string
	c := cursor(pages[len(pages)-1][0])
	q.After, q.Before = nil, &c
	for {
		var page []approvals.Request
		_ = db.View(context.Background(), func(tx approvals.ReadTx) error {
			page, _ = tx.Requests(q)
			return nil
		})
		if len(page) == 0 {
			break
		}
		back = append(append([]string{}, idsOf(page)...), back...)
		c := cursor(page[0])
		q.Before = &c
	}
	back = append(back, idsOf(pages[len(pages)-1])...)
	seen := map[string]bool{}
	for _, id := range ids {
		if seen[id] {
			t.Fatalf("%s listed twice", id)
		}
		seen[id] = true
	}
	if strings.Join(back, ",") != strings.Join(ids, ",") {
		t.Fatalf("backward walk differs from forward walk:\n%v\n%v", back, ids)
	}
	return ids
}

func idsOf(rs []approvals.Request) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.ID
	}
	return out
}

func TestKeysetPagesVisitEveryRowOnceInOrderBothWays(t *testing.T) {
	db := openTemp(t)
	seedBasics(t, db)
	seedRequests(t, db, 300)
	created := func(r approvals.Request) approvals.Cursor { return approvals.Cursor{At: r.CreatedAt, ID: r.ID} }
	decided := func(r approvals.Request) approvals.Cursor { return approvals.Cursor{At: r.DecidedAt, ID: r.ID} }
	pending := walk(t, db, approvals.RequestQuery{Scope: approvals.ScopePending, Limit: 17}, created)
	all := walk(t, db, approvals.RequestQuery{Scope: approvals.ScopeAll, Limit: 23}, created)
	hist := walk(t, db, approvals.RequestQuery{Scope: approvals.ScopeDecided, Limit: 9}, decided)
	// The expected orders, computed from the rows themselves.
	var rows []approvals.Request
	for i := 0; i < 300; i++ {
		rows = append(rows, seededRequest(i))
	}
	expect := func(keep func(approvals.Request) bool, key func(approvals.Request) time.Time, desc bool) []string {
		var sel []approvals.Request
		for _, r := range rows {
			if keep(r) {
				sel = append(sel, r)
			}
		}
		slices.SortFunc(sel, func(a, b approvals.Request) int {
			c := key(a).Compare(key(b))
			if c == 0 {
				c = strings.Compare(a.ID, b.ID)
			}
			if desc {
				c = -c
			}
			return c
		})
		return idsOf(sel)
	}
	isPending := func(r approvals.Request) bool { return r.Status == approvals.StatusPending }
	createdAt := func(r approvals.Request) time.Time { return r.CreatedAt }
	for name, c := range map[string]struct{ got, want []string }{
		"pending": {pending, expect(isPending, createdAt, false)},
		"all":     {all, expect(func(approvals.Request) bool { return true }, createdAt, true)},
		"decided": {hist, expect(func(r approvals.Request) bool { return !isPending(r) }, func(r approvals.Request) time.Time { return r.DecidedAt }, true)},
	} {
		if len(c.want) < 50 || !slices.Equal(c.got, c.want) {
			t.Errorf("%s: walked %d rows, want %d in order\n got %v\nwant %v", name, len(c.got), len(c.want), c.got, c.want)
		}
	}
}

func TestNeedsMeKeepsOnlyRequestsTheApproverCanStillDecide(t *testing.T) {
	db := openTemp(t)
	seedBasics(t, db)
	seedRequests(t, db, 60)
	ctx := context.Background()
	// alice reviewed R00001.
	if err := db.Update(ctx, func(tx approvals.Tx) error {
		return tx.InsertReview(approvals.Review{RequestID: "R00001", Approver: "alice", Decision: approvals.DecisionApprove, At: base})
	}); err != nil {
		t.Fatal(err)
	}
	_ = db.View(ctx, func(tx approvals.ReadTx) error {
		rs, err := tx.Requests(approvals.RequestQuery{Scope: approvals.ScopePending, EligibleFor: "alice", Limit: 500})
		if err != nil {
			t.Fatal(err)
		}
		n, _ := tx.CountRequests(approvals.RequestQuery{Scope: approvals.ScopePending, EligibleFor: "alice"})
		if n != len(rs) {
			t.Errorf("count %d != listed %d", n, len(rs))
		}
		for _, r := range rs {
			if r.TemplateKey != "k8s" || r.Requester == "alice" || r.ID == "R00001" || r.Status != approvals.StatusPending {
				t.Errorf("alice must not see %+v", r)
			}
		}
		if len(rs) == 0 {
			t.Error("alice sees nothing")
		}
		rs, _ = tx.Requests(approvals.RequestQuery{Scope: approvals.ScopePending, EligibleFor: "carol"})
		if len(rs) != 0 {
			t.Errorf("carol is on no template, sees %d", len(rs))
		}
		rs, _ = tx.Requests(approvals.RequestQuery{Scope: approvals.ScopePending, EligibleFor: "bob", Limit: 500})
		if len(rs) == 0 {
			t.Error("bob, named on template db, sees nothing")
		}
		for _, r := range rs {
			if r.TemplateKey != "db" || r.Status != approvals.StatusPending {
				t.Errorf("bob sees %s %s", r.TemplateKey, r.Status)
			}
		}
		// Outside the pending scope "needs me" still means pending only.
		rs, _ = tx.Requests(approvals.RequestQuery{Scope: approvals.ScopeAll, EligibleFor: "bob", Limit: 500})
		for _, r := range rs {
			if r.Status != approvals.StatusPending {
				t.Errorf("needs-me over all lists a %s request", r.Status)
			}
		}
		rs, _ = tx.Requests(approvals.RequestQuery{Scope: approvals.ScopeDecided, EligibleFor: "bob"})
		if len(rs) != 0 {
			t.Errorf("needs-me over decided lists %d", len(rs))
		}
		return nil
	})
}

func TestFilterTreatsPercentAndUnderscoreLiterally(t *testing.T) {
	db := openTemp(t)
	seedBasics(t, db)
	ctx := context.Background()
	r1 := req(1, "k8s", "a_b", approvals.StatusPending)
	r2 := req(2, "k8s", "axb", approvals.StatusPending)
	r3 := req(3, "k8s", "zed", approvals.StatusPending)
	r3.Reason = "100% needed"
	if err := db.BulkInsertRequests(ctx, []approvals.Request{r1, r2, r3}, nil); err != nil {
		t.Fatal(err)
	}
	_ = db.View(ctx, func(tx approvals.ReadTx) error {
		for filter, want := range map[string]string{"a_b": "R00001", "0%": "R00003", "AXB": "R00002", "prod db": "", `\`: "", "%": "R00003", "_": "R00001"} {
			rs, err := tx.Requests(approvals.RequestQuery{Scope: approvals.ScopePending, Filter: filter})
			if err != nil {
				t.Fatal(err)
			}
			got := strings.Join(idsOf(rs), ",")
			if got != want {
				t.Errorf("filter %q: got %q want %q", filter, got, want)
			}
		}
		rs, _ := tx.Requests(approvals.RequestQuery{Scope: approvals.ScopeAll, Filter: "K8s EXEC"})
		if len(rs) != 3 {
			t.Errorf("filter by template title: %d", len(rs))
		}
		return nil
	})
}

// queryPlan returns EXPLAIN QUERY PLAN of the list query for q.
func queryPlan(t testing.TB, db *DB, q approvals.RequestQuery) string {
	t.Helper()
	clause, args := listSQL(q, false, "", nil)
	rows, err := db.read.Query(`EXPLAIN QUERY PLAN SELECT `+requestCols+clause, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, notused int
		var detail string
		if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	return strings.Join(plan, " | ")
}

func TestListQueriesUseIndexesWithoutSorting(t *testing.T) {
	db := openTemp(t)
	seedBasics(t, db)
	seedRequests(t, db, 50)
	cur := &approvals.Cursor{At: base, ID: "R00010"}
	for name, c := range map[string]struct {
		q     approvals.RequestQuery
		index string
	}{
		"pending first page": {approvals.RequestQuery{Scope: approvals.ScopePending}, "requests_by_status_created"},
		"pending next page":  {approvals.RequestQuery{Scope: approvals.ScopePending, After: cur}, "requests_by_status_created"},
		"pending prev page":  {approvals.RequestQuery{Scope: approvals.ScopePending, Before: cur}, "requests_by_status_created"},
		"decided first page": {approvals.RequestQuery{Scope: approvals.ScopeDecided}, "requests_by_decided"},
		"decided prev page":  {approvals.RequestQuery{Scope: approvals.ScopeDecided, Before: cur}, "requests_by_decided"},
		"all first page":     {approvals.RequestQuery{Scope: approvals.ScopeAll}, "requests_by_created"},
		"all next page":      {approvals.RequestQuery{Scope: approvals.ScopeAll, After: cur}, "requests_by_created"},
		"needs me":           {approvals.RequestQuery{Scope: approvals.ScopePending, EligibleFor: "alice"}, "requests_by_status_created"},
		"needs me next page": {approvals.RequestQuery{Scope: approvals.ScopePending, EligibleFor: "alice", After: cur}, "requests_by_status_created"},
		"needs me on call":   {approvals.RequestQuery{Scope: approvals.ScopePending, EligibleFor: "alice", OnCall: []string{"r1", "r2"}}, "requests_by_status_created"},
		"pending filtered":   {approvals.RequestQuery{Scope: approvals.ScopePending, Filter: "x"}, "requests_pending_search"},
		"requester history":  {approvals.RequestQuery{Scope: approvals.ScopeAll, Requester: "alice"}, "requests_by_requester"},
	} {
		p := queryPlan(t, db, c.q)
		if strings.Contains(p, "TEMP B-TREE") || !strings.Contains(p, "USING INDEX "+c.index) && !strings.Contains(p, "USING COVERING INDEX "+c.index) {
			t.Errorf("%s: want %s without a sort, plan: %s", name, c.index, p)
		}
		if c.q.EligibleFor != "" && !strings.Contains(p, "sqlite_autoindex_reviews_1") {
			t.Errorf("%s: the reviews check is not on the (request_id, approver) key: %s", name, p)
		}
		if strings.Contains(p, "SCAN template_approvers") || strings.Contains(p, "SCAN approver_groups") || strings.Contains(p, "SCAN template_groups") || strings.Contains(p, "SCAN template_oncall") {
			t.Errorf("%s: eligibility scans a table: %s", name, p)
		}
	}
}

func TestChangeFeedNoticesWritesFromAnotherDBAndFromItself(t *testing.T) {
	base0 := runtime.NumGoroutine()
	path := filepath.Join(t.TempDir(), "j.db")
	db, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	other, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	ch, stop := db.Subscribe()
	ch2, stop2 := db.Subscribe()
	for i, writer := range []*DB{other, db, other} {
		start := time.Now()
		if err := writer.Update(context.Background(), func(tx approvals.Tx) error {
			_, err := tx.AppendAudit(approvals.AuditEvent{At: base, Actor: "a", Action: "x", Subject: strconv.Itoa(i)})
			return err
		}); err != nil {
			t.Fatal(err)
		}
		for n, c := range []<-chan struct{}{ch, ch2} {
			select {
			case <-c:
			case <-time.After(time.Second):
				t.Fatalf("write %d not noticed by subscriber %d within 1s", i, n)
			}
		}
		t.Logf("write %d noticed after %s", i, time.Since(start).Round(time.Millisecond))
	}
	// No write, no value. A write of this process is announced at once
	// and again when the feed reads data_version (they coalesce in use),
	// so let the last writes' notices settle first.
	settle := time.After(watchBurst + 2*FeedInterval)
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
	case <-time.After(3 * FeedInterval):
	}
	stop()
	stop() // idempotent
	stop2()
	if err := errors.Join(other.Close(), db.Close(), db.Close()); err != nil {
		t.Fatal(err)
	}
	// Subscribing to a closed database starts nothing.
	_, stop3 := db.Subscribe()
	stop3()
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > base0 {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines after Close, %d before Open:\n%s", runtime.NumGoroutine(), base0, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// With the poll stretched to an hour, a commit through another handle on
// the file (its own connections, as another process has) still wakes
// subscribers: the file watch on the WAL notices it, not the poll.
func TestChangeFeedNoticesOtherWritersThroughTheFileWatchWithoutThePoll(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j.db")
	db, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	other, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	db.feedEvery = time.Hour
	ch, stop := db.Subscribe()
	defer stop()
	for i := range 5 {
		if err := other.Update(context.Background(), func(tx approvals.Tx) error {
			_, err := tx.AppendAudit(approvals.AuditEvent{At: base, Actor: "a", Action: "x", Subject: strconv.Itoa(i)})
			return err
		}); err != nil {
			t.Fatal(err)
		}
		select {
		case <-ch:
		case <-time.After(10 * time.Second): // a generous bound: the poll would take an hour
			t.Fatalf("write %d by another handle not noticed without the poll", i)
		}
	}
}

// TestHelperProcessCounter is not a test: it is the worker process of
// TestTwoProcessesOfReadThenWriteTransactionsNeverSeeBusy, which re-executes
// the test binary with -test.run pointing here and the database in the
// environment. It runs 4 goroutines of read-then-write Update transactions
// and fails if any returns an error (printing whether it was SQLITE_BUSY).
func TestHelperProcessCounter(t *testing.T) {
	path := os.Getenv("JITDESK_STORE_HELPER_DB")
	if path == "" {
		t.Skip("helper process for TestTwoProcessesOfReadThenWriteTransactionsNeverSeeBusy")
	}
	n, _ := strconv.Atoi(os.Getenv("JITDESK_STORE_HELPER_N"))
	db, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var wg sync.WaitGroup
	errs := make(chan error, 4*n)
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < n; i++ {
				errs <- db.Update(context.Background(), func(atx approvals.Tx) error {
					tx := atx.(*tx)
					var v int
					if err := tx.queryRow(`SELECT v FROM test_counter WHERE id = 1`).Scan(&v); err != nil {
						return err
					}
					_, err := tx.exec(`UPDATE test_counter SET v = ? WHERE id = 1`, v+1)
					return err
				})
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("busy=%v: %v", IsBusy(err), err)
		}
	}
}

func TestTwoProcessesOfReadThenWriteTransactionsNeverSeeBusy(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j.db")
	db, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.write.Exec(`CREATE TABLE test_counter (id INTEGER PRIMARY KEY, v INTEGER NOT NULL); INSERT INTO test_counter VALUES (1, 0)`); err != nil {
		t.Fatal(err)
	}
	const perGoroutine = 60
	var wg sync.WaitGroup
	outs := make([]string, 2)
	start := time.Now()
	for p := range outs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcessCounter$", "-test.count=1")
			cmd.Env = append(os.Environ(), "JITDESK_STORE_HELPER_DB="+path, "JITDESK_STORE_HELPER_N="+strconv.Itoa(perGoroutine))
			out, err := cmd.CombinedOutput()
			if err != nil {
				outs[p] = fmt.Sprintf("process %d: %v\n%s", p, err, out)
			}
		}()
	}
	wg.Wait()
	for _, o := range outs {
		if o != "" {
			t.Error(o)
		}
	}
	var v int
	if err := db.read.QueryRow(`SELECT v FROM test_counter WHERE id = 1`).Scan(&v); err != nil {
		t.Fatal(err)
	}
	if want := 2 * 4 * perGoroutine; v != want {
		t.Fatalf("counter %d, want %d: updates were lost", v, want)
	}
	t.Logf("%d read-then-write transactions from 2 processes × 4 goroutines in %s", v, time.Since(start).Round(time.Millisecond))
}

func TestIntakeJTIsAreSingleUsePerApplicationAndPrunedInBoundedSteps(t *testing.T) {
	db := openTemp(t)
	ctx := context.Background()
	use := func(app, jti string, exp, now time.Time) error {
		return db.Update(ctx, func(tx approvals.Tx) error { return tx.UseIntakeJTI(app, jti, exp, now) })
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
	// Records that expired long ago, more than two prunes' worth: each
	// transaction prunes at most jtiPrune.
	const old = 2*jtiPrune + 50
	if err := db.Update(ctx, func(atx approvals.Tx) error {
		for i := 0; i < old; i++ {
			if err := atx.UseIntakeJTI("old", strconv.Itoa(i), base.Add(-time.Hour), base.Add(-2*time.Hour)); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	count := func() (n int) {
		_ = db.read.QueryRow(`SELECT COUNT(*) FROM intake_jtis`).Scan(&n)
		return n
	}
	if n := count(); n != old+2 {
		t.Fatalf("%d records", n)
	}
	if err := use("a", "j2", base.Add(time.Minute), base); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != old+3-jtiPrune {
		t.Fatalf("%d records after one prune, want %d", n, old+3-jtiPrune)
	}
	for i := 3; i < 6; i++ {
		_ = use("a", "j"+strconv.Itoa(i), base.Add(time.Minute), base)
	}
	// Only the expired ones went; j1 (exp within jtiKeep) is still refused.
	if n := count(); n != 6 {
		t.Fatalf("%d records left, want the 6 unexpired", n)
	}
	if err := use("a", "j1", base.Add(time.Minute), base.Add(time.Minute+time.Second)); !errors.Is(err, approvals.ErrReplay) {
		t.Fatalf("replay inside the leeway: %v", err)
	}
}

func TestIntegrityCheckPassesOnAFreshDatabaseAndNamesABrokenForeignKey(t *testing.T) {
	db := openTemp(t)
	seedBasics(t, db)
	ctx := context.Background()
	if err := db.IntegrityCheck(ctx); err != nil {
		t.Fatal(err)
	}
	raw, err := sql.Open("sqlite", "file:"+db.Path()+"?_pragma=busy_timeout(10000)&_pragma=foreign_keys(0)")
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.Exec(`INSERT INTO reviews (request_id, approver, decision, at) VALUES ('missing', 'alice', 'deny', 0)`); err != nil {
		t.Fatal(err)
	}
	err = db.IntegrityCheck(ctx)
	if err == nil || !strings.Contains(err.Error(), "foreign_key_check") || !strings.Contains(err.Error(), "reviews") {
		t.Fatalf("got %v, want the broken reference named", err)
	}
}

func TestNeedsMeIncludesTemplatesOfRotationsTheApproverIsOnCallFor(t *testing.T) {
	db := openTemp(t)
	seedBasics(t, db)
	ctx := context.Background()
	err := db.Update(ctx, func(tx approvals.Tx) error {
		if err := tx.InsertRotation(approvals.Rotation{Name: "ops", Members: []string{"carol"}, Shift: time.Hour, Start: base}); err != nil {
			return err
		}
		if err := tx.InsertRotation(approvals.Rotation{Name: "ops", Shift: time.Hour}); !errors.Is(err, approvals.ErrConflict) {
			t.Errorf("duplicate rotation: %v", err)
		}
		if err := tx.InsertOverride("nope", approvals.Override{Login: "carol", From: base, Until: base.Add(time.Hour)}); !errors.Is(err, approvals.ErrNotFound) {
			t.Errorf("override of an unknown rotation: %v", err)
		}
		if err := tx.InsertTemplate(approvals.Template{Key: "pager", AppID: "app1", Title: "Pager", Type: approvals.TypeApprove, Quorum: 1, OnCall: []string{"ops"}}); err != nil {
			return err
		}
		if err := tx.InsertRequest(req(1, "pager", "m", approvals.StatusPending)); err != nil {
			return err
		}
		return tx.InsertRequest(req(2, "k8s", "m", approvals.StatusPending))
	})
	if err != nil {
		t.Fatal(err)
	}
	_ = db.View(ctx, func(tx approvals.ReadTx) error {
		tm, _ := tx.Template("pager")
		if !slices.Equal(tm.OnCall, []string{"ops"}) {
			t.Errorf("template on-call rotations: %v", tm.OnCall)
		}
		rs, _ := tx.Requests(approvals.RequestQuery{Scope: approvals.ScopePending, EligibleFor: "carol", OnCall: []string{"ops"}})
		if got := strings.Join(idsOf(rs), ","); got != "R00001" {
			t.Errorf("carol on call for ops sees %q", got)
		}
		rs, _ = tx.Requests(approvals.RequestQuery{Scope: approvals.ScopePending, EligibleFor: "carol"})
		if len(rs) != 0 {
			t.Errorf("carol off call sees %d", len(rs))
		}
		return nil
	})
}

func TestSelectiveFilterUsesTheSearchIndexAndPagesLikeAnyList(t *testing.T) {
	db := openTemp(t)
	seedBasics(t, db)
	ctx := context.Background()
	var reqs []approvals.Request
	for i := 0; i < 400; i++ {
		r := req(i, "k8s", fmt.Sprint("user", i%9), approvals.StatusPending)
		if i%40 == 7 {
			r.Reason = fmt.Sprintf("rotate the Needle-%d cert", i)
		}
		reqs = append(reqs, r)
	}
	if err := db.BulkInsertRequests(ctx, reqs, nil); err != nil {
		t.Fatal(err)
	}
	narrowOf := func(r approvals.ReadTx, f string) (string, error) {
		return r.(*tx).narrowFilter(approvals.RequestQuery{Scope: approvals.ScopeAll, Filter: f})
	}
	_ = db.View(ctx, func(tx approvals.ReadTx) error {
		narrow, err := narrowOf(tx, "needle")
		if err != nil || narrow == "" {
			t.Fatalf("a selective filter must use the search index: %q %v", narrow, err)
		}
		var got []string
		q := approvals.RequestQuery{Scope: approvals.ScopePending, Filter: "NEEDLE", Limit: 3}
		for {
			page, err := tx.Requests(q)
			if err != nil {
				t.Fatal(err)
			}
			if len(page) == 0 {
				break
			}
			got = append(got, idsOf(page)...)
			last := page[len(page)-1]
			q.After = &approvals.Cursor{At: last.CreatedAt, ID: last.ID}
		}
		if len(got) != 10 || got[0] != "R00007" || got[9] != "R00367" {
			t.Fatalf("paged matches %v", got)
		}
		if n, _ := tx.CountRequests(approvals.RequestQuery{Scope: approvals.ScopePending, Filter: "needle"}); n != 10 {
			t.Fatalf("count %d", n)
		}
		if rs, _ := tx.Requests(approvals.RequestQuery{Scope: approvals.ScopeAll, Filter: "no such text"}); len(rs) != 0 {
			t.Fatalf("a filter matching nothing returned %d", len(rs))
		}
		if rs, _ := tx.Requests(approvals.RequestQuery{Scope: approvals.ScopeAll, Filter: "K8s exec", Limit: 500}); len(rs) != 400 {
			t.Fatalf("a template title filter must match all its requests, got %d", len(rs))
		}
		return nil
	})
}

// Outside the pending scope a one- or two-character filter searches only
// the newest ShortFilterWindow requests of the scope (it cannot use the
// trigram index, and history is unbounded); three characters search all;
// the pending scope is always searched whole.
func TestShortFilterSearchesOnlyTheNewestWindowOfHistory(t *testing.T) {
	db := openTemp(t)
	seedBasics(t, db)
	n := approvals.ShortFilterWindow + 50
	reqs := make([]approvals.Request, 0, n+1)
	for i := range n {
		who := fmt.Sprintf("user%d", i%7)
		switch i {
		case 0: // decided last (req's decided_at falls as i grows), created first
			who = "qx-a"
		case n - 1: // decided first, created last
			who = "qx-b"
		}
		reqs = append(reqs, req(i, "k8s", who, approvals.StatusApproved))
	}
	old := req(n, "k8s", "qx-pending", approvals.StatusPending)
	old.CreatedAt = base.Add(-24 * time.Hour) // the oldest pending request
	reqs = append(reqs, old)
	if err := db.BulkInsertRequests(context.Background(), reqs, nil); err != nil {
		t.Fatal(err)
	}
	list := func(scope approvals.Scope, filter string) string {
		t.Helper()
		var got []string
		err := db.View(context.Background(), func(tx approvals.ReadTx) error {
			rs, err := tx.Requests(approvals.RequestQuery{Scope: scope, Filter: filter, Limit: 50})
			for _, r := range rs {
				got = append(got, r.Requester)
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return fmt.Sprint(got)
	}
	for _, c := range []struct {
		scope  approvals.Scope
		filter string
		want   string
	}{
		{approvals.ScopeDecided, "qx", "[qx-a]"},       // qx-b was decided before the newest 10,000
		{approvals.ScopeDecided, "qx-", "[qx-a qx-b]"}, // three characters: all history
		{approvals.ScopeAll, "qx", "[qx-b]"},           // newest by creation: qx-a and the old pending fall outside
		{approvals.ScopeAll, "qx-", "[qx-b qx-a qx-pending]"},
		{approvals.ScopePending, "qx", "[qx-pending]"}, // pending is searched whole
	} {
		if got := list(c.scope, c.filter); got != c.want {
			t.Errorf("scope %v filter %q: %s, want %s", c.scope, c.filter, got, c.want)
		}
	}
}

// CountAtMost stops a count early (a History tab label over unbounded
// history) and leaves smaller counts exact, filtered or not.
func TestCountAtMostCapsTheCountAndLeavesSmallerCountsExact(t *testing.T) {
	db := openTemp(t)
	seedBasics(t, db)
	seedRequests(t, db, 300)
	count := func(q approvals.RequestQuery) int {
		t.Helper()
		var n int
		err := db.View(context.Background(), func(tx approvals.ReadTx) error {
			var err error
			n, err = tx.CountRequests(q)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	all := count(approvals.RequestQuery{Scope: approvals.ScopeDecided})
	if all < 50 {
		t.Fatalf("seed gave %d decided requests; the test needs more than 50", all)
	}
	if n := count(approvals.RequestQuery{Scope: approvals.ScopeDecided, CountAtMost: 50}); n != 50 {
		t.Errorf("capped at 50: %d", n)
	}
	if n := count(approvals.RequestQuery{Scope: approvals.ScopeDecided, CountAtMost: all + 1}); n != all {
		t.Errorf("cap above the count: %d, want %d", n, all)
	}
	filtered := count(approvals.RequestQuery{Scope: approvals.ScopeAll, Filter: "alice"})
	if n := count(approvals.RequestQuery{Scope: approvals.ScopeAll, Filter: "alice", CountAtMost: 5}); n != min(5, filtered) {
		t.Errorf("filtered, capped at 5: %d (uncapped %d)", n, filtered)
	}
	if n := count(approvals.RequestQuery{Scope: approvals.ScopeAll, Filter: "alice", CountAtMost: 100000}); n != filtered {
		t.Errorf("filtered, cap above: %d, want %d", n, filtered)
	}
}

// TestConformance runs the persistence contract every store implementation
// passes (storetest) against SQLite.
func TestConformance(t *testing.T) {
	storetest.Run(t,
		func(t *testing.T) approvals.Store { return openTemp(t) },
		storetest.WithReopen(func(t *testing.T, s approvals.Store) approvals.Store {
			db, err := Open(s.(*DB).Path())
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			return db
		}),
		storetest.WithExec(func(t *testing.T, s approvals.Store, stmt string) error {
			_, err := s.(*DB).write.Exec(stmt)
			return err
		}))
}
