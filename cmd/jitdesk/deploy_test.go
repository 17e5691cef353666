package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestBackupIsACheckedPrivateCopyAndNeverOverwrites(t *testing.T) {
	db := filepath.Join(t.TempDir(), "j.db")
	id := setup(t, db, 1, "approve")
	mustOK(t, jitdesk(t, db, "approve", id, "--as", "op0"))
	backup := filepath.Join(t.TempDir(), "copy.db")
	var rep struct {
		File        string `json:"file"`
		AuditEvents int64  `json:"audit_events"`
		Schema      int    `json:"schema_version"`
	}
	if err := json.Unmarshal([]byte(mustOK(t, jitdesk(t, db, "--json", "backup", backup))), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.File != backup || rep.AuditEvents < 5 || rep.Schema < 13 {
		t.Fatalf("backup report: %+v", rep)
	}
	st, err := os.Stat(backup)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("backup file mode: %v %v", st.Mode(), err)
	}
	fail(t, jitdesk(t, db, "backup", backup), 1, "exists")
	// The copy is a database of its own, sealed with the same master key
	// (kept apart from it): its audit chain verifies and it holds the
	// approved request; without the key it opens nothing.
	fail(t, jitdesk(t, backup, "audit", "verify"), 1, "master key")
	key := db + ".master-key"
	mustOK(t, jitdesk(t, backup, "--master-key-file", key, "audit", "verify"))
	if out := mustOK(t, jitdesk(t, backup, "--master-key-file", key, "--json", "request", "show", id)); !strings.Contains(out, `"approved"`) {
		t.Fatalf("the copy lacks the approval: %s", out)
	}
}

func TestKeysRotateStagesTheKeyAndKeysActivateSignsWithItNow(t *testing.T) {
	db := filepath.Join(t.TempDir(), "j.db")
	mustOK(t, jitdesk(t, db, "init"))
	var k struct {
		Kid         string `json:"kid"`
		ActivatesAt string `json:"activates_at"`
	}
	out := mustOK(t, jitdesk(t, db, "--json", "keys", "rotate"))
	if err := json.Unmarshal([]byte(out), &k); err != nil {
		t.Fatal(err)
	}
	at, err := time.Parse(time.RFC3339, k.ActivatesAt)
	if err != nil || time.Until(at) < 4*time.Minute {
		t.Fatalf("a rotated key must sign only after the JWKS max-age: %s (%v)", out, err)
	}
	if out := mustOK(t, jitdesk(t, db, "keys", "list")); !strings.Contains(out, "published, signs from") {
		t.Fatalf("keys list does not show the staged key: %s", out)
	}
	fail(t, jitdesk(t, db, "keys", "rotate"), 1, "keys activate")
	mustOK(t, jitdesk(t, db, "keys", "activate"))
	fail(t, jitdesk(t, db, "keys", "activate"), 1, "no key rotation is pending")
	hasAudit(t, db, "key.activated")
}

func TestPruneKeepsPendingWorkAndRefusesTooShortARetention(t *testing.T) {
	db := filepath.Join(t.TempDir(), "j.db")
	setup(t, db, 1, "approve")
	out := mustOK(t, jitdesk(t, db, "prune"))
	if !strings.Contains(out, "pruned 0 webhook deliveries") {
		t.Fatalf("prune: %s", out)
	}
	fail(t, jitdesk(t, db, "prune", "--webhook-deliveries-older-than", "5m"), 1, "at least 1h")
}

func TestServeSettingsComeFromFlagsThenEnvironmentThenFile(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "j.db")
	mustOK(t, jitdesk(t, db, "init"))
	cfg := filepath.Join(dir, "jitdesk.toml")
	os.WriteFile(cfg, []byte("http = \"127.0.0.1:1\"\nidle-timeout = \"7m\"\nlog-format = \"text\"\n"), 0o644)
	out := mustOK(t, jitdeskWith(t, db, "", []string{"JITDESK_IDLE_TIMEOUT=9m"}, "serve", "--config", cfg, "--log-format", "json", "--print-config"))
	for _, want := range []string{`http = "127.0.0.1:1"  # file ` + cfg + `:1`, `idle-timeout = "9m0s"  # env JITDESK_IDLE_TIMEOUT`, `log-format = "json"  # flag --log-format`} {
		if !strings.Contains(out, want) {
			t.Errorf("print-config lacks %q:\n%s", want, out)
		}
	}
	// A PostgreSQL password never reaches the printed configuration.
	pgCfg := filepath.Join(dir, "pg.toml")
	os.WriteFile(pgCfg, []byte("db = \"postgres://jitdesk:hunter2@127.0.0.1:1/jitdesk?sslmode=disable&password=hunter3\"\n"), 0o644)
	printed := exec.Command(os.Args[0], "serve", "--config", pgCfg, "--print-config")
	printed.Env = append(os.Environ(), "JITDESK_TEST_MAIN=1")
	b, err := printed.Output()
	if out := string(b); err != nil || strings.Contains(out, "hunter2") || strings.Contains(out, "hunter3") || !strings.Contains(out, "postgres://jitdesk:xxxxx@127.0.0.1:1/jitdesk") {
		t.Fatalf("print-config shows the database password or no URL (%v):\n%s", err, out)
	}
	os.WriteFile(cfg, []byte("http = \"127.0.0.1:1\"\nssh-adr = \"x\"\n"), 0o644)
	fail(t, jitdesk(t, db, "serve", "--config", cfg), 1, cfg+`:2: unknown setting "ssh-adr"`)
	fail(t, jitdesk(t, db, "serve", "--log-level", "loud", "--http", "127.0.0.1:0", "--ssh", ""), 2, "--log-level")
	fail(t, jitdesk(t, db, "serve", "--tls-cert", "c.pem", "--http", "127.0.0.1:0"), 2, "--tls-key")
}

