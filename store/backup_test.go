package store

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/jitdesk/jitdesk/approvals"
)

// withUmask runs fn with the process umask set to mask. Tests of this
// package do not run in parallel, so nothing else creates files meanwhile.
func withUmask(mask int, fn func()) {
	old := syscall.Umask(mask)
	defer syscall.Umask(old)
	fn()
}

func TestBackupIsPrivateWhateverTheUmask(t *testing.T) {
	db := openTemp(t)
	seedBasics(t, db)
	// 0: nothing taken off (would 0666 leak?); 0o277: even the owner's
	// write bit taken off (would SQLite be left unable to fill the file?).
	for _, mask := range []int{0, 0o277} {
		path := filepath.Join(t.TempDir(), fmt.Sprintf("copy-%o.db", mask))
		var rep BackupReport
		var err error
		withUmask(mask, func() { rep, err = db.Backup(context.Background(), path) })
		if err != nil {
			t.Fatalf("umask %o: %v", mask, err)
		}
		fi, err := os.Stat(path)
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("umask %o: backup mode %v (%v), want 0600", mask, fi.Mode().Perm(), err)
		}
		if rep.Path != path || rep.Bytes != fi.Size() || rep.Bytes == 0 || rep.SchemaVersion != SchemaVersion() {
			t.Errorf("umask %o: report %+v; file %d bytes, schema %d", mask, rep, fi.Size(), SchemaVersion())
		}
		// One file: VACUUM INTO writes no WAL, and no journal is left.
		for _, suffix := range []string{"-wal", "-shm", "-journal"} {
			if _, err := os.Stat(path + suffix); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("umask %o: %s%s left beside the backup (%v)", mask, filepath.Base(path), suffix, err)
			}
		}
	}
}

func TestBackupRefusesAnExistingPathAndLeavesItAlone(t *testing.T) {
	db := openTemp(t)
	dir := t.TempDir()
	for name, content := range map[string][]byte{"full": []byte("someone's data"), "empty": nil} {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, content, 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := db.Backup(context.Background(), path)
		if !errors.Is(err, ErrBackupExists) {
			t.Errorf("%s file: %v, want ErrBackupExists", name, err)
		}
		got, rerr := os.ReadFile(path)
		if rerr != nil || !bytes.Equal(got, content) {
			t.Errorf("%s file after the refused backup: %q %v", name, got, rerr)
		}
	}
}

