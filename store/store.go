// Package store is jitdesk's SQLite persistence: schema migrations, queries,
// transactions, the change feed and appending to the audit chain. It
// implements approvals.Store; all of the project's SQL lives here.
//
// The database runs in WAL mode with synchronous=FULL (an approval must
// survive power loss), foreign keys on and a busy timeout. Writes go through
// one connection per process in transactions begun IMMEDIATE, so two writers
// never both read and then collide on the lock upgrade (which SQLite reports
// as SQLITE_BUSY at once, without waiting). Reads use a separate pool with
// deferred BEGIN, which in WAL mode sees a consistent snapshot without
// blocking or being blocked by the writer.
//
// Times are stored as INTEGER unix milliseconds UTC and durations as
// milliseconds; the zero time.Time is NULL in nullable columns. The SQL
// sticks to what PostgreSQL also accepts where that costs nothing, because a
// PostgreSQL implementation of approvals.Store is planned.
package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"github.com/fsnotify/fsnotify"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
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
	read  *sql.DB // several connections, query_only, deferred BEGIN
	// feedPool holds the change feed's one connection apart from the read
	// pool, so the feed never takes a connection away from readers.
	feedPool *sql.DB

	feedMu    sync.Mutex
	feedSubs  map[int]chan struct{}
	feedNext  int
	feedStop  chan struct{} // non-nil while the feed goroutine runs
	feedDone  chan struct{}
	feedEvery time.Duration // 0: FeedInterval; set by tests only
	closed    bool

	// writeStmts and readStmts hold prepared statements of each pool
	// (see stmtCache): a transaction runs them through Tx.StmtContext
	// instead of parsing the SQL again.
	writeStmts, readStmts *stmtCache
	// writeCount counts statements run in write transactions (tests bound
	// what one decision costs with it).
	writeCount atomic.Uint64
	// cfg caches configuration across transactions (configcache.go).
	cfg *configCache
	// migrationBackup is the copy Open took before migrating ("" if none).
	migrationBackup string
}

var _ approvals.Store = (*DB)(nil)

// FeedInterval is how often the change feed polls PRAGMA data_version
// (10 Hz: a poll costs about 10 µs, and a person does not notice 100 ms).
const FeedInterval = 100 * time.Millisecond

// feedInterval is FeedInterval unless a test stretched it (to prove that
// the file watch alone wakes subscribers).
func (db *DB) feedInterval() time.Duration {
	if db.feedEvery > 0 {
		return db.feedEvery
	}
	return FeedInterval
}

// readPoolSize bounds concurrent read transactions per process. WAL readers
// do not block each other, but each connection holds its own page cache.
const readPoolSize = 4

// connPragmas run on every connection the driver opens (they are
// per-connection settings, except journal_mode, which is persistent and a
// no-op once the file is in WAL mode). The driver always runs busy_timeout
// first, so the others wait for locks instead of failing.
const connPragmas = "_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)"

// dsn is the modernc.org/sqlite data source name for path with the common
// pragmas and extra query parameters (already URI-encoded).
//
// The "file:" prefix makes SQLite parse the name as a URI, so the path's own
// '%', '?' and '#' are escaped; the driver reads its parameters (_pragma,
// _txlock) from the query and SQLite ignores the ones it does not know.
func dsn(path string, extra ...string) string {
	return "file:" + uriPath(path) + "?" + strings.Join(append([]string{connPragmas}, extra...), "&")
}

func uriPath(path string) string {
	return strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(path)
}

// writeDSN begins every transaction IMMEDIATE: the write lock is taken at
// BEGIN, where busy_timeout applies, rather than at the first write of a
// read-then-write transaction, where SQLite must fail with SQLITE_BUSY to
// avoid a deadlock. secure_delete zeroes what is deleted or overwritten
// (a plaintext secret replaced by its sealed form leaves no copy in free
// pages); journal_size_limit lets the WAL shrink back after a burst
// instead of staying at its high-water mark. temp_store=MEMORY keeps the
// statement journals of multi-row statements with triggers (every intake
// batch writes them) in memory instead of a temporary file written
// through a system call per page.
func writeDSN(path string) string {
	return dsn(path, "_txlock=immediate", "_pragma=secure_delete(1)", "_pragma=journal_size_limit(67108864)", "_pragma=temp_store(2)")
}

// readDSN refuses writes on the read pool, so a write that slipped into a
// View fails loudly instead of bypassing the single writer.
func readDSN(path string) string { return dsn(path, "_pragma=query_only(1)") }

