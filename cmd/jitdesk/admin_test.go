package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
)

// jitdeskEnv runs the CLI with extra environment (later entries win).
func jitdeskEnv(t *testing.T, env []string, args ...string) result {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(append(os.Environ(), "JITDESK_TEST_MAIN=1", "JITDESK_ISSUER=https://jitdesk.test"), env...)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return result{out.String(), errb.String(), code}
}

// auditActions returns the actions of the newest audit events, newest first.
func auditActions(t *testing.T, db string, env ...string) []string {
	t.Helper()
	var evs []struct{ Action, Actor, Subject string }
	if err := json.Unmarshal([]byte(mustOK(t, jitdeskEnv(t, env, "--db", db, "--json", "audit", "log", "--limit", "200"))), &evs); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range evs {
		out = append(out, e.Action)
	}
	return out
}

func hasAudit(t *testing.T, db string, action string, env ...string) {
	t.Helper()
	got := auditActions(t, db, env...)
	for _, a := range got {
		if a == action {
			return
		}
	}
	t.Fatalf("no %s event in the audit log: %v", action, got)
}

func fail(t *testing.T, r result, code int, want string) {
	t.Helper()
	if r.code != code || !strings.Contains(r.stderr, want) {
		t.Fatalf("want exit %d and stderr containing %q, got exit %d\nstdout: %s\nstderr: %s", code, want, r.code, r.stdout, r.stderr)
	}
}

func newPubKey(t *testing.T) string {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sp, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sp))) + " test@key"
}

func TestOneIssuerPerDeploymentStoredByInitAndCheckedByEveryCommand(t *testing.T) {
	db := filepath.Join(t.TempDir(), "j.db")
	mustOK(t, jitdesk(t, db, "init", "--issuer", "https://a.example"))
	mustOK(t, jitdesk(t, db, "--issuer", "https://a.example", "app", "list"))
	// The environment (https://jitdesk.test in these tests) disagrees.
	r := jitdesk(t, db, "app", "list")
	fail(t, r, 1, `"https://a.example"`)
	if !strings.Contains(r.stderr, `"https://jitdesk.test"`) {
		t.Fatalf("the mismatch must name both issuers: %s", r.stderr)
	}
	noEnv := []string{"JITDESK_ISSUER="}
	var cfg struct{ Issuer string }
	json.Unmarshal([]byte(mustOK(t, jitdeskEnv(t, noEnv, "--db", db, "--json", "config", "show"))), &cfg)
	if cfg.Issuer != "https://a.example" {
		t.Fatalf("config show: %+v", cfg)
	}
	r = jitdeskEnv(t, noEnv, "--db", db, "config", "set", "issuer", "https://b.example")
	if r.code != 0 || !strings.Contains(r.stderr, "tokens issued before now carry the old issuer") || !strings.Contains(r.stdout, "https://b.example") {
		t.Fatalf("config set issuer: %+v", r)
	}
	fail(t, jitdesk(t, db, "--issuer", "https://a.example", "app", "list"), 1, `"https://b.example"`)
	mustOK(t, jitdeskEnv(t, []string{"JITDESK_ISSUER=https://b.example"}, "--db", db, "app", "list"))
	hasAudit(t, db, "config.issuer_set", "JITDESK_ISSUER=https://b.example")
	if out := mustOK(t, jitdeskEnv(t, noEnv, "--db", db, "init")); !strings.Contains(out, "already initialised; issuer https://b.example") {
		t.Fatalf("init again must keep the stored issuer: %s", out)
	}
}

