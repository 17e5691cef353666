package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/jitdesk/jitdesk/approvals"
	"github.com/jitdesk/jitdesk/demo"
	"github.com/jitdesk/jitdesk/pgstore"
	"github.com/jitdesk/jitdesk/store"
)

// database is what the commands need of a store, whichever engine holds
// it: the persistence the Service runs on, the demo's batch path, and a
// name to show. The choice between engines is made in one place
// (openDatabase); only what is SQLite-only (file paths) looks past this
// interface, through sqlitePath.
type database interface {
	approvals.Store
	demo.BulkLoader
	// Name is the database as messages show it: the SQLite file's path, or
	// the PostgreSQL address without credentials.
	Name() string
}

// sqliteDB is a SQLite database as a database.
type sqliteDB struct{ *store.DB }

// Name is the database file's path.
func (d sqliteDB) Name() string { return d.Path() }

// isPostgres reports whether a --db value names a PostgreSQL database
// rather than a SQLite file.
func isPostgres(name string) bool {
	return strings.HasPrefix(name, "postgres://") || strings.HasPrefix(name, "postgresql://")
}

// sqlitePath is the database file of a SQLite database; ok is false on
// PostgreSQL, where there is no file to put things beside.
func sqlitePath(db database) (path string, ok bool) {
	if s, ok := db.(sqliteDB); ok {
		return s.Path(), true
	}
	return "", false
}

// connectTimeout bounds connecting to PostgreSQL (and applying its
// migrations), so an unreachable server is an error, not a hang.
const connectTimeout = 30 * time.Second

// openPostgres connects to the PostgreSQL database named by dsn.
func openPostgres(dsn string) (*pgstore.DB, error) {
	ctx, cancel := context.WithTimeout(context.Background(), connectTimeout)
	defer cancel()
	return pgstore.Open(ctx, dsn)
}

// openDatabase opens the database --db names: PostgreSQL for a postgres://
// or postgresql:// URL, else the SQLite file (created only with create).
// isNew says the database holds nothing of jitdesk's yet: a SQLite file
// that did not exist, a PostgreSQL database no jitdesk has sealed (init has
// not run on it).
func (g *globals) openDatabase(create bool) (db database, isNew bool, err error) {
	name, err := g.dbPath()
	if err != nil {
		return nil, false, err
	}
	if isPostgres(name) {
		pg, err := openPostgres(name)
		if err != nil {
			return nil, false, err
		}
		id, err := storedKeyID(context.Background(), pg)
		if err != nil {
			pg.Close()
			return nil, false, err
		}
		if id == "" && !create {
			pg.Close()
			return nil, false, fmt.Errorf("%s: %w", pg.Name(), errNotInitialised)
		}
		return pg, id == "", nil
	}
	_, statErr := os.Stat(name)
	isNew = errors.Is(statErr, os.ErrNotExist)
	if isNew && !create {
		return nil, false, fmt.Errorf("no database at %s: run `jitdesk init` first (or pass --db PATH)", name)
	}
	s, err := store.Open(name)
	if err != nil {
		return nil, false, fmt.Errorf("open %s: %w", name, err)
	}
	if b := s.MigrationBackup(); b != "" {
		g.warn("the schema of %s was migrated; a copy from before is at %s (mode 0600)\n", name, b)
	}
	return sqliteDB{s}, isNew, nil
}

// errNotInitialised: a PostgreSQL database jitdesk init has not run on.
var errNotInitialised = errors.New("jitdesk init has not run on this database: run `jitdesk init --db URL` first (with $" + masterKeyEnv + " set, or --master-key-file PATH)")

// serviceOptions are the Service options for db: on PostgreSQL every node
// reads the database's clock, so expiry, leases and escalation agree
// whatever each machine's own clock says.
func (g *globals) serviceOptions(db database, key masterKey) approvals.Options {
	opts := approvals.Options{Issuer: g.issuerValue(), Sealer: key.sealer}
	if pg, ok := db.(*pgstore.DB); ok {
		opts.Clock = pg.Clock()
	}
	for _, hook := range g.serviceHooks {
		hook(&opts)
	}
	return opts
}