// Open creates or opens the database at path: the parent folder (0700) and
// the file (0600) are created when missing, pending migrations are applied
// in one transaction — on an existing database after a checked copy of it
// is written to "<path>.pre-<version>-<UTC yyyymmddThhmmss>.bak" (0600; see
// MigrationBackup) — and a database written by a newer jitdesk is refused
// (approvals.ErrSchemaTooNew) without anything being written to it.
func Open(path string) (*DB, error) {
	if path == "" {
		return nil, errors.New("open database: empty path")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o700); err != nil {
		return nil, fmt.Errorf("open database %s: create folder: %w", abs, err)
	}
	// Create the file ourselves so it is private from the first byte;
	// SQLite would create it with 0644 minus umask. SQLite gives the -wal
	// and -shm files the mode of the database file.
	created := false
	if f, err := os.OpenFile(abs, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600); err == nil {
		created = true
		if err := f.Close(); err != nil {
			return nil, fmt.Errorf("open database %s: %w", abs, err)
		}
	} else if !errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("open database %s: %w", abs, err)
	}
	migs, err := migrations()
	if err != nil {
		return nil, err
	}
	// Check the schema version on a connection that sets no persistent
	// pragma (journal_mode would convert the file) before anything may write.
	if err := checkVersion(abs, len(migs)); err != nil {
		return nil, err
	}
	write, err := sql.Open("sqlite", writeDSN(abs))
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", abs, err)
	}
	// One writer per process: the IMMEDIATE lock serialises writers anyway,
	// and queueing them in database/sql is cheaper than in busy_timeout.
	write.SetMaxOpenConns(1)
	read, err := sql.Open("sqlite", readDSN(abs))
	if err != nil {
		write.Close()
		return nil, fmt.Errorf("open database %s: %w", abs, err)
	}
	read.SetMaxOpenConns(readPoolSize)
	feedPool, err := sql.Open("sqlite", readDSN(abs))
	if err != nil {
		write.Close()
		read.Close()
		return nil, fmt.Errorf("open database %s: %w", abs, err)
	}
	feedPool.SetMaxOpenConns(1)
	db := &DB{path: abs, write: write, read: read, feedPool: feedPool, feedSubs: map[int]chan struct{}{}, cfg: newConfigCache()}
	if err := db.migrate(migs); err != nil {
		db.Close()
		return nil, err
	}
	if err := db.prepareHot(); err != nil {
		db.Close()
		return nil, err
	}
	if created {
		for _, suffix := range []string{"-wal", "-shm"} {
			// Best effort: SQLite already copies the database file's mode.
			_ = os.Chmod(abs+suffix, 0o600)
		}
	}
	return db, nil
}

type migration struct {
	version int
	name    string
	sql     string
}

