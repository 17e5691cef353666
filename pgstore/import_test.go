package pgstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/jitdesk/jitdesk/approvals"
	"github.com/jitdesk/jitdesk/store"
	"github.com/jitdesk/jitdesk/tokens"
)

// sqliteWithHistory builds a SQLite database through the Service with a
// bit of everything: sealed secrets, approved (with a grant), denied and
// pending requests, a revocation, a rotation with an override (an identity
// column), a webhook and its outbox, a shared secret. It returns the file,
// the sealer and the audit report of the source.
func sqliteWithHistory(t *testing.T) (string, *tokens.Sealer, approvals.AuditReport) {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "src.db")
	sdb, err := store.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer sdb.Close()
	k, err := tokens.GenerateMasterKey()
	if err != nil {
		t.Fatal(err)
	}
	sealer := tokens.NewSealer(k)
	svc := approvals.New(sdb, approvals.Options{Issuer: "https://jitdesk.test", Sealer: sealer})
	if _, err := svc.SealSecrets(ctx, "test"); err != nil {
		t.Fatal(err)
	}
	setUpService(t, svc)
	if _, err := svc.AddWebhook(ctx, "test", "https://hooks.example.test/jitdesk", nil); err != nil {
		t.Fatal(err)
	}
	if err := svc.AddRotation(ctx, "test", approvals.Rotation{Name: "primary", Members: []string{"alice", "bob"}, Shift: 24 * time.Hour, Start: time.Now().Truncate(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if err := svc.OverrideOnCall(ctx, "test", "primary", "carol", time.Time{}, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.SharedSecret(ctx, "audit_checkpoint_key", func() ([]byte, error) { return []byte("not a real key"), nil }); err != nil {
		t.Fatal(err)
	}
	for i := range 6 {
		r, err := svc.Submit(ctx, approvals.NewRequest{TemplateKey: "k8s", Requester: fmt.Sprint("user", i), Reason: "import test"})
		if err != nil {
			t.Fatal(err)
		}
		d, err := svc.Get(ctx, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		switch i % 3 {
		case 0:
			out, err := svc.Approve(ctx, approvals.ApproveInput{RequestID: r.ID, Approver: "alice", Digest: d.Digest})
			if err != nil {
				t.Fatal(err)
			}
			if i == 3 {
				if _, err := svc.Revoke(ctx, approvals.RevokeInput{ID: out.Grant.ID, Approver: "bob", Reason: "done"}); err != nil {
					t.Fatal(err)
				}
			}
		case 1:
			if _, err := svc.Deny(ctx, approvals.DenyInput{RequestID: r.ID, Approver: "bob", Digest: d.Digest, Comment: "no"}); err != nil {
				t.Fatal(err)
			}
		}
	}
	rep, err := svc.VerifyAudit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return path, sealer, rep
}

func openSQLiteReadOnly(t *testing.T, path string) *sql.DB {
	t.Helper()
	src, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	return src
}

// An import copies every row as stored: the audit chain verifies on the
// target with the same event count and head hash, every table has the
// source's row count, sealed secrets open with the same master key, and
// the target takes new writes (identity sequences moved past the copied
// ids). A second import into it is refused as not empty.
func TestImportSQLiteCopiesEveryRowAndTheChainVerifiesTheSame(t *testing.T) {
	ctx := context.Background()
	path, sealer, srcRep := sqliteWithHistory(t)
	src := openSQLiteReadOnly(t, path)
	db := openTemp(t)
	if empty, err := IsEmpty(ctx, db); err != nil || !empty {
		t.Fatalf("a migrated, unused database must be empty: %v %v", empty, err)
	}
	rep, err := ImportSQLite(ctx, db, src)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Rows() == 0 {
		t.Fatal("nothing copied")
	}
	want, err := CountSQLiteRows(ctx, db, src)
	if err != nil {
		t.Fatal(err)
	}
	have, err := CountRows(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(want) != fmt.Sprint(have) {
		t.Fatalf("row counts differ:\nsqlite   %v\npostgres %v", want, have)
	}
	for _, tc := range have {
		if tc.Table == "rotation_overrides" && tc.Rows == 0 {
			t.Fatal("the test data must include an override (an identity column)")
		}
	}
	svc := approvals.New(db, approvals.Options{Issuer: "https://jitdesk.test", Sealer: sealer, Clock: db.Clock()})
	pgRep, err := svc.VerifyAudit(ctx)
	if err != nil {
		t.Fatalf("the imported chain must verify: %v", err)
	}
	if pgRep.Events != srcRep.Events || pgRep.HeadHash != srcRep.HeadHash {
		t.Fatalf("chain differs: sqlite %d events head %s, postgres %d head %s", srcRep.Events, srcRep.HeadHash, pgRep.Events, pgRep.HeadHash)
	}
	if _, err := svc.SealSecrets(ctx, "test"); err != nil {
		t.Fatalf("the same master key must open the imported database: %v", err)
	}
	secret, err := svc.SharedSecret(ctx, "audit_checkpoint_key", func() ([]byte, error) { return nil, errors.New("must not be made again") })
	if err != nil || string(secret) != "not a real key" {
		t.Fatalf("shared secret after import: %q %v", secret, err)
	}
	// New writes on the target: an override takes the next identity id, a
	// request and its approval extend the chain.
	if err := svc.OverrideOnCall(ctx, "test", "primary", "dave", time.Time{}, time.Now().Add(time.Hour)); err != nil {
		t.Fatalf("an override after the import: %v", err)
	}
	r, err := svc.Submit(ctx, approvals.NewRequest{TemplateKey: "k8s", Requester: "erin", Reason: "after import"})
	if err != nil {
		t.Fatal(err)
	}
	d, err := svc.Get(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Approve(ctx, approvals.ApproveInput{RequestID: r.ID, Approver: "alice", Digest: d.Digest}); err != nil {
		t.Fatalf("approve after the import (the signing key must unseal): %v", err)
	}
	if rep, err := svc.VerifyAudit(ctx); err != nil || rep.Events <= srcRep.Events {
		t.Fatalf("chain after new writes: %+v %v", rep, err)
	}
	if _, err := ImportSQLite(ctx, db, src); !errors.Is(err, ErrNotEmpty) {
		t.Fatalf("a second import must be refused as not empty, got %v", err)
	}
}

// A target where `jitdesk init` ran (one signing key, a few audit events)
// is not empty: the import refuses it and writes nothing.
func TestImportSQLiteRefusesAnInitialisedTargetAndWritesNothing(t *testing.T) {
	ctx := context.Background()
	path, _, _ := sqliteWithHistory(t)
	src := openSQLiteReadOnly(t, path)
	db := openTemp(t)
	svc := approvals.New(db, approvals.Options{Issuer: "https://jitdesk.test", Clock: db.Clock()})
	if _, err := svc.Init(ctx, "test"); err != nil {
		t.Fatal(err)
	}
	before, err := CountRows(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ImportSQLite(ctx, db, src); !errors.Is(err, ErrNotEmpty) {
		t.Fatalf("want ErrNotEmpty, got %v", err)
	}
	after, err := CountRows(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(before) != fmt.Sprint(after) {
		t.Fatalf("a refused import changed the target:\nbefore %v\nafter  %v", before, after)
	}
}

// A SQLite database at another schema version is refused before anything
// is copied, saying what to do.
func TestImportSQLiteRefusesAnotherSchemaVersion(t *testing.T) {
	ctx := context.Background()
	path, _, _ := sqliteWithHistory(t)
	rw, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rw.Exec(fmt.Sprintf("PRAGMA user_version = %d", SchemaVersion()-1)); err != nil {
		t.Fatal(err)
	}
	rw.Close()
	db := openTemp(t)
	if _, err := ImportSQLite(ctx, db, openSQLiteReadOnly(t, path)); !errors.Is(err, ErrSchemaMismatch) {
		t.Fatalf("want ErrSchemaMismatch, got %v", err)
	}
	if empty, err := IsEmpty(ctx, db); err != nil || !empty {
		t.Fatalf("a refused import must leave the target empty: %v %v", empty, err)
	}
}