func TestApproverUpdateKeysDisableAndEnableAreAuditedAndShownInList(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "j.db")
	id := setup(t, db, 2, "approve")
	mustOK(t, jitdesk(t, db, "approver", "add", "audrey", "--name", "Audrey Lee", "--auditor"))
	var a map[string]any
	json.Unmarshal([]byte(mustOK(t, jitdesk(t, db, "--json", "approver", "update", "op0", "--name", "Operator Zero", "--add-group", "dba", "--remove-group", "sre"))), &a)
	if a["name"] != "Operator Zero" || strings.Join(toStrings(a["groups"]), ",") != "dba" {
		t.Fatalf("approver update --json: %v", a)
	}
	fail(t, jitdesk(t, db, "approver", "update", "op0", "--remove-group", "nope"), 1, `not in group "nope"`)
	fail(t, jitdesk(t, db, "approver", "update", "op0"), 2, "nothing to change")
	hasAudit(t, db, "approver.updated")

	keyFile := filepath.Join(dir, "k.pub")
	k1, k2 := newPubKey(t), newPubKey(t)
	os.WriteFile(keyFile, []byte(k1+"\n"), 0o600)
	mustOK(t, jitdesk(t, db, "approver", "key", "add", "op1", keyFile))
	var added struct {
		Added []struct{ Fingerprint string }
	}
	json.Unmarshal([]byte(mustOK(t, jitdesk(t, db, "--json", "approver", "key", "add", "op1", k2))), &added)
	if len(added.Added) != 1 || !strings.HasPrefix(added.Added[0].Fingerprint, "SHA256:") {
		t.Fatalf("key add --json: %+v", added)
	}
	fail(t, jitdesk(t, db, "approver", "key", "add", "op1", k2), 1, "already has key")
	fail(t, jitdesk(t, db, "approver", "key", "add", "op1", "no-such-file"), 2, "neither a file nor a public-key line")
	fp := added.Added[0].Fingerprint
	mustOK(t, jitdesk(t, db, "approver", "key", "remove", "op1", fp))
	mustOK(t, jitdesk(t, db, "approver", "key", "remove", "op1", keyFile))
	fail(t, jitdesk(t, db, "approver", "key", "remove", "op1", fp), 1, "no active key")
	hasAudit(t, db, "approver.key_added")
	hasAudit(t, db, "approver.key_removed")

	mustOK(t, jitdesk(t, db, "approver", "disable", "op1"))
	fail(t, jitdesk(t, db, "approve", id, "--as", "op1"), 1, "disabled")
	list := mustOK(t, jitdesk(t, db, "approver", "list"))
	for _, want := range []string{fp + " (removed", "disabled", "audrey", "yes"} {
		if !strings.Contains(list, want) {
			t.Fatalf("approver list lacks %q:\n%s", want, list)
		}
	}
	hasAudit(t, db, "approver.disabled")
	mustOK(t, jitdesk(t, db, "approver", "enable", "op1"))
	hasAudit(t, db, "approver.enabled")
	mustOK(t, jitdesk(t, db, "approve", id, "--as", "op1"))
}

func toStrings(v any) []string {
	var out []string
	if l, ok := v.([]any); ok {
		for _, x := range l {
			s, _ := x.(string)
			out = append(out, s)
		}
	}
	return out
}