// migrations returns the embedded migrations in version order. Version N
// is the file named NNNN_*.sql; PRAGMA user_version records the last one
// applied. Versions must run 1, 2, 3, … so a missing file cannot be skipped.
func migrations() ([]migration, error) {
	entries, err := fs.ReadDir(migrationFS, "migrations")
	if err != nil {
		return nil, fmt.Errorf("read embedded migrations: %w", err)
	}
	var out []migration
	for _, e := range entries {
		var v int
		if _, err := fmt.Sscanf(e.Name(), "%04d_", &v); err != nil {
			return nil, fmt.Errorf("migration %s: name must start with a 4-digit version", e.Name())
		}
		b, err := migrationFS.ReadFile("migrations/" + e.Name())
		if err != nil {
			return nil, fmt.Errorf("read migration %s: %w", e.Name(), err)
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

// SchemaVersion is the newest schema version this build knows.
func SchemaVersion() int {
	m, _ := migrations()
	return len(m)
}

func tooNew(path string, have, known int) error {
	return fmt.Errorf("open database %s: %w: the file has schema version %d, this build supports up to %d; upgrade jitdesk",
		path, approvals.ErrSchemaTooNew, have, known)
}

func checkVersion(path string, known int) error {
	probe, err := sql.Open("sqlite", "file:"+uriPath(path)+"?_pragma=busy_timeout(10000)&_pragma=query_only(1)")
	if err != nil {
		return fmt.Errorf("open database %s: %w", path, err)
	}
	defer probe.Close()
	var v int
	if err := probe.QueryRow("PRAGMA user_version").Scan(&v); err != nil {
		return fmt.Errorf("open database %s: read schema version (not a SQLite database?): %w", path, err)
	}
	if v > known {
		return tooNew(path, v, known)
	}
	return nil
}

// migrate applies the pending migrations in one IMMEDIATE transaction, so
// two processes opening a new file at once apply them exactly once, and a
// failed migration leaves the file as it was. A database that had a schema
// already is first copied beside itself (see MigrationBackup).
func (db *DB) migrate(migs []migration) error {
	ctx := context.Background()
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("migrate %s: begin: %w", db.path, err)
	}
	defer tx.Rollback()
	var v int
	if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		return fmt.Errorf("migrate %s: read schema version: %w", db.path, err)
	}
	if v > len(migs) { // another process upgraded it since checkVersion
		return tooNew(db.path, v, len(migs))
	}
	if v == len(migs) {
		return nil
	}
	if v > 0 {
		// An existing database is copied before its schema changes, so a
		// migration that goes wrong (or a downgrade) has the file as it
		// was to go back to. The copy is taken while this transaction
		// holds the write lock: it is exactly what is about to be
		// migrated, and a second process opening the file at once waits
		// here, then finds nothing to migrate and takes no copy.
		dst := migrationBackupPath(db.path, len(migs), time.Now())
		if _, err := backupTo(ctx, db.path, dst); err != nil {
			return fmt.Errorf("migrate %s from version %d to %d: %w", db.path, v, len(migs), err)
		}
		db.migrationBackup = dst
	}
	for _, m := range migs[v:] {
		if _, err := tx.ExecContext(ctx, m.sql); err != nil {
			return fmt.Errorf("migrate %s: apply %s: %w", db.path, m.name, err)
		}
		// PRAGMA takes no bound parameters; the version is our own integer.
		if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", m.version)); err != nil {
			return fmt.Errorf("migrate %s: record %s: %w", db.path, m.name, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("migrate %s: commit: %w", db.path, err)
	}
	return nil
}

// Path is the database file's absolute path.
func (db *DB) Path() string { return db.path }

// Close stops the change feed and closes the database. Subscribers' channels
// are left open; they simply receive nothing more.
func (db *DB) Close() error {
	db.feedMu.Lock()
	if db.closed {
		db.feedMu.Unlock()
		return nil
	}
	db.closed = true
	stop, done := db.feedStop, db.feedDone
	db.feedStop = nil
	db.feedMu.Unlock()
	if stop != nil {
		close(stop)
		<-done
	}
	var errs []error
	errs = append(errs, db.writeStmts.close(), db.readStmts.close())
	return errors.Join(append(errs, db.feedPool.Close(), db.read.Close(), db.write.Close())...)
}

// prepareHot makes the statement caches and prepares hotStatements on
// the write connection up front (outside any transaction: the pool has one
// connection, which a transaction holds); the rest fill in as they run.
func (db *DB) prepareHot() error {
	db.writeStmts, db.readStmts = newStmtCache(db.write), newStmtCache(db.read)
	if err := db.writeStmts.warm(hotStatements); err != nil {
		return fmt.Errorf("open database %s: prepare: %w", db.path, err)
	}
	return nil
}

// Update runs fn in one write transaction begun IMMEDIATE. It commits when
// fn returns nil and rolls back otherwise (also when fn panics, before the
// panic continues), returning fn's error unchanged so errors.Is works.
//
// The process has one write connection, so fn must not call Update itself
// (it would wait for its own connection until ctx ends); a View inside fn
// does not see fn's uncommitted writes.
func (db *DB) Update(ctx context.Context, fn func(approvals.Tx) error) error {
	sqlTx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin write transaction on %s: %w", db.path, err)
	}
	done := false
	defer func() {
		if !done { // fn panicked (or called runtime.Goexit)
			_ = sqlTx.Rollback()
		}
	}()
	t := &tx{ctx: ctx, q: sqlTx, cache: db.writeStmts, count: &db.writeCount, cfg: db.cfg}
	err = fn(t)
	done = true
	if err == nil {
		err = t.indexNew()
	}
	if err != nil {
		_ = sqlTx.Rollback()
		return err
	}
	if err := sqlTx.Commit(); err != nil {
		return fmt.Errorf("commit write transaction on %s: %w", db.path, err)
	}
	if t.cfgDirty {
		db.cfg.invalidate()
	}

	// Subscribers in this process hear about the commit at once; the
	// data_version poll is for other processes (and costs up to one
	// interval of latency). A double notice is harmless: they coalesce.
	db.notify()
	return nil
}

// View runs fn in a read transaction: one consistent snapshot, taken at
// the first read, that writers neither block nor disturb.
func (db *DB) View(ctx context.Context, fn func(approvals.ReadTx) error) error {
	sqlTx, err := db.read.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin read transaction on %s: %w", db.path, err)
	}
	err = fn(&tx{ctx: ctx, q: sqlTx, cache: db.readStmts, cfg: db.cfg})
	_ = sqlTx.Rollback()
	return err
}

