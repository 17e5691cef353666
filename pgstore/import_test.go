package pgstore

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/jitdesk/jitdesk/approvals"
	"github.com/jitdesk/jitdesk/store"
	"github.com/jitdesk/jitdesk/storetest"
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

// The columns and table of migration 13 come across with their types: a
// key signature's statement bytes (BLOB to BYTEA), a template's
// require_key_signature (0/1 to BOOLEAN), a staged key's activates_at
// (nullable), a review's key signature fields.
func TestImportSQLiteCarriesKeySignaturesAndStagedKeys(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "src.db")
	sdb, err := store.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	storetest.Seed(t, sdb)
	base := storetest.Base()
	ks := approvals.StoredKeySignature{Digest: "d1", RequestID: "R00001", Approver: "bob", Decision: approvals.DecisionApprove,
		Statement: []byte("statement\x00\xff"), Armored: []byte("-----BEGIN SSH SIGNATURE-----\nx\n-----END SSH SIGNATURE-----\n"),
		Fingerprint: "SHA256:fp", PublicKey: "ssh-ed25519 AAAA", Certificate: "cert", SignedAt: base}
	err = sdb.Update(ctx, func(tx approvals.Tx) error {
		if err := tx.InsertRequest(storetest.Req(1, "db", "m", approvals.StatusPending)); err != nil {
			return err
		}
		if err := tx.InsertKeySignature(ks); err != nil {
			return err
		}
		if err := tx.InsertReview(approvals.Review{RequestID: "R00001", Approver: "bob", Decision: approvals.DecisionApprove, At: base,
			KeySignatureDigest: "d1", KeyFingerprint: "SHA256:fp"}); err != nil {
			return err
		}
		if err := tx.InsertTemplate(approvals.Template{Key: "prod", AppID: "app1", Title: "Prod", Type: approvals.TypeApprove, Quorum: 1, RequireKeySignature: true}); err != nil {
			return err
		}
		if err := tx.InsertSigningKey(approvals.SigningKey{Kid: "k1", Alg: "EdDSA", Private: []byte("p"), CreatedAt: base, RetiredAt: base.Add(time.Hour)}); err != nil {
			return err
		}
		return tx.InsertSigningKey(approvals.SigningKey{Kid: "k2", Alg: "EdDSA", Private: []byte("p"), CreatedAt: base, ActivatesAt: base.Add(time.Hour)})
	})
	sdb.Close()
	if err != nil {
		t.Fatal(err)
	}
	db := openTemp(t)
	if _, err := ImportSQLite(ctx, db, openSQLiteReadOnly(t, path)); err != nil {
		t.Fatal(err)
	}
	err = db.View(ctx, func(tx approvals.ReadTx) error {
		got, err := tx.KeySignatures("R00001")
		if err != nil || len(got) != 1 || !bytes.Equal(got[0].Statement, ks.Statement) || !bytes.Equal(got[0].Armored, ks.Armored) ||
			got[0].Certificate != "cert" || !got[0].SignedAt.Equal(base) {
			t.Errorf("imported key signatures: %+v %v", got, err)
		}
		rs, err := tx.Reviews("R00001")
		if err != nil || len(rs) != 1 || rs[0].KeySignatureDigest != "d1" || rs[0].KeyFingerprint != "SHA256:fp" {
			t.Errorf("imported reviews: %+v %v", rs, err)
		}
		for key, want := range map[string]bool{"prod": true, "k8s": false} {
			if tm, err := tx.Template(key); err != nil || tm.RequireKeySignature != want {
				t.Errorf("imported template %s: RequireKeySignature %v (%v), want %v", key, tm.RequireKeySignature, err, want)
			}
		}
		keys, err := tx.SigningKeys()
		if err != nil || len(keys) != 2 {
			return fmt.Errorf("imported keys: %+v %v", keys, err)
		}
		for _, k := range keys {
			if k.Kid == "k1" && (!k.ActivatesAt.IsZero() || !k.RetiredAt.Equal(base.Add(time.Hour))) || k.Kid == "k2" && !k.ActivatesAt.Equal(base.Add(time.Hour)) {
				t.Errorf("imported key: %+v", k)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
