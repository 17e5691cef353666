// Package store is jitdesk's SQLite persistence: schema migrations, queries,
// transactions, the change feed and appending to the audit chain. It
// implements approvals.Store; all of the project's SQL lives here.
//
// The database runs in WAL mode with synchronous=FULL (an approval must
// survive power loss), foreign keys on and a busy timeout. Writes go through
// one connection per process in transactions begun IMMEDIATE, so two writers
// never both read and then collide on upgrade; reads use a separate pool
// that sees consistent snapshots without blocking writers.
package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/jitdesk/jitdesk/approvals"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// DB is an open jitdesk database. It implements approvals.Store.
type DB struct {
	path  string
	write *sql.DB // one connection, BEGIN IMMEDIATE
	read  *sql.DB // several connections, read-only

	feedMu   sync.Mutex
	feedSubs map[int]chan struct{}
	feedNext int
	feedStop chan struct{}
	feedDone chan struct{}
}

var _ approvals.Store = (*DB)(nil)

// FeedInterval is how often the change feed polls PRAGMA data_version.
const FeedInterval = 100 * time.Millisecond

func dsn(path string, extra ...string) string {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "foreign_keys(1)")
	for _, e := range extra {
		k, v, _ := strings.Cut(e, "=")
		q.Add(k, v)
	}
	return "file:" + path + "?" + q.Encode()
}

// Open creates or opens the database at path: the parent folder (0700) and
// the file (0600) are created when missing, pending migrations are applied,
// and a database written by a newer jitdesk is refused without being touched.
func Open(path string) (*DB, error) {
	if path == "" {
		return nil, errors.New("open database: empty path")
	}
	if strings.ContainsAny(path, "?#") {
		return nil, fmt.Errorf("open database %q: the path may not contain '?' or '#'", path)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o700); err != nil {
		return nil, fmt.Errorf("open database %s: create folder: %w", abs, err)
	}
	if f, err := os.OpenFile(abs, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600); err == nil {
		f.Close()
	} else if !errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("open database %s: %w", abs, err)
	}
	migs, err := migrations()
	if err != nil {
		return nil, err
	}
	// Check the schema version before anything may write to the file.
	if err := checkVersion(abs, len(migs)); err != nil {
		return nil, err
	}
	write, err := sql.Open("sqlite", dsn(abs, "_txlock=immediate", "_pragma=journal_mode(WAL)", "_pragma=synchronous(FULL)"))
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", abs, err)
	}
	write.SetMaxOpenConns(1)
	write.SetConnMaxIdleTime(0)
	read, err := sql.Open("sqlite", dsn(abs, "_pragma=query_only(1)"))
	if err != nil {
		write.Close()
		return nil, fmt.Errorf("open database %s: %w", abs, err)
	}
	read.SetMaxOpenConns(4)
	db := &DB{path: abs, write: write, read: read, feedSubs: map[int]chan struct{}{}}
	if err := db.migrate(migs); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

type migration struct {
	version int
	name    string
	sql     string
}

