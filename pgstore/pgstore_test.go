package pgstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/jitdesk/jitdesk/approvals"
	"github.com/jitdesk/jitdesk/storetest"
)

// envDSN names the environment variable holding the test cluster's DSN
// (scripts/pg-test-cluster.sh start prints it).
const envDSN = "JITDESK_TEST_POSTGRES"

// testDSN returns a DSN of a new, empty database of its own on the test
// cluster, dropped when t ends, so tests run in parallel without seeing
// each other (LISTEN/NOTIFY and advisory locks are per database). It skips
// t when the cluster is not configured.
func testDSN(t testing.TB) string {
	t.Helper()
	dsn := needPostgres(t)
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("connect to %s: %v", envDSN, err)
	}
	defer admin.Close(ctx)
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "jt_" + hex.EncodeToString(b[:])
	// template0: nobody is ever connected to it, so parallel CREATE
	// DATABASE calls do not trip over each other; C collation as a
	// deployment should choose (the schema forces it per column anyway).
	if _, err := admin.Exec(ctx, `CREATE DATABASE `+name+` TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'`); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), dsn)
		if err != nil {
			t.Errorf("drop test database %s: %v", name, err)
			return
		}
		defer c.Close(context.Background())
		if _, err := c.Exec(context.Background(), `DROP DATABASE IF EXISTS `+name+` WITH (FORCE)`); err != nil {
			t.Errorf("drop test database %s: %v", name, err)
		}
	})
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatalf("%s is not a URL: %v", envDSN, err)
	}
	u.Path = "/" + name
	return u.String()
}

