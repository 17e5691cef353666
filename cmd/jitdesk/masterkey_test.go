package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jitdesk/jitdesk/approvals"
	"github.com/jitdesk/jitdesk/store"
	"github.com/jitdesk/jitdesk/tokens"
)

// noEnvKey keeps a $JITDESK_MASTER_KEY of the shell running the tests out
// of the commands (a later entry of the environment wins).
func noEnvKey(t *testing.T) {
	t.Helper()
	if _, ok := os.LookupEnv(masterKeyEnv); ok {
		t.Setenv(masterKeyEnv, "")
		os.Unsetenv(masterKeyEnv)
	}
}

// dbBytes is everything SQLite keeps of the database on disk.
func dbBytes(t *testing.T, db string) []byte {
	t.Helper()
	var all []byte
	for _, p := range []string{db, db + "-wal", db + "-journal"} {
		b, err := os.ReadFile(p)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		all = append(all, b...)
	}
	if len(all) == 0 {
		t.Fatalf("no database bytes at %s", db)
	}
	return all
}

func signingKeys(t *testing.T, db string) []approvals.SigningKey {
	t.Helper()
	sdb, err := store.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	defer sdb.Close()
	var keys []approvals.SigningKey
	if err := sdb.View(context.Background(), func(tx approvals.ReadTx) error {
		var err error
		keys, err = tx.SigningKeys()
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if len(keys) == 0 {
		t.Fatal("no signing keys")
	}
	return keys
}

func TestInitCreatesAPrivateMasterKeyFileBesideTheDatabaseAndSaysToBackItUp(t *testing.T) {
	noEnvKey(t)
	db := filepath.Join(t.TempDir(), "jitdesk.db")
	out := mustOK(t, jitdesk(t, db, "init"))
	keyFile := db + ".master-key"
	fi, err := os.Stat(keyFile)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("init must create %s with mode 0600: %v %v", keyFile, fi, err)
	}
	if !strings.Contains(out, keyFile) || !strings.Contains(out, "Back it up separately from the database") {
		t.Fatalf("init must say where the key file is and to back it up: %s", out)
	}
	before, _ := os.ReadFile(keyFile)
	var v struct {
		MasterKey struct {
			Source, File string
			Created      bool
		} `json:"master_key"`
	}
	if err := json.Unmarshal([]byte(mustOK(t, jitdesk(t, db, "--json", "init"))), &v); err != nil {
		t.Fatal(err)
	}
	if v.MasterKey.Source != "file" || v.MasterKey.File != keyFile || v.MasterKey.Created {
		t.Fatalf("second init --json: %+v", v)
	}
	if after, _ := os.ReadFile(keyFile); !bytes.Equal(before, after) {
		t.Fatal("a second init replaced the key file")
	}
	if _, err := tokens.ParseMasterKey(string(before)); err != nil {
		t.Fatalf("the key file does not hold a master key: %v", err)
	}
}

func TestSecretsAreNotInTheDatabaseFileInClear(t *testing.T) {
	noEnvKey(t)
	db := filepath.Join(t.TempDir(), "j.db")
	mustOK(t, jitdesk(t, db, "init"))
	var app struct{ ID, Secret string }
	if err := json.Unmarshal([]byte(mustOK(t, jitdesk(t, db, "--json", "app", "add", "payments", "--audience", "https://payments.test"))), &app); err != nil {
		t.Fatal(err)
	}
	var hook struct{ Secret string }
	if err := json.Unmarshal([]byte(mustOK(t, jitdesk(t, db, "--json", "webhook", "add", "https://hooks.example.com/x"))), &hook); err != nil || hook.Secret == "" {
		t.Fatalf("webhook add: %v %+v", err, hook)
	}
	raw := dbBytes(t, db)
	for what, s := range map[string]string{"application secret": app.Secret, "webhook secret": hook.Secret} {
		if bytes.Contains(raw, []byte(s)) {
			t.Fatalf("the %s is in the database file in clear", what)
		}
	}
	for _, k := range signingKeys(t, db) {
		if !tokens.IsSealed(k.Private) {
			t.Fatalf("signing key %s is stored unsealed", k.Kid)
		}
	}
	// Sealed, not lost: the key file opens them.
	svc, _ := openInProcess(t, db)
	if _, err := svc.AuthenticateClient(context.Background(), app.ID, app.Secret); err != nil {
		t.Fatalf("the sealed application secret does not authenticate: %v", err)
	}
	id := setupTemplate(t, db)
	token := strings.TrimSpace(mustOK(t, jitdesk(t, db, "approve", id, "--as", "op0")))
	mustOK(t, jitdesk(t, db, "verify", token))
}

// setupTemplate adds an approver and a template for the application
// "payments" and returns a pending request's id.
func setupTemplate(t *testing.T, db string) string {
	t.Helper()
	mustOK(t, jitdesk(t, db, "approver", "add", "op0", "--name", "Operator 0", "--group", "sre"))
	mustOK(t, jitdesk(t, db, "template", "add", "k8s", "--app", "payments", "--title", "K8s exec", "--type", "approve", "--group", "sre", "--ttl", "30m"))
	return strings.TrimSpace(mustOK(t, jitdesk(t, db, "request", "create", "--template", "k8s", "--requester", "alice", "--reason", "debug OOM in checkout")))
}

func TestAWrongMasterKeyIsRefusedWithOneLineNamingWhereItCameFrom(t *testing.T) {
	noEnvKey(t)
	dir := t.TempDir()
	db := filepath.Join(dir, "j.db")
	mustOK(t, jitdesk(t, db, "init"))
	other, err := tokens.GenerateMasterKey()
	if err != nil {
		t.Fatal(err)
	}

	r := jitdeskEnv(t, []string{masterKeyEnv + "=" + other.String()}, "--db", db, "app", "list")
	fail(t, r, 1, "the master key in $JITDESK_MASTER_KEY")
	if !strings.Contains(r.stderr, "is not the one this database's secrets are sealed with") || strings.Count(r.stderr, "\n") != 1 {
		t.Fatalf("want one clear line, got %q", r.stderr)
	}
	if strings.Contains(r.stderr, other.String()) {
		t.Fatal("the error shows the key")
	}

	otherFile := filepath.Join(dir, "other.key")
	if err := os.WriteFile(otherFile, []byte(other.String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r = jitdesk(t, db, "--master-key-file", otherFile, "app", "list")
	fail(t, r, 1, "the master key file "+otherFile)
	if !strings.Contains(r.stderr, "does not hold the key this database's secrets are sealed with") || strings.Count(r.stderr, "\n") != 1 {
		t.Fatalf("want one clear line, got %q", r.stderr)
	}

	// A sealed database whose key file is gone gets no new key.
	if err := os.Rename(db+masterKeySuffix, filepath.Join(dir, "moved")); err != nil {
		t.Fatal(err)
	}
	fail(t, jitdesk(t, db, "app", "list"), 1, "restore that key file")
	if _, err := os.Stat(db + masterKeySuffix); !os.IsNotExist(err) {
		t.Fatal("a key file was made for a database sealed with another key")
	}
	mustOK(t, jitdesk(t, db, "--master-key-file", filepath.Join(dir, "moved"), "app", "list"))
}

func TestTheMasterKeyFromTheEnvironmentNeedsNoKeyFile(t *testing.T) {
	noEnvKey(t)
	db := filepath.Join(t.TempDir(), "j.db")
	k, err := tokens.GenerateMasterKey()
	if err != nil {
		t.Fatal(err)
	}
	env := []string{masterKeyEnv + "=" + k.String()}
	out := mustOK(t, jitdeskEnv(t, env, "--db", db, "init"))
	if !strings.Contains(out, "$JITDESK_MASTER_KEY") {
		t.Fatalf("init with the key in the environment: %s", out)
	}
	if _, err := os.Stat(db + masterKeySuffix); !os.IsNotExist(err) {
		t.Fatal("init made a key file although $JITDESK_MASTER_KEY is set")
	}
	mustOK(t, jitdeskEnv(t, env, "--db", db, "app", "add", "payments", "--audience", "https://payments.test"))
	fail(t, jitdesk(t, db, "app", "list"), 1, "does not exist, and this database's secrets are sealed")
	fail(t, jitdeskEnv(t, []string{masterKeyEnv + "=not a key"}, "--db", db, "app", "list"), 1, "$JITDESK_MASTER_KEY: master key")
}

func TestADatabaseFromBeforeSealingIsSealedOnFirstOpenAndKeepsWorking(t *testing.T) {
	noEnvKey(t)
	db := filepath.Join(t.TempDir(), "j.db")
	ctx := context.Background()
	sdb, err := store.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	old := approvals.New(sdb, approvals.Options{Issuer: "https://jitdesk.test"})
	if _, err := old.Init(ctx, "test"); err != nil {
		t.Fatal(err)
	}
	if _, err := old.SetIssuer(ctx, "test", "https://jitdesk.test"); err != nil {
		t.Fatal(err)
	}
	app, err := old.CreateApplication(ctx, "test", "payments", "https://payments.test")
	if err != nil {
		t.Fatal(err)
	}
	secret := approvals.PrintedSecret(app.Secret, app.SecretFormat)
	if err := sdb.Close(); err != nil {
		t.Fatal(err)
	}
	keys := signingKeys(t, db)
	if tokens.IsSealed(keys[0].Private) || !bytes.Contains(dbBytes(t, db), []byte(secret)) {
		t.Fatal("the old database should hold its secrets in clear: the test proves nothing")
	}

	r := jitdesk(t, db, "app", "list")
	mustOK(t, r)
	keyFile := db + masterKeySuffix
	if !strings.Contains(r.stderr, "made before secrets were sealed") || !strings.Contains(r.stderr, keyFile) ||
		!strings.Contains(r.stderr, "sealed 1 application secret, 0 webhook secrets and 1 signing key") {
		t.Fatalf("the first open must say it made the key file and sealed: %q", r.stderr)
	}
	if fi, err := os.Stat(keyFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", fi, err)
	}
	if r := jitdesk(t, db, "app", "list"); r.code != 0 || r.stderr != "" {
		t.Fatalf("the second open must say nothing more: exit %d %q", r.code, r.stderr)
	}
	for _, k := range signingKeys(t, db) {
		if !tokens.IsSealed(k.Private) {
			t.Fatalf("signing key %s still unsealed", k.Kid)
		}
	}
	svc, sdb2 := openInProcess(t, db)
	if _, err := svc.AuthenticateClient(ctx, app.ID, secret); err != nil {
		t.Fatalf("the migrated application no longer authenticates: %v", err)
	}
	var stored approvals.Application
	if err := sdb2.View(ctx, func(tx approvals.ReadTx) error {
		var err error
		stored, err = tx.Application(app.ID)
		return err
	}); err != nil || !tokens.IsSealed(stored.Secret) {
		t.Fatalf("the application secret is not sealed in its row: %v", err)
	}
	id := setupTemplate(t, db)
	token := strings.TrimSpace(mustOK(t, jitdesk(t, db, "approve", id, "--as", "op0")))
	mustOK(t, jitdesk(t, db, "verify", token))
	mustOK(t, jitdesk(t, db, "audit", "verify"))
}