func TestAppSecretRotationUpdateAndDisable(t *testing.T) {
	db := filepath.Join(t.TempDir(), "j.db")
	setup(t, db, 1, "approve")
	out := mustOK(t, jitdesk(t, db, "app", "secret", "rotate", "payments", "--overlap", "1h"))
	if !strings.Contains(out, "new secret: jds_") || !strings.Contains(out, "keeps working until") {
		t.Fatalf("rotate with overlap: %s", out)
	}
	var rot map[string]any
	json.Unmarshal([]byte(mustOK(t, jitdesk(t, db, "--json", "app", "secret", "rotate", "payments"))), &rot)
	if s, _ := rot["secret"].(string); !strings.HasPrefix(s, "jds_") || rot["previous_secret_until"] != nil {
		t.Fatalf("rotate --json without overlap: %v", rot)
	}
	if out := mustOK(t, jitdesk(t, db, "app", "secret", "rotate", "payments")); !strings.Contains(out, "stopped working now") {
		t.Fatalf("rotate without overlap: %s", out)
	}
	fail(t, jitdesk(t, db, "app", "secret", "rotate", "payments", "--overlap", "soon"), 2, "--overlap")
	hasAudit(t, db, "application.secret_rotated")

	r := jitdesk(t, db, "app", "update", "payments", "--audience", "https://new.test", "--max-pending", "5")
	if r.code != 0 || !strings.Contains(r.stderr, "tokens already issued keep the old audience") {
		t.Fatalf("audience change must warn on stderr: %+v", r)
	}
	fail(t, jitdesk(t, db, "app", "update", "payments", "--max-pending", "-1"), 1, "limits")
	hasAudit(t, db, "application.updated")
	mustOK(t, jitdesk(t, db, "app", "disable", "payments"))
	list := mustOK(t, jitdesk(t, db, "app", "list"))
	if !strings.Contains(list, "disabled") || !strings.Contains(list, "pending 5") || !strings.Contains(list, "https://new.test") {
		t.Fatalf("app list: %s", list)
	}
	hasAudit(t, db, "application.disabled")
	mustOK(t, jitdesk(t, db, "app", "enable", "payments"))
	if strings.Contains(mustOK(t, jitdesk(t, db, "app", "list")), "disabled") {
		t.Fatal("app enable did not take")
	}
}

func TestTemplateUpdateVersionsShowAndDisable(t *testing.T) {
	db := filepath.Join(t.TempDir(), "j.db")
	id := setup(t, db, 2, "approve")
	out := mustOK(t, jitdesk(t, db, "template", "update", "k8s", "--quorum", "2", "--title", "K8s exec v2", "--break-glass", "15m", "--break-glass-group", "sre"))
	if !strings.Contains(out, "version 2") {
		t.Fatalf("template update must print the new version: %s", out)
	}
	if out := mustOK(t, jitdesk(t, db, "template", "update", "k8s", "--quorum", "2")); !strings.Contains(out, "unchanged (version 2)") {
		t.Fatalf("no-op update: %s", out)
	}
	fail(t, jitdesk(t, db, "template", "update", "k8s", "--ttl", "forever"), 2, "--ttl")
	fail(t, jitdesk(t, db, "template", "update", "k8s"), 2, "nothing to change")
	fail(t, jitdesk(t, db, "template", "update", "k8s", "--approver", "ghost"), 1, "ghost")
	hasAudit(t, db, "template.updated")
	var v1, v2 map[string]any
	json.Unmarshal([]byte(mustOK(t, jitdesk(t, db, "--json", "template", "show", "k8s", "--version", "1"))), &v1)
	json.Unmarshal([]byte(mustOK(t, jitdesk(t, db, "--json", "template", "show", "k8s"))), &v2)
	if v1["quorum"] != float64(1) || v2["quorum"] != float64(2) || strings.Join(toStrings(v2["break_glass_groups"]), ",") != "sre" || v2["break_glass_max_ttl"] != "15m" {
		t.Fatalf("template show: v1 %v\nv2 %v", v1, v2)
	}
	var hist []map[string]any
	json.Unmarshal([]byte(mustOK(t, jitdesk(t, db, "--json", "template", "show", "k8s", "--versions"))), &hist)
	if len(hist) != 2 {
		t.Fatalf("template versions: %v", hist)
	}
	// The pending request stays on version 1: one approval still decides it.
	mustOK(t, jitdesk(t, db, "approve", id, "--as", "op0"))

	mustOK(t, jitdesk(t, db, "template", "disable", "k8s"))
	fail(t, jitdesk(t, db, "request", "create", "--template", "k8s", "--requester", "alice", "--reason", "again"), 1, "disabled")
	hasAudit(t, db, "template.disabled")
	if !strings.Contains(mustOK(t, jitdesk(t, db, "template", "list")), "disabled") {
		t.Fatal("template list must show the disabled state")
	}
	mustOK(t, jitdesk(t, db, "template", "enable", "k8s"))
	mustOK(t, jitdesk(t, db, "request", "create", "--template", "k8s", "--requester", "alice", "--reason", "again"))
}
