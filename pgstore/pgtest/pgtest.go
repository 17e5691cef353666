// Package pgtest gives other packages' tests a fresh PostgreSQL database of
// their own on the test cluster named by $JITDESK_TEST_POSTGRES
// (scripts/pg-test-cluster.sh start prints it), so one test suite can run
// against both stores.
//
// Each database is created from template0 under a random name and dropped
// when the test ends, so tests run in parallel without seeing each other's
// rows, change feed or advisory lock (all three are per database). The
// creation logic mirrors pgstore's own test helper, which lives in
// pgstore's internal test files and so cannot be imported from here.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/jitdesk/jitdesk/pgstore"
)

// EnvDSN names the environment variable holding the test cluster's DSN.
const EnvDSN = "JITDESK_TEST_POSTGRES"

// ClusterDSN returns the test cluster's DSN, or skips t saying how to run
// the PostgreSQL tests.
func ClusterDSN(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv(EnvDSN)
	if dsn == "" {
		t.Skipf("PostgreSQL tests not run: set %s to a database URL (scripts/pg-test-cluster.sh start prints one)", EnvDSN)
	}
	return dsn
}

// DSN creates a new, empty database on the test cluster, drops it when t
// ends, and returns its DSN (for tests that open it more than once or hand
// it to another process). It skips t when the cluster is not configured.
func DSN(t testing.TB) string {
	t.Helper()
	dsn := ClusterDSN(t)
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("connect to %s: %v", EnvDSN, err)
	}
	defer admin.Close(ctx)
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "jt_" + hex.EncodeToString(b[:])
	// template0: nobody is ever connected to it, so parallel CREATE
	// DATABASE calls do not trip over each other; C collation as a
	// deployment should choose.
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
		// FORCE: a killed writer process may leave a backend behind for a
		// moment.
		if _, err := c.Exec(context.Background(), `DROP DATABASE IF EXISTS `+name+` WITH (FORCE)`); err != nil {
			t.Errorf("drop test database %s: %v", name, err)
		}
	})
	return withDatabase(t, dsn, name)
}

// Open opens pgstore on a new database of its own (see DSN), closed when t
// ends. It skips t when the cluster is not configured.
func Open(t testing.TB) *pgstore.DB {
	t.Helper()
	return OpenDSN(t, DSN(t))
}

// OpenDSN opens pgstore on dsn, closed when t ends.
func OpenDSN(t testing.TB, dsn string) *pgstore.DB {
	t.Helper()
	db, err := pgstore.Open(context.Background(), dsn)
	if err != nil {
		t.Fatalf("open pgstore: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// Exec runs sql (one or more statements, simple protocol) on db's database
// over a connection of its own, outside the store, as someone holding
// database credentials could. It fails t on error.
func Exec(t testing.TB, db *pgstore.DB, sql string) {
	t.Helper()
	c := connect(t, db)
	defer c.Close(context.Background())
	if _, err := c.Exec(context.Background(), sql, pgx.QueryExecModeSimpleProtocol); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// QueryRow runs query on db's database over a connection of its own and
// scans its one row into dest. It fails t on error.
func QueryRow(t testing.TB, db *pgstore.DB, query string, dest ...any) {
	t.Helper()
	c := connect(t, db)
	defer c.Close(context.Background())
	if err := c.QueryRow(context.Background(), query).Scan(dest...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

// connect reaches db's database with the cluster DSN's credentials: db
// names its database but, rightly, not the password.
func connect(t testing.TB, db *pgstore.DB) *pgx.Conn {
	t.Helper()
	u, err := url.Parse(db.Name())
	if err != nil || strings.Trim(u.Path, "/") == "" {
		t.Fatalf("cannot tell the database of %s", db.Name())
	}
	c, err := pgx.Connect(context.Background(), withDatabase(t, ClusterDSN(t), strings.Trim(u.Path, "/")))
	if err != nil {
		t.Fatalf("connect to %s: %v", db.Name(), err)
	}
	return c
}

// withDatabase returns dsn (a URL) pointing at database name instead.
func withDatabase(t testing.TB, dsn, name string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		// The parse error may quote the DSN, password included.
		t.Fatalf("%s is not a URL", EnvDSN)
	}
	u.Path = "/" + name
	return u.String()
}