func TestManWritesAPagePerCommand(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "man")
	r := jitdesk(t, filepath.Join(t.TempDir(), "unused.db"), "man", dir)
	mustOK(t, r)
	for _, page := range []string{"jitdesk.1", "jitdesk-backup.1", "jitdesk-keys-activate.1", "jitdesk-serve.1"} {
		b, err := os.ReadFile(filepath.Join(dir, page))
		if err != nil || !bytes.Contains(b, []byte(".TH")) {
			t.Fatalf("%s: %v", page, err)
		}
	}
}

// sshTools returns the OpenSSH tools the key-signing test drives, or
// skips naming what is missing (CI installs openssh-client).
func sshTools(t *testing.T) (keygen, agent, add string) {
	t.Helper()
	var err error
	if keygen, err = exec.LookPath("ssh-keygen"); err != nil {
		t.Skip("ssh-keygen is not installed (openssh-client)")
	}
	if agent, err = exec.LookPath("ssh-agent"); err != nil {
		t.Skip("ssh-agent is not installed (openssh-client)")
	}
	if add, err = exec.LookPath("ssh-add"); err != nil {
		t.Skip("ssh-add is not installed (openssh-client)")
	}
	return keygen, agent, add
}

func TestCLIDecisionSignedThroughTheLocalAgentVerifiesWithSSHKeygen(t *testing.T) {
	keygen, agentBin, add := sshTools(t)
	dir := t.TempDir()
	key := filepath.Join(dir, "id_ed25519")
	if out, err := exec.Command(keygen, "-q", "-t", "ed25519", "-N", "", "-C", "alice", "-f", key).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v %s", err, out)
	}
	sock := filepath.Join(dir, "agent.sock")
	ctx, cancel := context.WithCancel(context.Background())
	agent := exec.CommandContext(ctx, agentBin, "-D", "-a", sock)
	if err := agent.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); agent.Wait() })
	withAgent := []string{"SSH_AUTH_SOCK=" + sock}
	added := false
	for i := 0; i < 200 && !added; i++ { // the agent creates its socket as it starts
		c := exec.Command(add, key)
		c.Env = append(os.Environ(), withAgent...)
		added = c.Run() == nil
		if !added {
			time.Sleep(20 * time.Millisecond)
		}
	}
	if !added {
		t.Fatal("ssh-add never reached the agent")
	}

	db := filepath.Join(dir, "j.db")
	setup(t, db, 0, "approve")
	mustOK(t, jitdesk(t, db, "approver", "add", "alice", "--name", "Alice Example", "--ssh-key", key+".pub"))
	mustOK(t, jitdesk(t, db, "template", "add", "vault", "--app", "payments", "--title", "Vault root", "--type", "approve", "--approver", "alice", "--require-key-signature"))
	id := strings.TrimSpace(mustOK(t, jitdesk(t, db, "request", "create", "--template", "vault", "--requester", "bob", "--reason", "rotate the unseal keys")))

	fail(t, jitdesk(t, db, "approve", id, "--as", "alice"), 1, "ssh-add")
	r := jitdeskWith(t, db, "", withAgent, "approve", id, "--as", "alice")
	mustOK(t, r)
	if !strings.Contains(r.stderr, "signing with ED25519 SHA256:") {
		t.Fatalf("approve did not say which key signs: %s", r.stderr)
	}
	proof := filepath.Join(dir, "proof")
	mustOK(t, jitdesk(t, db, "signature", "export", id, "--sshsig", proof))
	verify := func(statement string) error {
		c := exec.Command(keygen, "-Y", "verify", "-f", filepath.Join(proof, "allowed_signers"), "-I", "alice", "-n", "jitdesk-decision", "-s", filepath.Join(proof, "statement.sig"))
		f, err := os.Open(statement)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		c.Stdin = f
		return c.Run()
	}
	if err := verify(filepath.Join(proof, "statement")); err != nil {
		t.Fatalf("ssh-keygen -Y verify refused the exported key signature: %v", err)
	}
	b, _ := os.ReadFile(filepath.Join(proof, "statement"))
	changed := filepath.Join(dir, "changed")
	os.WriteFile(changed, bytes.Replace(b, []byte("bob"), []byte("bib"), 1), 0o644)
	if err := verify(changed); err == nil {
		t.Fatal("ssh-keygen verified a changed statement")
	}
	mustOK(t, jitdesk(t, db, "audit", "verify"))
	if out := mustOK(t, jitdesk(t, db, "request", "show", id)); !strings.Contains(out, "(key-signed SHA256:") {
		t.Fatalf("request show does not say the review was key-signed: %s", out)
	}
	if out := mustOK(t, jitdesk(t, db, "template", "show", "vault")); !strings.Contains(out, "key signature") {
		t.Fatalf("template show does not say key signatures are required: %s", out)
	}
}
