// Package pgstore is jitdesk's PostgreSQL persistence, for deployments that
// run several `jitdesk serve` nodes on one database. It implements
// approvals.Store with the same semantics and errors as the SQLite store
// (package store); the shared conformance suite (package storetest) holds
// both to that.
//
// Concurrency. Every write transaction runs at READ COMMITTED and takes one
// transaction-scoped advisory lock (writeLockKey) as its first statement, so
// writers on every node run one at a time: the domain keeps the one-writer
// reasoning it has on SQLite, and the audit chain stays strictly sequential
// (a sequence and "latest hash" without the lock forks the chain; see
// ../shared/POSTGRES-NOTES.md). READ COMMITTED, not REPEATABLE READ, because a
// repeatable-read snapshot would be taken before the lock is granted and
// miss the previous writer's commit. Reads run at REPEATABLE READ READ ONLY:
// one consistent snapshot, and a write slipped into a View fails.
//
// A failed statement aborts a PostgreSQL transaction (SQLite carries on), so
// the inserts that may meet a duplicate (ids, names, replayed intake jtis,
// second reviews) use INSERT … ON CONFLICT DO NOTHING and check the rows
// affected: a duplicate returns its sentinel and the transaction goes on,
// as on SQLite. A foreign key or CHECK violation (ErrNotFound, ErrInvalid)
// still aborts it: every later statement fails and Update rolls back.
//
// Change feed: each write transaction runs pg_notify before COMMIT
// (PostgreSQL delivers it on commit, coalesced), and one LISTEN connection
// per DB fans notifications out to every subscriber. A reconnect of that
// connection counts as a change, since notifications may have been missed.
// LISTEN needs a session: behind pgbouncer use session pooling.
//
// Times are BIGINT unix milliseconds UTC, as on SQLite. Times that several
// nodes must agree on (leases, expiry) should come from one clock: DB.Clock
// reads the database's.
package pgstore

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/jitdesk/jitdesk/approvals"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// writeLockKey is the advisory lock every write transaction takes first: the
// ASCII of "JITDESK1", unlikely to collide with another application's
// advisory locks on the same database.
const writeLockKey int64 = 0x4a49_5444_4553_4b31 // "JITDESK1"

// notifyChannel is the LISTEN/NOTIFY channel of the change feed.
const notifyChannel = "jitdesk"

// Statements of the transaction frame, sent as simple-protocol queries so
// BEGIN and the lock (and the notify and COMMIT) cost one round trip each.
var (
	beginWrite  = fmt.Sprintf("BEGIN ISOLATION LEVEL READ COMMITTED; SELECT pg_advisory_xact_lock(%d)", writeLockKey)
	commitWrite = fmt.Sprintf("SELECT pg_notify('%s', ''); COMMIT", notifyChannel)
)

const beginRead = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"

// DB is an open jitdesk database on PostgreSQL. It implements approvals.Store.
type DB struct {
	pool *pgxpool.Pool
	// listenCfg opens the change feed's own connection, apart from the pool
	// (a LISTEN session must not be handed to other work).
	listenCfg *pgx.ConnConfig
	name      string // host, port and database, for messages (no password)

	feedMu     sync.Mutex
	feedSubs   map[int]chan struct{}
	feedNext   int
	feedCancel context.CancelFunc // non-nil while the feed goroutine runs
	feedDone   chan struct{}
	feedPID    uint32 // backend pid of the LISTEN connection, 0 when down
	closed     bool

	clock *dbClock
}

var _ approvals.Store = (*DB)(nil)

// poolSize bounds connections per process: writers queue on the advisory
// lock anyway, and readers are short.
const poolSize = 8

// Open connects to the database named by dsn (a postgres:// URL or
// key=value string as libpq takes), applies pending migrations in one
// transaction under the write lock (so several nodes starting at once apply
// them exactly once), and refuses a database written by a newer jitdesk
// (approvals.ErrSchemaTooNew) without writing to it.
func Open(ctx context.Context, dsn string) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// The parse error may quote the DSN, password included.
		return nil, errors.New("open postgres database: the connection string does not parse")
	}
	if cfg.MaxConns < poolSize && !strings.Contains(dsn, "pool_max_conns") {
		cfg.MaxConns = poolSize
	}
	cc := cfg.ConnConfig
	name := fmt.Sprintf("postgres://%s@%s:%d/%s", cc.User, cc.Host, cc.Port, cc.Database)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", name, err)
	}
	db := &DB{pool: pool, listenCfg: cc.Copy(), name: name, feedSubs: map[int]chan struct{}{}}
	db.clock = &dbClock{db: db}
	migs, err := migrations()
	if err != nil {
		pool.Close()
		return nil, err
	}
	if err := db.migrate(ctx, migs); err != nil {
		pool.Close()
		return nil, err
	}
	return db, nil
}