func migrations() ([]migration, error) {
	entries, err := fs.ReadDir(migrationFS, "migrations")
	if err != nil {
		return nil, err
	}
	var out []migration
	for _, e := range entries {
		var v int
		if _, err := fmt.Sscanf(e.Name(), "%04d_", &v); err != nil {
			return nil, fmt.Errorf("migration %s: name must start with a 4-digit version", e.Name())
		}
		b, err := migrationFS.ReadFile("migrations/" + e.Name())
		if err != nil {
			return nil, err
		}
		out = append(out, migration{version: v, name: e.Name(), sql: string(b)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	for i, m := range out {
		if m.version != i+1 {
			return nil, fmt.Errorf("migration %s: versions must be 1, 2, 3, … without gaps", m.name)
		}
	}
	return out, nil
}

// SchemaVersion is the newest schema this build knows.
func SchemaVersion() int {
	m, _ := migrations()
	return len(m)
}

func checkVersion(path string, known int) error {
	db, err := sql.Open("sqlite", dsn(path, "_pragma=query_only(1)"))
	if err != nil {
		return fmt.Errorf("open database %s: %w", path, err)
	}
	defer db.Close()
	var v int
	if err := db.QueryRow("PRAGMA user_version").Scan(&v); err != nil {
		return fmt.Errorf("open database %s: not a jitdesk database? %w", path, err)
	}
	if v > known {
		return fmt.Errorf("open database %s: %w: the file has schema version %d, this build knows up to %d; upgrade jitdesk", path, approvals.ErrSchemaTooNew, v, known)
	}
	return nil
}

func (db *DB) migrate(migs []migration) error {
	ctx := context.Background()
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer tx.Rollback()
	var v int
	if err := tx.QueryRow("PRAGMA user_version").Scan(&v); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if v > len(migs) {
		return fmt.Errorf("open database %s: %w: schema version %d, this build knows up to %d", db.path, approvals.ErrSchemaTooNew, v, len(migs))
	}
	for _, m := range migs[v:] {
		if _, err := tx.Exec(m.sql); err != nil {
			return fmt.Errorf("migrate %s: %w", m.name, err)
		}
		if _, err := tx.Exec(fmt.Sprintf("PRAGMA user_version = %d", m.version)); err != nil {
			return fmt.Errorf("migrate %s: %w", m.name, err)
		}
	}
	return tx.Commit()
}

// Path is the database file's absolute path.
func (db *DB) Path() string { return db.path }

// Close stops the change feed and closes the database.
func (db *DB) Close() error {
	db.feedMu.Lock()
	stop, done := db.feedStop, db.feedDone
	db.feedStop = nil
	db.feedMu.Unlock()
	if stop != nil {
		close(stop)
		<-done
	}
	return errors.Join(db.read.Close(), db.write.Close())
}

// Update runs fn in one IMMEDIATE write transaction.
func (db *DB) Update(ctx context.Context, fn func(approvals.Tx) error) (err error) {
	sqlTx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin write: %w", err)
	}
	defer func() {
		if p := recover(); p != nil {
			sqlTx.Rollback()
			panic(p)
		}
	}()
	if err := fn(&tx{ctx: ctx, q: sqlTx}); err != nil {
		sqlTx.Rollback()
		return err
	}
	if err := sqlTx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// View runs fn in a read transaction: one consistent snapshot.
func (db *DB) View(ctx context.Context, fn func(approvals.ReadTx) error) error {
	sqlTx, err := db.read.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin read: %w", err)
	}
	defer sqlTx.Rollback()
	return fn(&tx{ctx: ctx, q: sqlTx})
}

// IntegrityCheck runs SQLite's integrity and foreign-key checks.
func (db *DB) IntegrityCheck(ctx context.Context) error {
	var res string
	if err := db.read.QueryRowContext(ctx, "PRAGMA integrity_check").Scan(&res); err != nil {
		return fmt.Errorf("integrity check: %w", err)
	}
	if res != "ok" {
		return fmt.Errorf("integrity check: %s", res)
	}
	rows, err := db.read.QueryContext(ctx, "PRAGMA foreign_key_check")
	if err != nil {
		return fmt.Errorf("foreign key check: %w", err)
	}
	defer rows.Close()
	if rows.Next() {
		var table string
		var rowid sql.NullInt64
		var parent string
		var fkid int
		if err := rows.Scan(&table, &rowid, &parent, &fkid); err != nil {
			return err
		}
		return fmt.Errorf("foreign key check: row %d of %s points at a missing %s", rowid.Int64, table, parent)
	}
	return rows.Err()
}

// Subscribe returns a channel that receives a value soon after any
// connection or process commits a write.
func (db *DB) Subscribe() (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	db.feedMu.Lock()
	id := db.feedNext
	db.feedNext++
	db.feedSubs[id] = ch
	if db.feedStop == nil {
		db.feedStop, db.feedDone = make(chan struct{}), make(chan struct{})
		go db.feed(db.feedStop, db.feedDone)
	}
	db.feedMu.Unlock()
	var once sync.Once
	return ch, func() {
		once.Do(func() {
			db.feedMu.Lock()
			delete(db.feedSubs, id)
			db.feedMu.Unlock()
		})
	}
}

// feed polls PRAGMA data_version on a connection of its own: the value is
// only comparable on one connection, and it changes whenever another
// connection (of this process or any other) commits.
func (db *DB) feed(stop, done chan struct{}) {
	defer close(done)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { <-stop; cancel() }()
	conn, err := db.read.Conn(ctx)
	if err != nil {
		return
	}
	defer conn.Close()
	var last int64 = -1
	t := time.NewTicker(FeedInterval)
	defer t.Stop()
	for {
		var v int64
		if err := conn.QueryRowContext(ctx, "PRAGMA data_version").Scan(&v); err == nil {
			if last >= 0 && v != last {
				db.notify()
			}
			last = v
		}
		select {
		case <-stop:
			return
		case <-t.C:
		}
	}
}

func (db *DB) notify() {
	db.feedMu.Lock()
	defer db.feedMu.Unlock()
	for _, ch := range db.feedSubs {
		select {
		case ch <- struct{}{}:
		default: // a value is already waiting; one stands for many writes
		}
	}
}

// isConstraint reports whether err is a SQLite constraint violation.
func isConstraint(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_CONSTRAINT
}

// IsBusy reports whether err is SQLITE_BUSY or SQLITE_LOCKED (for tests
// that prove they never happen).
func IsBusy(err error) bool {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return false
	}
	c := se.Code() & 0xff
	return c == sqlite3.SQLITE_BUSY || c == sqlite3.SQLITE_LOCKED
}

func ms(t time.Time) int64 { return t.UnixMilli() }

func fromMS(v int64) time.Time { return time.UnixMilli(v).UTC() }

func nullMS(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMilli()
}

func fromNullMS(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return fromMS(v.Int64)
}