func TestAFailedBackupLeavesNoFile(t *testing.T) {
	db := openTemp(t)
	seedBasics(t, db)
	path := filepath.Join(t.TempDir(), "copy.db")
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := db.Backup(cancelled, path); !errors.Is(err, context.Canceled) {
		t.Fatalf("backup with a cancelled context: %v", err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the failed backup left %s (%v)", path, err)
	}
	if _, err := db.Backup(context.Background(), filepath.Join(t.TempDir(), "missing", "copy.db")); err == nil {
		t.Fatal("a backup into a folder that does not exist succeeded")
	}
}

// TestBackupIsAConsistentCopyTakenWhileAWriterKeepsInserting: requests
// keep arriving (each with its audit event, in one transaction) while the
// backup runs; the copy verifies — chain and replay of the tables against
// the log — so it is one transaction-consistent snapshot, and it opens
// read-only without changing.
func TestBackupIsAConsistentCopyTakenWhileAWriterKeepsInserting(t *testing.T) {
	db := openTemp(t)
	ctx := context.Background()
	svc := approvals.New(db, approvals.Options{})
	if _, err := svc.Init(ctx, "test"); err != nil {
		t.Fatal(err)
	}
	app, err := svc.CreateApplication(ctx, "test", "payments", "aud")
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.AddApprover(ctx, "test", approvals.Approver{Login: "alice", Name: "Alice"}); err != nil {
		t.Fatal(err)
	}
	if err := svc.AddTemplate(ctx, "test", approvals.Template{Key: "k8s", AppID: app.ID, Title: "K8s", Type: approvals.TypeApprove, Approvers: []string{"alice"}}); err != nil {
		t.Fatal(err)
	}
	const warmUp, most = 20, 5000
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		written int
		werr    error
	)
	started, stop := make(chan struct{}), make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range most {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := svc.Submit(ctx, approvals.NewRequest{TemplateKey: "k8s", Requester: "mallory", Reason: fmt.Sprint("during backup ", i)}); err != nil {
				mu.Lock()
				werr = err
				mu.Unlock()
				close(started)
				return
			}
			mu.Lock()
			written++
			mu.Unlock()
			if i == warmUp-1 {
				close(started)
			}
		}
	}()
	<-started
	mu.Lock()
	before := written
	mu.Unlock()
	rep, err := db.Backup(ctx, filepath.Join(t.TempDir(), "copy.db"))
	mu.Lock()
	during := written - before
	mu.Unlock()
	close(stop)
	wg.Wait()
	if werr != nil {
		t.Fatalf("the writer failed: %v", werr)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d requests before the backup, %d committed while it ran, %d in all", before, during, written)

	snap, _ := os.ReadFile(rep.Path)
	cp, err := OpenReadOnly(rep.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer cp.Close()
	audit, err := approvals.New(cp, approvals.Options{}).VerifyAudit(ctx)
	if err != nil {
		t.Fatalf("the copy does not verify: %v", err)
	}
	var inCopy int
	if err := cp.View(ctx, func(tx approvals.ReadTx) error {
		var err error
		inCopy, err = tx.CountRequests(approvals.RequestQuery{Scope: approvals.ScopeAll})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if inCopy < before || inCopy > written {
		t.Errorf("the copy holds %d requests; %d were committed before the backup began and %d by the end", inCopy, before, written)
	}
	t.Logf("copy: %d requests, %d audit events", inCopy, audit.Events)
	if err := cp.Update(ctx, func(tx approvals.Tx) error {
		return tx.InsertApprover(approvals.Approver{Login: "sneaky", Name: "S"})
	}); err == nil {
		t.Error("a write through OpenReadOnly succeeded")
	}
	cp.Close()
	if after, _ := os.ReadFile(rep.Path); !bytes.Equal(snap, after) {
		t.Error("opening the copy read-only changed it")
	}
}

// openAtVersion makes a database at path with only the first n migrations
// applied (as an older jitdesk left it), in WAL mode as Open makes them.
func openAtVersion(t *testing.T, path string, n int) *sql.DB {
	t.Helper()
	migs, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := sql.Open("sqlite", dsn(path))
	if err != nil {
		t.Fatal(err)
	}
	raw.SetMaxOpenConns(1)
	for _, m := range migs[:n] {
		if _, err := raw.Exec(m.sql); err != nil {
			t.Fatalf("apply %s: %v", m.name, err)
		}
		if _, err := raw.Exec(fmt.Sprintf("PRAGMA user_version = %d", m.version)); err != nil {
			t.Fatal(err)
		}
	}
	return raw
}

func TestOpenBacksUpAnExistingDatabaseBeforeMigratingIt(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j.db")
	raw := openAtVersion(t, path, 12)
	for _, stmt := range []string{
		`INSERT INTO applications (id, name, audience, secret, created_at) VALUES ('app1', 'payments', 'aud', x'00', 0)`,
		`INSERT INTO approvers (login, name, created_at) VALUES ('bob', 'Bob', 0)`,
		`INSERT INTO templates (key, app_id, name, title, type, quorum, default_ttl_ms, max_ttl_ms, pending_timeout_ms, created_at)
			VALUES ('db', 'app1', 'DB', 'DB', 'approve', 1, 3600000, 3600000, 3600000, 0)`,
		`INSERT INTO requests (id, template_key, app_id, requester, reason, ttl_ms, created_at, expires_at, status) VALUES ('R1', 'db', 'app1', 'm', 'r', 3600000, 0, 1, 'pending')`,
		`INSERT INTO reviews (request_id, approver, decision, signature_digest, at) VALUES ('R1', 'bob', 'approve', 'd1', 0)`,
		`INSERT INTO signing_keys (kid, alg, private, created_at) VALUES ('k1', 'EdDSA', x'01', 0)`,
	} {
		if _, err := raw.Exec(stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	raw.Close()

	var db *DB
	var err error
	withUmask(0, func() { db, err = Open(path) })
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	bak := db.MigrationBackup()
	if !regexp.MustCompile(`^` + regexp.QuoteMeta(db.Path()) + fmt.Sprintf(`\.pre-%d-\d{8}T\d{6}\.bak$`, SchemaVersion())).MatchString(bak) {
		t.Fatalf("migration backup %q, want %s.pre-%d-<UTC yyyymmddThhmmss>.bak", bak, db.Path(), SchemaVersion())
	}
	fi, err := os.Stat(bak)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("migration backup mode %v (%v), want 0600", fi.Mode().Perm(), err)
	}
	// The copy is the database as it was: version 12, its rows, none of
	// the columns migration 13 adds.
	c, err := sql.Open("sqlite", "file:"+uriPath(bak)+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var v, reviews, newCols int
	if err := c.QueryRow(`PRAGMA user_version`).Scan(&v); err != nil || v != 12 {
		t.Errorf("backup user_version %d (%v), want 12", v, err)
	}
	if err := c.QueryRow(`SELECT COUNT(*) FROM reviews WHERE signature_digest = 'd1'`).Scan(&reviews); err != nil || reviews != 1 {
		t.Errorf("backup reviews: %d %v", reviews, err)
	}
	if err := c.QueryRow(`SELECT COUNT(*) FROM pragma_table_info('reviews') WHERE name = 'key_signature_digest'`).Scan(&newCols); err != nil || newCols != 0 {
		t.Errorf("the backup has migration 13's columns (%d, %v): taken after migrating?", newCols, err)
	}
	if _, err := OpenReadOnly(bak); err == nil || !strings.Contains(err.Error(), "schema version 12") {
		t.Errorf("OpenReadOnly of a version-12 file: %v, want it refused naming the version", err)
	}
	// The database itself is migrated, rows kept, new columns at their defaults.
	if err := db.View(context.Background(), func(tx approvals.ReadTx) error {
		rs, err := tx.Reviews("R1")
		if err != nil || len(rs) != 1 || rs[0].SignatureDigest != "d1" || rs[0].KeySignatureDigest != "" || rs[0].KeyFingerprint != "" {
			t.Errorf("migrated reviews: %+v %v", rs, err)
		}
		tm, err := tx.Template("db")
		if err != nil || tm.RequireKeySignature {
			t.Errorf("migrated template: %+v %v", tm, err)
		}
		ks, err := tx.SigningKeys()
		if err != nil || len(ks) != 1 || !ks[0].ActivatesAt.IsZero() {
			t.Errorf("migrated keys: %+v %v", ks, err)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	// Nothing left to migrate: no second copy.
	again, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if b := again.MigrationBackup(); b != "" {
		t.Errorf("reopening an up-to-date database took a backup: %s", b)
	}
	baks, _ := filepath.Glob(path + ".pre-*.bak")
	if len(baks) != 1 {
		t.Errorf("backups beside the database: %v, want one", baks)
	}
}

func TestANewDatabaseIsNotBackedUp(t *testing.T) {
	db := openTemp(t)
	if b := db.MigrationBackup(); b != "" {
		t.Fatalf("a new database was backed up to %s", b)
	}
	if baks, _ := filepath.Glob(db.Path() + ".pre-*"); len(baks) != 0 {
		t.Fatalf("files beside a new database: %v", baks)
	}
}

// TestWebhookRetentionQueriesReadOnlyTheirPartialIndexes: the queue depth
// counts and the prune are ranges of the partial indexes of migration 13
// (and the chain index), never a scan of delivered history.
func TestWebhookRetentionQueriesReadOnlyTheirPartialIndexes(t *testing.T) {
	db := openTemp(t)
	for name, c := range map[string]struct {
		sql   string
		args  []any
		index []string
	}{
		"queue depth":        {webhookQueueDepthSQL, nil, []string{"webhook_deliveries_chain", "webhook_deliveries_dead"}},
		"prune deliveries":   {pruneDeliveriesSQL, []any{0, 10}, []string{"webhook_deliveries_done"}},
		"prune event bodies": {pruneEventsSQL, []any{"[1,2]"}, []string{"webhook_deliveries_by_seq"}},
	} {
		rows, err := db.write.Query(`EXPLAIN QUERY PLAN `+c.sql, c.args...)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, notused int
			var detail string
			if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		text := strings.Join(plan, "; ")
		t.Logf("%s: %s", name, text)
		for _, ix := range c.index {
			if !strings.Contains(text, ix) {
				t.Errorf("%s: plan does not use %s: %s", name, ix, text)
			}
		}
		for _, p := range plan {
			if strings.HasPrefix(p, "SCAN ") && !strings.Contains(p, "INDEX") && !strings.Contains(p, "json_each") && p != "SCAN CONSTANT ROW" {
				t.Errorf("%s: scans a table: %s", name, text)
			}
			if strings.Contains(p, "webhook_deliveries_by_hook") {
				t.Errorf("%s: walks a hook's whole log: %s", name, text)
			}
		}
	}
}