func openDSN(t testing.TB, dsn string) *DB {
	t.Helper()
	db, err := Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func openTemp(t testing.TB) *DB {
	t.Helper()
	return openDSN(t, testDSN(t))
}

// needPostgres returns the test cluster's DSN, or skips t saying how to
// run the PostgreSQL tests.
func needPostgres(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv(envDSN)
	if dsn == "" {
		t.Skipf("PostgreSQL tests not run: set %s to a database URL (scripts/pg-test-cluster.sh start prints one)", envDSN)
	}
	return dsn
}

// rawExec runs one statement on its own connection, outside the store.
func rawExec(t testing.TB, dsn, stmt string) error {
	t.Helper()
	c, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	_, err = c.Exec(context.Background(), stmt)
	return err
}

func TestConformance(t *testing.T) {
	needPostgres(t)
	var dsnsMu sync.Mutex
	dsns := map[approvals.Store]string{}
	storetest.Run(t,
		func(t *testing.T) approvals.Store {
			dsn := testDSN(t)
			db := openDSN(t, dsn)
			dsnsMu.Lock()
			dsns[db] = dsn
			dsnsMu.Unlock()
			return db
		},
		storetest.WithReopen(func(t *testing.T, s approvals.Store) approvals.Store {
			dsnsMu.Lock()
			dsn := dsns[s]
			dsnsMu.Unlock()
			return openDSN(t, dsn)
		}),
		storetest.WithExec(func(t *testing.T, s approvals.Store, stmt string) error {
			dsnsMu.Lock()
			dsn := dsns[s]
			dsnsMu.Unlock()
			return rawExec(t, dsn, stmt)
		}))
}

func TestWithoutPostgresTheTestsSkipNamingTheVariable(t *testing.T) {
	if os.Getenv(envDSN) != "" {
		t.Skip("a cluster is configured; this test covers the case without one")
	}
	ran := t.Run("probe", func(t *testing.T) { testDSN(t) })
	if !ran {
		t.Fatal("the probe failed instead of skipping")
	}
}

func TestTruncateOfHistoryIsRefused(t *testing.T) {
	dsn := testDSN(t)
	db := openDSN(t, dsn)
	storetest.Seed(t, db)
	if err := db.Update(context.Background(), func(tx approvals.Tx) error {
		_, err := tx.AppendAudit(approvals.AuditEvent{At: storetest.Base(), Actor: "a", Action: "x"})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	for _, table := range []string{"audit_events", "signatures", "requests", "reviews", "grants", "template_versions", "key_signatures"} {
		err := rawExec(t, dsn, "TRUNCATE "+table+" CASCADE")
		if err == nil || !(strings.Contains(err.Error(), "append-only") || strings.Contains(err.Error(), "kept forever")) {
			t.Errorf("TRUNCATE %s: got %v, want it refused", table, err)
		}
	}
	// TRUNCATE … CASCADE of a parent reaches the history tables too.
	if err := rawExec(t, dsn, "TRUNCATE applications CASCADE"); err == nil {
		t.Error("TRUNCATE applications CASCADE emptied history")
	}
}

func TestReopenIsIdempotentAndANewerSchemaIsRefusedUntouched(t *testing.T) {
	dsn := testDSN(t)
	for i := range 3 {
		db, err := Open(context.Background(), dsn)
		if err != nil {
			t.Fatalf("open #%d: %v", i, err)
		}
		db.Close()
	}
	newer := SchemaVersion() + 1
	if err := rawExec(t, dsn, fmt.Sprintf("UPDATE %s SET version = %d", schemaTable, newer)); err != nil {
		t.Fatal(err)
	}
	tables := func() string {
		c, err := pgx.Connect(context.Background(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close(context.Background())
		var s string
		if err := c.QueryRow(context.Background(), `SELECT string_agg(table_name, ',' ORDER BY table_name) FROM information_schema.tables WHERE table_schema = 'public'`).Scan(&s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	before := tables()
	_, err := Open(context.Background(), dsn)
	if !errors.Is(err, approvals.ErrSchemaTooNew) {
		t.Fatalf("got %v, want ErrSchemaTooNew", err)
	}
	for _, want := range []string{fmt.Sprintf("version %d", newer), fmt.Sprintf("up to %d", SchemaVersion())} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if after := tables(); after != before {
		t.Fatalf("the newer database was modified: %s → %s", before, after)
	}
}

// The schema has every table and column of the SQLite store's migrations
// at the same version number.
func TestSchemaVersionMatchesTheSQLiteStoresMigrations(t *testing.T) {
	entries, err := os.ReadDir("../store/migrations")
	if err != nil {
		t.Skipf("SQLite migrations not found next to this package: %v", err)
	}
	if len(entries) != SchemaVersion() {
		t.Fatalf("store has %d migrations, pgstore %d: translate the new ones into pgstore/migrations", len(entries), SchemaVersion())
	}
}

func TestAFailedStatementAbortsTheTransactionAndUpdateSaysSo(t *testing.T) {
	db := openTemp(t)
	storetest.Seed(t, db)
	err := db.Update(context.Background(), func(tx approvals.Tx) error {
		// A missing reference aborts the PostgreSQL transaction; the
		// caller ignores the error and carries on.
		_ = tx.InsertRequest(storetest.Req(1, "nope", "m", approvals.StatusPending))
		_ = tx.InsertRequest(storetest.Req(2, "k8s", "m", approvals.StatusPending))
		return nil
	})
	if err == nil || !strings.Contains(err.Error(), "aborted") {
		t.Fatalf("Update committed after a failed statement: %v", err)
	}
	if err := db.View(context.Background(), func(tx approvals.ReadTx) error {
		if _, err := tx.Request("R00002"); !errors.Is(err, approvals.ErrNotFound) {
			t.Errorf("a write after the failed statement was kept: %v", err)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// The database clock is the server's, not this process's: the measured
// offset brings a reading within a round trip of the server's own.
func TestClockReadsTheDatabaseServersTime(t *testing.T) {
	db := openTemp(t)
	ctx := context.Background()
	before, err := db.DatabaseNow(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := db.Clock().Now()
	after, err := db.DatabaseNow(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Allow the offset's own uncertainty (half a round trip) on each side.
	slack := after.Sub(before)
	if got.Before(before.Add(-slack)) || got.After(after.Add(slack)) || got.Location() != time.UTC {
		t.Fatalf("clock read %s, the server said %s … %s", got, before, after)
	}
}

// Cutting the LISTEN connection (as a failover or a proxy restart would)
// wakes subscribers once it is back: notifications may have been missed.
func TestAReconnectOfTheListenerCountsAsAChange(t *testing.T) {
	dsn := testDSN(t)
	db := openDSN(t, dsn)
	ch, stop := db.Subscribe()
	defer stop()
	pid := db.ListenerPID()
	if pid == 0 {
		t.Fatal("no listener after Subscribe")
	}
	select { // nothing was written
	case <-ch:
		t.Fatal("a value before anything happened")
	default:
	}
	if err := rawExec(t, dsn, fmt.Sprintf("SELECT pg_terminate_backend(%d)", pid)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ch:
	case <-time.After(30 * time.Second):
		t.Fatal("no value after the listener was cut and came back")
	}
	if np := db.ListenerPID(); np == pid || np == 0 {
		t.Fatalf("listener pid %d after reconnect (was %d)", np, pid)
	}
	// And it listens again: another node's write wakes the subscriber.
	other := openDSN(t, dsn)
	if err := other.Update(context.Background(), func(tx approvals.Tx) error {
		_, err := tx.AppendAudit(approvals.AuditEvent{At: storetest.Base(), Actor: "a", Action: "x"})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ch:
	case <-time.After(30 * time.Second):
		t.Fatal("the reconnected listener missed another node's write")
	}
}
