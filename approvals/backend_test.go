package approvals_test

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"testing"

	_ "modernc.org/sqlite"

	"github.com/jitdesk/jitdesk/approvals"
	"github.com/jitdesk/jitdesk/pgstore"
	"github.com/jitdesk/jitdesk/pgstore/pgtest"
	"github.com/jitdesk/jitdesk/store"
)

// envStore selects the store the tests run on: "postgres" runs them on
// pgstore (a fresh database per test on $JITDESK_TEST_POSTGRES, see
// pgtest), anything else on a fresh SQLite file.
const envStore = "JITDESK_TEST_STORE"

// testStore is what the tests need of either store.
type testStore interface {
	approvals.Store
	BulkInsertRequests(ctx context.Context, reqs []approvals.Request, audit []approvals.AuditEvent) error
}

// backend is where one test's database lives: a SQLite file or a
// PostgreSQL database, created empty for that test.
type backend struct {
	postgres bool
	path     string // SQLite file
	dsn      string // PostgreSQL database
}

// newBackend makes an empty database location for t on the store
// $JITDESK_TEST_STORE selects.
func newBackend(t testing.TB) *backend {
	t.Helper()
	switch s := os.Getenv(envStore); s {
	case "postgres":
		return &backend{postgres: true, dsn: pgtest.DSN(t)}
	case "", "sqlite":
		return &backend{path: filepath.Join(t.TempDir(), "jitdesk.db")}
	default:
		t.Fatalf("%s=%q: want postgres or sqlite", envStore, s)
		return nil
	}
}

// name says which store, for messages and the crash worker.
func (b *backend) name() string {
	if b.postgres {
		return "postgres"
	}
	return "sqlite"
}

// location is what a crash worker process needs to open the database.
func (b *backend) location() string {
	if b.postgres {
		return b.dsn
	}
	return b.path
}

// open opens the database, closed when t ends (closing it earlier is fine).
func (b *backend) open(t testing.TB) testStore {
	t.Helper()
	db, err := openStore(b.name(), b.location())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// openStore opens the named store at location (a file or a DSN).
func openStore(kind, location string) (testStore, error) {
	if kind == "postgres" {
		return pgstore.Open(context.Background(), location)
	}
	return store.Open(location)
}

// Append-only guards of each store, by table. An attacker with the
// database in hand removes them before editing history.
var (
	sqliteGuards = []string{
		"audit_events_no_update", "audit_events_no_delete", "signatures_no_update", "signatures_no_delete",
		"requests_no_delete", "reviews_no_delete", "grants_no_delete",
	}
	postgresGuards = map[string][]string{
		"audit_events": {"audit_events_no_update"},
		"signatures":   {"signatures_no_update"},
		"requests":     {"requests_no_delete"},
		"reviews":      {"reviews_no_delete"},
		"grants":       {"grants_no_delete"},
	}
)

// tamper edits the tables behind the domain's back, as someone holding the
// database (file or credentials) could, with the append-only triggers out
// of the way: dropped on SQLite, disabled on PostgreSQL (only the guards,
// so the pending-count triggers still run as they would for the attacker).
// stmts must be SQL both stores accept.
func tamper(t *testing.T, f *fixture, stmts ...string) {
	t.Helper()
	if f.be.postgres {
		pg := f.db.(*pgstore.DB)
		for table, triggers := range postgresGuards {
			for _, trg := range triggers {
				pgtest.Exec(t, pg, "ALTER TABLE "+table+" DISABLE TRIGGER "+trg)
			}
		}
		for _, s := range stmts {
			pgtest.Exec(t, pg, s)
		}
		return
	}
	raw, err := sql.Open("sqlite", "file:"+f.be.path+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	var all []string
	for _, g := range sqliteGuards {
		all = append(all, "DROP TRIGGER IF EXISTS "+g)
	}
	for _, s := range append(all, stmts...) {
		if _, err := raw.Exec(s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

// rawColumn reads one stored value straight from the database, outside
// the store, as someone with a copy of the file (or the database
// credentials) would.
func rawColumn(t *testing.T, be *backend, db testStore, query string) []byte {
	t.Helper()
	var b []byte
	if be.postgres {
		pgtest.QueryRow(t, db.(*pgstore.DB), query, &b)
		return b
	}
	raw, err := sql.Open("sqlite", "file:"+be.path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if err := raw.QueryRow(query).Scan(&b); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return b
}

// integrityCheck runs the store's own consistency check where it has one:
// SQLite's page-level check. PostgreSQL has no counterpart a client can run
// (its WAL replay is the server's business), so there it checks nothing.
func integrityCheck(t *testing.T, db testStore) {
	t.Helper()
	if s, ok := db.(*store.DB); ok {
		if err := s.IntegrityCheck(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
}
