package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// Backups: an online, consistent copy of the database in a new file,
// checked before it is reported as made. PostgreSQL deployments use
// pg_dump instead (package pgstore has no counterpart).

// ErrBackupExists: the backup's path names an existing file; a backup
// never overwrites anything.
var ErrBackupExists = errors.New("the backup file exists already")

// BackupReport describes a backup that was written and checked.
type BackupReport struct {
	// Path is the backup's absolute path.
	Path string
	// Bytes is the backup file's size.
	Bytes int64
	// SchemaVersion is the copy's schema version (PRAGMA user_version).
	SchemaVersion int
}

// Backup writes a copy of the database to path, a file that must not
// exist (ErrBackupExists otherwise): the file is created private (0600,
// whatever the umask), filled with VACUUM INTO — one read transaction, so
// the copy is a consistent snapshot while writers carry on — then opened
// read-only and checked with PRAGMA integrity_check. A backup that fails
// any step is removed. The copy is compact (VACUUM) and not in WAL mode: a
// single file, ready to be opened or moved.
func (db *DB) Backup(ctx context.Context, path string) (BackupReport, error) {
	if path == "" {
		return BackupReport{}, errors.New("back up database: empty path")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return BackupReport{}, fmt.Errorf("back up %s to %s: %w", db.path, path, err)
	}
	return backupTo(ctx, db.path, abs)
}

// OpenReadOnly opens an existing database — a backup, typically, for
// audit verify to check — without writing to it: nothing is created or
// migrated (a schema other than this build's is refused: newer with
// approvals.ErrSchemaTooNew, older because this build's queries need its
// columns), every connection is read-only, and Update fails. It does not
// switch the journal mode, so a copy made by Backup stays one file.
func OpenReadOnly(path string) (*DB, error) {
	if path == "" {
		return nil, errors.New("open database read-only: empty path")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("open database %s read-only: %w", path, err)
	}
	if _, err := os.Stat(abs); err != nil {
		return nil, fmt.Errorf("open database %s read-only: %w", abs, err)
	}
	migs, err := migrations()
	if err != nil {
		return nil, err
	}
	if err := checkVersion(abs, len(migs)); err != nil {
		return nil, err
	}
	dsn := "file:" + uriPath(abs) + "?mode=ro&_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)&_pragma=query_only(1)"
	pools := make([]*sql.DB, 3)
	for i := range pools {
		if pools[i], err = sql.Open("sqlite", dsn); err != nil {
			for _, p := range pools[:i] {
				p.Close()
			}
			return nil, fmt.Errorf("open database %s read-only: %w", abs, err)
		}
	}
	pools[0].SetMaxOpenConns(1)
	pools[1].SetMaxOpenConns(readPoolSize)
	pools[2].SetMaxOpenConns(1)
	db := &DB{path: abs, write: pools[0], read: pools[1], feedPool: pools[2], feedSubs: map[int]chan struct{}{}, cfg: newConfigCache()}
	db.writeStmts, db.readStmts = newStmtCache(db.write), newStmtCache(db.read)
	var v int
	if err := db.read.QueryRow(`PRAGMA user_version`).Scan(&v); err != nil {
		db.Close()
		return nil, fmt.Errorf("open database %s read-only: read schema version: %w", abs, err)
	}
	if v != len(migs) {
		db.Close()
		return nil, fmt.Errorf("open database %s read-only: it has schema version %d, this build's is %d: open it read-write with this jitdesk once to upgrade it", abs, v, len(migs))
	}
	return db, nil
}

// MigrationBackup is where Open wrote the copy it took before applying
// pending migrations to an existing database ("" when it migrated nothing,
// or the database was new).
func (db *DB) MigrationBackup() string { return db.migrationBackup }

// migrationBackupPath names the pre-migration copy of the database at
// path, about to be migrated to version to at now.
func migrationBackupPath(path string, to int, now time.Time) string {
	return fmt.Sprintf("%s.pre-%d-%s.bak", path, to, now.UTC().Format("20060102T150405"))
}

// backupTo copies the database at src (an absolute path) to the new file
// dst (absolute) and checks the copy.
func backupTo(ctx context.Context, src, dst string) (rep BackupReport, err error) {
	fail := func(step string, err error) error {
		return fmt.Errorf("back up %s to %s: %s: %w", src, dst, step, err)
	}
	f, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return rep, fail("refused", ErrBackupExists)
	}
	if err != nil {
		return rep, fail("create", err)
	}
	// From here on the file is ours: anything short of a checked copy
	// removes it (and any journal SQLite left beside it).
	defer func() {
		if err != nil {
			for _, suffix := range []string{"", "-journal", "-wal", "-shm"} {
				_ = os.Remove(dst + suffix)
			}
		}
	}()
	// The umask may have taken bits off 0600 (never added any): set the
	// mode exactly. SQLite writes into the existing file, keeping its mode.
	chmodErr := f.Chmod(0o600)
	if err := errors.Join(chmodErr, f.Close()); err != nil {
		return rep, fail("create", err)
	}
	if err := vacuumInto(ctx, src, dst); err != nil {
		return rep, fail("copy", err)
	}
	v, err := checkCopy(ctx, dst)
	if err != nil {
		return rep, fail("check the copy", err)
	}
	fi, err := os.Stat(dst)
	if err != nil {
		return rep, fail("check the copy", err)
	}
	return BackupReport{Path: dst, Bytes: fi.Size(), SchemaVersion: v}, nil
}

// vacuumInto runs VACUUM INTO on a connection of its own: the read pool's
// connections are query_only, which refuses VACUUM INTO even though it
// writes only to the new file. VACUUM INTO reads the source in one read
// transaction, which in WAL mode neither blocks nor waits for writers.
func vacuumInto(ctx context.Context, src, dst string) error {
	conn, err := sql.Open("sqlite", "file:"+uriPath(src)+"?_pragma=busy_timeout(10000)")
	if err != nil {
		return err
	}
	defer conn.Close()
	conn.SetMaxOpenConns(1)
	// A plain filename (no "file:" prefix) is never parsed as a URI, so
	// the destination's '?' and '#' are just characters of its name.
	_, err = conn.ExecContext(ctx, `VACUUM INTO ?`, dst)
	return err
}

// checkCopy opens the copy read-only and returns its schema version once
// PRAGMA integrity_check says "ok".
func checkCopy(ctx context.Context, path string) (int, error) {
	c, err := sql.Open("sqlite", "file:"+uriPath(path)+"?mode=ro&_pragma=busy_timeout(10000)")
	if err != nil {
		return 0, err
	}
	defer c.Close()
	rows, err := c.QueryContext(ctx, `PRAGMA integrity_check`)
	if err != nil {
		return 0, err
	}
	var problems []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			rows.Close()
			return 0, err
		}
		if line != "ok" && len(problems) < 10 {
			problems = append(problems, line)
		}
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return 0, err
	}
	if len(problems) > 0 {
		return 0, fmt.Errorf("integrity_check: %q", problems)
	}
	var v int
	if err := c.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&v); err != nil {
		return 0, err
	}
	return v, nil
}