// IntegrityCheck runs PRAGMA integrity_check and PRAGMA foreign_key_check
// and returns an error naming what failed (the first few problems of each).
func (db *DB) IntegrityCheck(ctx context.Context) error {
	const show = 10
	var problems []string
	rows, err := db.read.QueryContext(ctx, "PRAGMA integrity_check")
	if err != nil {
		return fmt.Errorf("integrity check of %s: %w", db.path, err)
	}
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			rows.Close()
			return fmt.Errorf("integrity check of %s: %w", db.path, err)
		}
		if line != "ok" && len(problems) < show {
			problems = append(problems, "integrity_check: "+line)
		}
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return fmt.Errorf("integrity check of %s: %w", db.path, err)
	}
	rows, err = db.read.QueryContext(ctx, "PRAGMA foreign_key_check")
	if err != nil {
		return fmt.Errorf("foreign key check of %s: %w", db.path, err)
	}
	n := 0
	for rows.Next() {
		var table, parent string
		var rowid sql.NullInt64
		var fkid int
		if err := rows.Scan(&table, &rowid, &parent, &fkid); err != nil {
			rows.Close()
			return fmt.Errorf("foreign key check of %s: %w", db.path, err)
		}
		if n++; n <= show {
			problems = append(problems, fmt.Sprintf("foreign_key_check: row %d of %s refers to a missing %s row", rowid.Int64, table, parent))
		}
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return fmt.Errorf("foreign key check of %s: %w", db.path, err)
	}
	if n > show {
		problems = append(problems, fmt.Sprintf("foreign_key_check: … %d more", n-show))
	}
	if len(problems) > 0 {
		return fmt.Errorf("database %s failed its checks:\n%s", db.path, strings.Join(problems, "\n"))
	}
	return nil
}

// Subscribe returns a channel that receives a value soon after any
// connection of any process commits a write to the database (at once for
// this process's writes, within milliseconds for other processes' where the
// file system reports writes, else within FeedInterval), and a function that ends the subscription. Values coalesce: the
// channel holds at most one, standing for every write since it was last
// read. The cancel function never blocks and does not close the channel.
func (db *DB) Subscribe() (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	db.feedMu.Lock()
	defer db.feedMu.Unlock()
	if db.closed {
		return ch, func() {}
	}
	id := db.feedNext
	db.feedNext++
	db.feedSubs[id] = ch
	if db.feedStop == nil {
		// Take the first reading before returning, so a write that commits
		// right after Subscribe returns is already a change.
		// Watch before the first reading, so no commit falls between them.
		w := db.watchFiles()
		f := &feed{pool: db.feedPool, last: -1}
		f.poll(context.Background())
		db.feedStop, db.feedDone = make(chan struct{}), make(chan struct{})
		go db.runFeed(f, w, db.feedStop, db.feedDone)
	}
	var once sync.Once
	return ch, func() {
		once.Do(func() {
			db.feedMu.Lock()
			delete(db.feedSubs, id)
			db.feedMu.Unlock()
		})
	}
}

// feed polls PRAGMA data_version on one connection of its own: the value
// is only comparable on the same connection, and it changes whenever any
// other connection (of this process or another) commits.
type feed struct {
	pool *sql.DB
	conn *sql.Conn
	last int64 // -1 before the first reading
}

// poll reads data_version and reports whether it changed since the last
// reading. After a connection error the next reading counts as a change,
// since writes may have been missed in between.
func (f *feed) poll(ctx context.Context) bool {
	if f.conn == nil {
		c, err := f.pool.Conn(ctx)
		if err != nil {
			return false
		}
		f.conn = c
	}
	var v int64
	if err := f.conn.QueryRowContext(ctx, "PRAGMA data_version").Scan(&v); err != nil {
		_ = f.conn.Close()
		f.conn = nil
		if f.last >= 0 {
			f.last = -2 // unknown: report a change on the next good reading
		}
		return false
	}
	changed := (f.last >= 0 && v != f.last) || f.last == -2
	f.last = v
	return changed
}

// Polling after a write event: the event comes from the WAL write, which
// precedes the fsync and the wal-index update that make the commit visible,
// so an unchanged reading is retried after a growing delay for a while.
const (
	watchFirstRetry = time.Millisecond
	watchMaxRetry   = 16 * time.Millisecond
	watchBurst      = 100 * time.Millisecond // retry this long after the last event
	watchMinGap     = 2 * time.Millisecond   // at most 500 readings a second under load
)

