package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jitdesk/jitdesk/pgstore/pgtest"
	"github.com/jitdesk/jitdesk/tokens"
)

// pgDSN returns the URL of a new, empty PostgreSQL database of its own,
// dropped when t ends; it skips t unless $JITDESK_TEST_POSTGRES names a
// test cluster (scripts/pg-test-cluster.sh start prints it).
func pgDSN(t *testing.T) string {
	t.Helper()
	return pgtest.DSN(t)
}

func newKeyText(t *testing.T) string {
	t.Helper()
	k, err := tokens.GenerateMasterKey()
	if err != nil {
		t.Fatal(err)
	}
	return k.String()
}

// On PostgreSQL there is no file beside the database for the master key:
// every command without $JITDESK_MASTER_KEY or --master-key-file is refused
// saying so (init too: it never prints a key), and a command on a
// database init has not run on says to run init.
func TestPostgresNeedsTheMasterKeyGivenAndInitFirst(t *testing.T) {
	noEnvKey(t)
	dsn := pgDSN(t)
	fail(t, jitdesk(t, dsn, "init"), 1, "a PostgreSQL database needs its master key given")
	key := []string{masterKeyEnv + "=" + newKeyText(t)}
	fail(t, jitdeskEnv(t, key, "--db", dsn, "app", "list"), 1, "jitdesk init has not run on this database")
	out := mustOK(t, jitdeskEnv(t, key, "--db", dsn, "init"))
	if !strings.Contains(out, "sealed with the master key in $"+masterKeyEnv) {
		t.Fatalf("init output: %s", out)
	}
	mustOK(t, jitdeskEnv(t, key, "--db", dsn, "app", "list"))
	fail(t, jitdesk(t, dsn, "app", "list"), 1, "a PostgreSQL database needs its master key given")
	other := []string{masterKeyEnv + "=" + newKeyText(t)}
	fail(t, jitdeskEnv(t, other, "--db", dsn, "app", "list"), 1, "is not the one this database's secrets are sealed with")
}

// init --master-key-file on a new PostgreSQL database creates the key
// file (0600) and prints no key; the file then opens the database.
func TestPostgresInitCreatesTheGivenMasterKeyFile(t *testing.T) {
	noEnvKey(t)
	dsn := pgDSN(t)
	file := filepath.Join(t.TempDir(), "mk")
	out := mustOK(t, jitdeskEnv(t, nil, "--db", dsn, "--master-key-file", file, "init"))
	fi, err := os.Stat(file)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", fi, err)
	}
	b, _ := os.ReadFile(file)
	if strings.Contains(out, strings.TrimSpace(string(b))) {
		t.Fatal("init printed the master key")
	}
	mustOK(t, jitdeskEnv(t, nil, "--db", dsn, "--master-key-file", file, "approver", "add", "bob", "--name", "Bob"))
}

// The audit checkpoint key on PostgreSQL lives in the database: a
// checkpoint made by one process verifies in another with no key file
// anywhere, and both print the same verifier.
func TestPostgresCheckpointKeyIsSharedThroughTheDatabase(t *testing.T) {
	dsn := pgDSN(t)
	key := []string{masterKeyEnv + "=" + newKeyText(t)}
	mustOK(t, jitdeskEnv(t, key, "--db", dsn, "init"))
	dir := t.TempDir()
	cp := filepath.Join(dir, "cp.txt")
	out := mustOK(t, jitdeskEnv(t, key, "--db", dsn, "audit", "checkpoint"))
	if err := os.WriteFile(cp, []byte(out), 0o600); err != nil {
		t.Fatal(err)
	}
	v1 := mustOK(t, jitdeskEnv(t, key, "--db", dsn, "audit", "checkpoint", "--print-verifier"))
	v2 := mustOK(t, jitdeskEnv(t, key, "--db", dsn, "audit", "checkpoint", "--print-verifier"))
	if v1 != v2 || !strings.HasPrefix(v1, checkpointKeyName+"+") {
		t.Fatalf("verifiers differ or malformed: %q %q", v1, v2)
	}
	mustOK(t, jitdeskEnv(t, key, "--db", dsn, "approver", "add", "bob", "--name", "Bob"))
	got := mustOK(t, jitdeskEnv(t, key, "--db", dsn, "audit", "verify", "--checkpoint", cp))
	if !strings.Contains(got, "the log extends checkpoint") {
		t.Fatalf("audit verify --checkpoint: %s", got)
	}
}

// jitdesk migrate copies a SQLite deployment into an empty PostgreSQL
// database: the same audit head on both, the request and its decision
// there, the same master key opening it, the token still verifying; and a
// second migrate into it is refused as not empty.
func TestMigrateCopiesASQLiteDeploymentToPostgres(t *testing.T) {
	noEnvKey(t)
	dsn := pgDSN(t)
	db := filepath.Join(t.TempDir(), "j.db")
	id := setup(t, db, 1, "approve")
	token := strings.TrimSpace(mustOK(t, jitdesk(t, db, "approve", id, "--as", "op0")))
	var srcAudit struct {
		Events int64
		Head   string
	}
	if err := json.Unmarshal([]byte(mustOK(t, jitdesk(t, db, "--json", "audit", "verify"))), &srcAudit); err != nil {
		t.Fatal(err)
	}
	fail(t, jitdeskEnv(t, nil, "migrate", "--from", db, "--to", dsn), 2, "--from must be sqlite:PATH")
	fail(t, jitdeskEnv(t, nil, "migrate", "--from", "sqlite:"+db, "--to", db+"2"), 2, "--to must be a postgres://")
	var sum struct {
		Events int64            `json:"audit_events"`
		Head   string           `json:"head"`
		Tables map[string]int64 `json:"tables"`
	}
	out := mustOK(t, jitdeskEnv(t, nil, "--json", "migrate", "--from", "sqlite:"+db, "--to", dsn))
	if err := json.Unmarshal([]byte(out), &sum); err != nil {
		t.Fatal(err)
	}
	if sum.Events != srcAudit.Events || sum.Head != srcAudit.Head || sum.Tables["requests"] != 1 || sum.Tables["grants"] != 1 {
		t.Fatalf("migrate summary %+v, source audit %+v", sum, srcAudit)
	}
	keyText, err := os.ReadFile(db + masterKeySuffix)
	if err != nil {
		t.Fatal(err)
	}
	key := []string{masterKeyEnv + "=" + strings.TrimSpace(string(keyText))}
	show := mustOK(t, jitdeskEnv(t, key, "--db", dsn, "request", "show", id))
	if !strings.Contains(show, "approved by op0") {
		t.Fatalf("the migrated request: %s", show)
	}
	mustOK(t, jitdeskEnv(t, key, "--db", dsn, "verify", token))
	mustOK(t, jitdeskEnv(t, key, "--db", dsn, "audit", "verify"))
	fail(t, jitdeskEnv(t, nil, "migrate", "--from", "sqlite:"+db, "--to", dsn), 1, "not empty")
}