// Name is the database's address without credentials, for messages.
func (db *DB) Name() string { return db.name }

type migration struct {
	version int
	name    string
	sql     string
}

// migrations returns the embedded migrations in version order: version N is
// the file NNNN_*.sql, numbered like store/migrations so both stores agree
// on what a schema version means.
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

// schemaTable records the applied schema version (one row).
const schemaTable = "jitdesk_schema_version"

func (db *DB) tooNew(have, known int) error {
	return fmt.Errorf("open %s: %w: the database has schema version %d, this build supports up to %d; upgrade jitdesk",
		db.name, approvals.ErrSchemaTooNew, have, known)
}

// readVersion returns the recorded schema version (0 for an empty database).
func readVersion(ctx context.Context, q interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}) (int, error) {
	var exists bool
	if err := q.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, schemaTable).Scan(&exists); err != nil {
		return 0, err
	}
	if !exists {
		return 0, nil
	}
	var v int
	err := q.QueryRow(ctx, `SELECT version FROM `+schemaTable).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	return v, err
}

// migrate checks the version without writing, then applies what is pending
// in one write transaction (DDL is transactional in PostgreSQL: a failed
// migration leaves the database as it was).
func (db *DB) migrate(ctx context.Context, migs []migration) error {
	v, err := readVersion(ctx, db.pool)
	if err != nil {
		return fmt.Errorf("open %s: read schema version: %w", db.name, err)
	}
	if v > len(migs) {
		return db.tooNew(v, len(migs))
	}
	if v == len(migs) {
		return nil
	}
	return db.Update(ctx, func(atx approvals.Tx) error {
		t := atx.(*tx)
		v, err := readVersion(ctx, t.conn)
		if err != nil {
			return fmt.Errorf("migrate %s: read schema version: %w", db.name, err)
		}
		if v > len(migs) { // another node upgraded it meanwhile
			return db.tooNew(v, len(migs))
		}
		if v == 0 {
			if _, err := t.conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS `+schemaTable+` (version INTEGER NOT NULL)`); err != nil {
				return fmt.Errorf("migrate %s: create version table: %w", db.name, err)
			}
			if _, err := t.conn.Exec(ctx, `INSERT INTO `+schemaTable+` (version) SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM `+schemaTable+`)`); err != nil {
				return fmt.Errorf("migrate %s: create version table: %w", db.name, err)
			}
		}
		for _, m := range migs[v:] {
			// Simple protocol: a migration is several statements.
			if _, err := t.conn.PgConn().Exec(ctx, m.sql).ReadAll(); err != nil {
				return fmt.Errorf("migrate %s: apply %s: %w", db.name, m.name, err)
			}
			if _, err := t.conn.Exec(ctx, `UPDATE `+schemaTable+` SET version = $1`, m.version); err != nil {
				return fmt.Errorf("migrate %s: record %s: %w", db.name, m.name, err)
			}
		}
		return nil
	})
}

// Close stops the change feed and closes the pool. Subscribers' channels
// are left open; they simply receive nothing more.
func (db *DB) Close() error {
	db.feedMu.Lock()
	if db.closed {
		db.feedMu.Unlock()
		return nil
	}
	db.closed = true
	cancel, done := db.feedCancel, db.feedDone
	db.feedCancel = nil
	db.feedMu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
	db.pool.Close()
	return nil
}

// Update runs fn in one write transaction: READ COMMITTED, the advisory
// write lock taken first, pg_notify last. It commits when fn returns nil and
// rolls back otherwise (also when fn panics, before the panic continues),
// returning fn's error unchanged so errors.Is works. When a statement
// failed inside fn but fn returned nil anyway, PostgreSQL has aborted the
// transaction: Update reports that instead of pretending to commit.
//
// fn must not call Update itself: it would wait for the lock its own
// transaction holds until ctx ends.
func (db *DB) Update(ctx context.Context, fn func(approvals.Tx) error) error {
	c, err := db.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("begin write transaction on %s: %w", db.name, err)
	}
	// A connection released while still in a transaction (a failed
	// ROLLBACK, a panic) is destroyed by the pool, which ends the
	// transaction on the server.
	defer c.Release()
	pc := c.Conn().PgConn()
	if _, err := pc.Exec(ctx, beginWrite).ReadAll(); err != nil {
		return fmt.Errorf("begin write transaction on %s: %w", db.name, err)
	}
	done := false
	defer func() {
		if !done { // fn panicked (or called runtime.Goexit)
			_, _ = pc.Exec(context.Background(), "ROLLBACK").ReadAll()
		}
	}()
	err = fn(&tx{ctx: ctx, conn: c.Conn(), write: true})
	done = true
	if err == nil && pc.TxStatus() == 'E' {
		err = fmt.Errorf("write transaction on %s: a statement failed and PostgreSQL aborted the transaction; nothing was written", db.name)
	}
	if err != nil {
		_, _ = pc.Exec(context.Background(), "ROLLBACK").ReadAll()
		return err
	}
	res, err := pc.Exec(ctx, commitWrite).ReadAll()
	if err != nil {
		return dbErr(fmt.Sprintf("commit write transaction on %s", db.name), err, approvals.ErrConflict)
	}
	if tag := res[len(res)-1].CommandTag; tag.String() != "COMMIT" {
		return fmt.Errorf("commit write transaction on %s: the server answered %s", db.name, tag)
	}
	// Subscribers in this process hear about the commit at once; the LISTEN
	// connection tells them again (coalesced), and tells other nodes.
	db.notify()
	return nil
}

// View runs fn in a REPEATABLE READ READ ONLY transaction: one consistent
// snapshot, taken at its first statement, in which writes are refused.
func (db *DB) View(ctx context.Context, fn func(approvals.ReadTx) error) error {
	c, err := db.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("begin read transaction on %s: %w", db.name, err)
	}
	defer c.Release()
	pc := c.Conn().PgConn()
	if _, err := pc.Exec(ctx, beginRead).ReadAll(); err != nil {
		return fmt.Errorf("begin read transaction on %s: %w", db.name, err)
	}
	defer func() { _, _ = pc.Exec(context.Background(), "ROLLBACK").ReadAll() }()
	return fn(&tx{ctx: ctx, conn: c.Conn()})
}

// --- errors

// pgCode is the SQLSTATE of a server error, or "".
func pgCode(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

// dbErr maps a failed write to the sentinel a caller branches on, as the
// SQLite store does: a unique violation (23505) becomes dup (ErrConflict,
// ErrReplay, …), a foreign key violation (23503) ErrNotFound, a CHECK or NOT
// NULL violation (23514, 23502) ErrInvalid. what starts the message.
func dbErr(what string, err error, dup error) error {
	if err == nil {
		return nil
	}
	switch pgCode(err) {
	case "23505":
		return fmt.Errorf("%s: %w", what, dup)
	case "23503":
		return fmt.Errorf("%s: it refers to something that does not exist: %w", what, approvals.ErrNotFound)
	case "23514", "23502":
		return fmt.Errorf("%s: %w: %v", what, approvals.ErrInvalid, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// --- the database clock

// clockRefresh is how long a measured offset to the database clock is
// trusted before it is measured again (drift between two NTP-synchronised
// clocks over this long is far below the millisecond stored).
const clockRefresh = 10 * time.Second

// dbClock is approvals.Clock reading the database server's clock: the
// offset between it and this node's clock is measured (at the midpoint of a
// round trip) and refreshed every clockRefresh, so every node stamps
// leases, expiry and decisions on one clock without a round trip per read.
type dbClock struct {
	db       *DB
	mu       sync.Mutex
	offset   time.Duration
	measured time.Time // zero before the first good measurement
}

// Now returns the database's time. When the database cannot be reached it
// keeps the last measured offset (this node's clock before any).
func (c *dbClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.measured.IsZero() || time.Since(c.measured) > clockRefresh {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		if off, err := c.db.clockOffset(ctx); err == nil {
			c.offset, c.measured = off, time.Now()
		}
		cancel()
	}
	return time.Now().Add(c.offset).UTC()
}

// Clock returns an approvals.Clock that reads the database server's clock
// (see dbClock): give it to approvals.New on every node, so leases and
// expiry times agree across nodes whatever their own clocks say.
func (db *DB) Clock() approvals.Clock { return db.clock }

// DatabaseNow reads the database server's clock once.
func (db *DB) DatabaseNow(ctx context.Context) (time.Time, error) {
	var us int64
	if err := db.pool.QueryRow(ctx, `SELECT (EXTRACT(EPOCH FROM clock_timestamp()) * 1000000)::bigint`).Scan(&us); err != nil {
		return time.Time{}, fmt.Errorf("read the clock of %s: %w", db.name, err)
	}
	return time.UnixMicro(us).UTC(), nil
}

func (db *DB) clockOffset(ctx context.Context) (time.Duration, error) {
	t0 := time.Now()
	at, err := db.DatabaseNow(ctx)
	if err != nil {
		return 0, err
	}
	rtt := time.Since(t0)
	return at.Sub(t0.Add(rtt / 2)), nil
}

// --- times: BIGINT unix milliseconds UTC, NULL for the zero time in
// nullable columns, exactly as the SQLite store keeps them.

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
