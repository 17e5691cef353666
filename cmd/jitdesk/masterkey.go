package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/jitdesk/jitdesk/approvals"
	"github.com/jitdesk/jitdesk/tokens"
)

// Secrets at rest: the database's application secrets, webhook secrets and
// signing keys are sealed with a master key kept outside it, so a copy of
// the database file alone gives none of them away.

// masterKeyEnv holds the master key's text form; when set it is used
// instead of the key file (unless --master-key-file is given).
const masterKeyEnv = "JITDESK_MASTER_KEY"

// masterKeySuffix names the default key file: the database file's name
// with this added (jitdesk.db.master-key), in the same folder.
const masterKeySuffix = ".master-key"

// masterKey is the key a command opened the database with.
type masterKey struct {
	sealer *tokens.Sealer
	// file is the key file; "" when the key came from $JITDESK_MASTER_KEY.
	file string
	// created: the key file was made by this command.
	created bool
	// migrated: the key file was made for a database that existed already
	// (made before secrets were sealed).
	migrated bool
	// sealed counts the plaintext secrets this command sealed.
	sealed approvals.SealReport
}

// source names where the key came from, for messages.
func (k masterKey) source() string {
	if k.file == "" {
		return "$" + masterKeyEnv
	}
	return "the master key file " + k.file
}

// masterKeyError is a master key that does not open this database.
type masterKeyError struct {
	key masterKey
	err error // wraps approvals.ErrSealed
}

func (e masterKeyError) Error() string {
	if e.key.file == "" {
		return fmt.Sprintf("the master key in $%s (key id %s) is not the one this database's secrets are sealed with: set it to that key, or unset it to use the key file beside the database",
			masterKeyEnv, e.key.sealer.KeyID())
	}
	return fmt.Sprintf("the master key file %s (key id %s) does not hold the key this database's secrets are sealed with: restore the key file made with this database, or pass --master-key-file PATH (or set $%s)",
		e.key.file, e.key.sealer.KeyID(), masterKeyEnv)
}

func (e masterKeyError) Unwrap() error { return e.err }

// masterKeyFile is the key file this command uses for the database at
// dbPath: --master-key-file, else the file beside the database.
func (g *globals) masterKeyFile(dbPath string) string {
	if g.keyFile != "" {
		return g.keyFile
	}
	return dbPath + masterKeySuffix
}

// loadMasterKey finds the master key for db: --master-key-file, else
// $JITDESK_MASTER_KEY, else (SQLite only) the key file beside the
// database. A missing key file is created for a new database (isNew), and
// for an existing SQLite one that no key has sealed yet (the migration of a
// database made before sealing); a sealed database whose key file is
// missing is refused, since a new key could open nothing in it.
//
// PostgreSQL has no file beside it, and every node must use the same key,
// so there the key must be given: $JITDESK_MASTER_KEY, or
// --master-key-file, which init (and only init, on a database no key has
// sealed) creates. init never prints a key: a key on a terminal ends up in
// scrollback, logs and CI output, while a 0600 file is where the operator
// can copy it into their secret store from.
func (g *globals) loadMasterKey(ctx context.Context, db database, isNew bool) (masterKey, error) {
	if v, ok := os.LookupEnv(masterKeyEnv); ok && g.keyFile == "" {
		k, err := tokens.ParseMasterKey(v)
		if err != nil {
			return masterKey{}, fmt.Errorf("$%s: %w", masterKeyEnv, err)
		}
		return masterKey{sealer: tokens.NewSealer(k)}, nil
	}
	dbPath, onFile := sqlitePath(db)
	if !onFile && g.keyFile == "" {
		return masterKey{}, errNoMasterKey
	}
	path := g.masterKeyFile(dbPath)
	k, _, err := tokens.LoadOrCreateMasterKeyFile(path, false)
	if err == nil {
		return masterKey{sealer: tokens.NewSealer(k), file: path}, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return masterKey{}, err
	}
	if !isNew {
		sealedWith, err := storedKeyID(ctx, db)
		if err != nil {
			return masterKey{}, err
		}
		if sealedWith != "" {
			return masterKey{}, fmt.Errorf("the master key file %s does not exist, and this database's secrets are sealed with master key %s: restore that key file from your backup, pass --master-key-file PATH, or set $%s",
				path, sealedWith, masterKeyEnv)
		}
	}
	k, created, err := tokens.LoadOrCreateMasterKeyFile(path, true)
	if err != nil {
		return masterKey{}, err
	}
	return masterKey{sealer: tokens.NewSealer(k), file: path, created: created, migrated: created && !isNew}, nil
}

// errNoMasterKey: a PostgreSQL database and no master key given.
var errNoMasterKey = errors.New("a PostgreSQL database needs its master key given: set $" + masterKeyEnv +
	" (the same on every node), or pass --master-key-file PATH (`jitdesk init --master-key-file PATH` creates it, mode 0600)")

// storedKeyID is the id of the master key that sealed the database, ""
// when none has.
func storedKeyID(ctx context.Context, db approvals.Store) (string, error) {
	// A Service without a sealer only reads which key sealed the database.
	id, _, err := approvals.New(db, approvals.Options{}).SealedWith(ctx)
	if err != nil {
		return "", fmt.Errorf("read the database's master key id: %w", err)
	}
	return id, nil
}

// openSealed opens a Service over db sealed with the master key and seals
// whatever is still in plaintext. SealSecrets runs on every open: it is
// what refuses a wrong key before any command acts, and it costs one small
// transaction once nothing is left to seal.
func (g *globals) openSealed(ctx context.Context, db database, isNew bool) (*approvals.Service, masterKey, error) {
	key, err := g.loadMasterKey(ctx, db, isNew)
	if err != nil {
		return nil, masterKey{}, err
	}
	svc := approvals.New(db, g.serviceOptions(db, key))
	rep, err := svc.SealSecrets(ctx, operator())
	if err != nil {
		if errors.Is(err, approvals.ErrSealed) {
			return nil, masterKey{}, masterKeyError{key: key, err: err}
		}
		return nil, masterKey{}, err
	}
	key.sealed = rep
	return svc, key, nil
}

// announce says on stderr, once, what opening did to the keys: a key file
// made for a database from before sealing, or secrets sealed.
func (g *globals) announce(key masterKey) {
	if key.migrated {
		g.warn("jitdesk: this database was made before secrets were sealed: created the master key file %s (mode 0600) and sealed %s with it. "+
			"Back that file up separately from the database: without it the secrets in the database cannot be used.\n",
			key.file, sealedCounts(key.sealed))
		return
	}
	if key.sealed != (approvals.SealReport{}) {
		g.warn("jitdesk: sealed %s with %s\n", sealedCounts(key.sealed), key.source())
	}
}

func sealedCounts(r approvals.SealReport) string {
	return fmt.Sprintf("%s, %s and %s", plural(r.Applications, "application secret"), plural(r.Webhooks, "webhook secret"), plural(r.SigningKeys, "signing key"))
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}