// watchFiles watches the database's folder for writes to the database and
// its WAL, so commits by other processes are noticed within milliseconds
// instead of on the next FeedInterval poll. It returns nil when the file
// system cannot be watched; the poll alone then carries the feed.
func (db *DB) watchFiles() *fsnotify.Watcher {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return nil
	}
	if err := w.Add(filepath.Dir(db.path)); err != nil {
		_ = w.Close()
		return nil
	}
	return w
}

// isDatabaseWrite reports whether ev is a write to the database file or
// its WAL (the folder may hold other files: host keys, checkpoints).
func (db *DB) isDatabaseWrite(ev fsnotify.Event) bool {
	if !ev.Has(fsnotify.Write) && !ev.Has(fsnotify.Create) {
		return false
	}
	return ev.Name == db.path || ev.Name == db.path+"-wal"
}

func (db *DB) runFeed(f *feed, w *fsnotify.Watcher, stop, done chan struct{}) {
	defer close(done)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	defer func() {
		if f.conn != nil {
			_ = f.conn.Close()
		}
	}()
	var events <-chan fsnotify.Event
	var watchErrs <-chan error
	if w != nil {
		defer w.Close()
		events, watchErrs = w.Events, w.Errors
	}
	t := time.NewTicker(db.feedInterval())
	defer t.Stop()
	retry := time.NewTimer(time.Hour)
	retry.Stop()
	var (
		armed    bool
		delay    time.Duration
		burstEnd time.Time
		lastPoll time.Time
	)
	arm := func(d time.Duration) {
		if !armed {
			retry.Reset(d)
			armed = true
		}
	}
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			if f.poll(ctx) {
				db.notify()
			}
			lastPoll = time.Now()
			continue
		case ev, ok := <-events:
			if !ok {
				events, watchErrs = nil, nil
				continue
			}
			if !db.isDatabaseWrite(ev) {
				continue
			}
			burstEnd = time.Now().Add(watchBurst)
			delay = watchFirstRetry
			arm(max(0, watchMinGap-time.Since(lastPoll)))
			continue
		case _, ok := <-watchErrs:
			if !ok {
				events, watchErrs = nil, nil
			}
			// An overflow drops events; the poll still catches the change.
			continue
		case <-retry.C:
			armed = false
		}
		changed := f.poll(ctx)
		lastPoll = time.Now()
		if changed {
			// Keep looking for the burst: a later commit's event may
			// have come before this reading while a retry was armed.
			db.notify()
			delay = watchFirstRetry
		}
		if time.Now().Before(burstEnd) {
			arm(max(delay, watchMinGap))
			delay = min(2*delay, watchMaxRetry)
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

// sqliteCode is the extended result code of a SQLite error, or 0.
func sqliteCode(err error) int {
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code()
	}
	return 0
}

// IsBusy reports whether err is SQLITE_BUSY or SQLITE_LOCKED, which the
// IMMEDIATE write transactions and busy_timeout are there to prevent.
func IsBusy(err error) bool {
	c := sqliteCode(err) & 0xff
	return c == sqlite3.SQLITE_BUSY || c == sqlite3.SQLITE_LOCKED
}

// isConstraint reports whether err is any SQLite constraint violation.
// dbErr, which tells the kinds apart, is usually what a caller wants.
func isConstraint(err error) bool {
	return sqliteCode(err)&0xff == sqlite3.SQLITE_CONSTRAINT
}

// dbErr maps a failed write to the sentinel a caller branches on: a
// UNIQUE or PRIMARY KEY violation becomes dup (ErrConflict, ErrReplay, …), a
// foreign key violation ErrNotFound, a CHECK or NOT NULL violation
// ErrInvalid. what says which write failed; it starts the message.
func dbErr(what string, err error, dup error) error {
	if err == nil {
		return nil
	}
	switch sqliteCode(err) {
	case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
		return fmt.Errorf("%s: %w", what, dup)
	case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
		return fmt.Errorf("%s: it refers to something that does not exist: %w", what, approvals.ErrNotFound)
	case sqlite3.SQLITE_CONSTRAINT_CHECK, sqlite3.SQLITE_CONSTRAINT_NOTNULL:
		return fmt.Errorf("%s: %w: %v", what, approvals.ErrInvalid, err)
	}
	return fmt.Errorf("%s: %w", what, err)
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

func msDur(v int64) time.Duration { return time.Duration(v) * time.Millisecond }
