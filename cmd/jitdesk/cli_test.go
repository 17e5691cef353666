package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// The test binary doubles as the jitdesk binary: with JITDESK_TEST_MAIN set
// it runs the CLI, so tests start real, separate jitdesk processes.
func TestMain(m *testing.M) {
	if os.Getenv("JITDESK_TEST_MAIN") == "1" {
		os.Exit(run(os.Args[1:]))
	}
	os.Exit(m.Run())
}

type result struct {
	stdout, stderr string
	code           int
}

func jitdesk(t *testing.T, db string, args ...string) result {
	t.Helper()
	return jitdeskIn(t, db, "", args...)
}

func jitdeskIn(t *testing.T, db, stdin string, args ...string) result {
	t.Helper()
	return jitdeskWith(t, db, stdin, nil, args...)
}

// jitdeskWith runs the CLI with extra environment variables. A developer's
// own $SSH_AUTH_SOCK never reaches it (decisions would be key-signed by
// whatever agent the machine has): tests that want an agent pass one.
func jitdeskWith(t *testing.T, db, stdin string, env []string, args ...string) result {
	t.Helper()
	cmd := exec.Command(os.Args[0], append([]string{"--db", db}, args...)...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SSH_AUTH_SOCK=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "JITDESK_TEST_MAIN=1", "JITDESK_ISSUER=https://jitdesk.test")
	cmd.Env = append(cmd.Env, env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	cmd.Stdin = strings.NewReader(stdin)
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return result{out.String(), errb.String(), code}
}

func mustOK(t *testing.T, r result) string {
	t.Helper()
	if r.code != 0 {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

// setup runs the README walk-through up to a pending request and returns its id.
func setup(t *testing.T, db string, approvers int, typ string) string {
	t.Helper()
	mustOK(t, jitdesk(t, db, "init"))
	var app struct{ ID, Secret string }
	if err := json.Unmarshal([]byte(mustOK(t, jitdesk(t, db, "app", "add", "payments", "--audience", "https://payments.test", "--json"))), &app); err != nil {
		t.Fatal(err)
	}
	if app.ID == "" || app.Secret == "" {
		t.Fatalf("app add --json must give id and secret: %+v", app)
	}
	for i := 0; i < approvers; i++ {
		mustOK(t, jitdesk(t, db, "approver", "add", fmt.Sprintf("op%d", i), "--name", fmt.Sprintf("Operator %d", i), "--group", "sre"))
	}
	mustOK(t, jitdesk(t, db, "template", "add", "k8s", "--app", "payments", "--title", "K8s exec", "--type", typ, "--group", "sre", "--ttl", "30m", "--field", "ticket"))
	id := strings.TrimSpace(mustOK(t, jitdesk(t, db, "request", "create", "--template", "k8s", "--requester", "alice", "--reason", "debug OOM in checkout", "--meta", "ticket=OPS-1")))
	if len(id) != 26 {
		t.Fatalf("request create must print the id alone, got %q", id)
	}
	return id
}

func TestCLIWalkthroughFromInitToVerifiedAndRevokedToken(t *testing.T) {
	db := filepath.Join(t.TempDir(), "j.db")
	id := setup(t, db, 1, "approve")
	token := strings.TrimSpace(mustOK(t, jitdesk(t, db, "approve", id, "--as", "op0")))
	if strings.Count(token, ".") != 2 {
		t.Fatalf("approve must print the token alone, got %q", token)
	}
	if got := strings.TrimSpace(mustOK(t, jitdesk(t, db, "token", "show", id, "--as", "op0"))); got != token {
		t.Fatalf("token show gave a different token")
	}
	out := mustOK(t, jitdeskIn(t, db, token+"\n", "verify", "-"))
	if !strings.Contains(out, "valid — signed by kid") || !strings.Contains(out, `"sub": "alice"`) {
		t.Fatalf("verify output: %s", out)
	}
	mustOK(t, jitdesk(t, db, "revoke", id, "--as", "op0", "--reason", "done"))
	r := jitdesk(t, db, "verify", token)
	if r.code != 1 || !strings.Contains(r.stderr, "revoked") {
		t.Fatalf("verify of a revoked token: exit %d, %s", r.code, r.stderr)
	}
	mustOK(t, jitdesk(t, db, "audit", "verify"))
}

func TestSignAndApproveFromTheCLIWithATypedSignature(t *testing.T) {
	db := filepath.Join(t.TempDir(), "j.db")
	id := setup(t, db, 1, "sign_and_approve")
	r := jitdesk(t, db, "approve", id, "--as", "op0")
	if r.code != 1 || !strings.Contains(r.stderr, "signature required") {
		t.Fatalf("unsigned: exit %d %s", r.code, r.stderr)
	}
	r = jitdesk(t, db, "approve", id, "--as", "op0", "--sign-typed", "Someone Else")
	if r.code != 1 || !strings.Contains(r.stderr, "Operator 0") {
		t.Fatalf("wrong name: exit %d %s", r.code, r.stderr)
	}
	token := strings.TrimSpace(mustOK(t, jitdesk(t, db, "approve", id, "--as", "op0", "--sign-typed", "operator 0")))
	out := mustOK(t, jitdesk(t, db, "--json", "verify", token))
	if !strings.Contains(out, `"signature_digests"`) {
		t.Fatalf("token lacks signature digests: %s", out)
	}
}

func TestConcurrentApproveProcessesProduceExactlyOneGrant(t *testing.T) {
	db := filepath.Join(t.TempDir(), "j.db")
	const n = 6
	id := setup(t, db, n, "approve")
	results := make([]result, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			<-start
			results[i] = jitdesk(t, db, "approve", id, "--as", fmt.Sprintf("op%d", i))
		}(i)
	}
	close(start)
	wg.Wait()
	wins := 0
	for i, r := range results {
		switch {
		case r.code == 0 && strings.Count(strings.TrimSpace(r.stdout), ".") == 2:
			wins++
		case r.code == 1 && strings.Contains(r.stderr, "request is not pending: approved by op"):
		default:
			t.Errorf("process %d: exit %d stdout %q stderr %q", i, r.code, r.stdout, r.stderr)
		}
	}
	if wins != 1 {
		t.Fatalf("%d processes got a token, want exactly 1", wins)
	}
	var d struct {
		Reviews []any `json:"reviews"`
		Grant   any   `json:"grant"`
	}
	if err := json.Unmarshal([]byte(mustOK(t, jitdesk(t, db, "--json", "request", "show", id))), &d); err != nil {
		t.Fatal(err)
	}
	if len(d.Reviews) != 1 || d.Grant == nil {
		t.Fatalf("want one review and one grant, got %d reviews, grant %v", len(d.Reviews), d.Grant)
	}
	mustOK(t, jitdesk(t, db, "audit", "verify"))
}

func TestUsageErrorsExitTwoAndFailuresExitOne(t *testing.T) {
	db := filepath.Join(t.TempDir(), "j.db")
	if r := jitdesk(t, db, "request", "list"); r.code != 1 || !strings.Contains(r.stderr, "jitdesk init") {
		t.Fatalf("missing database: exit %d %q", r.code, r.stderr)
	}
	if _, err := os.Stat(db); !os.IsNotExist(err) {
		t.Fatal("a read command must not create the database")
	}
	mustOK(t, jitdesk(t, db, "init"))
	if out := mustOK(t, jitdesk(t, db, "init")); !strings.Contains(out, "already initialised") {
		t.Fatalf("second init: %q", out)
	}
	for _, args := range [][]string{
		{"request", "list", "--bogus"},
		{"approve"},
		{"approve", "X"},
		{"request", "list", "--status", "weird"},
		{"template", "add", "k", "--app", "a", "--title", "t", "--type", "maybe"},
	} {
		if r := jitdesk(t, db, args...); r.code != 2 {
			t.Errorf("%v: exit %d, want 2 (stderr %q)", args, r.code, r.stderr)
		}
	}
	if r := jitdesk(t, db, "approve", "01JNOTAREQUEST0000000000000", "--as", "x"); r.code != 1 || !strings.Contains(r.stderr, "not found") {
		t.Fatalf("unknown request: exit %d %q", r.code, r.stderr)
	}
}

func TestAuditCheckpointIsExtendedByLaterEvents(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "j.db")
	id := setup(t, db, 1, "approve")
	cp := filepath.Join(dir, "cp1")
	if err := os.WriteFile(cp, []byte(mustOK(t, jitdesk(t, db, "audit", "checkpoint"))), 0o600); err != nil {
		t.Fatal(err)
	}
	mustOK(t, jitdesk(t, db, "approve", id, "--as", "op0"))
	out := mustOK(t, jitdesk(t, db, "audit", "verify", "--checkpoint", cp))
	if !strings.Contains(out, "extends checkpoint") {
		t.Fatalf("verify output: %s", out)
	}
	if fi, err := os.Stat(filepath.Join(dir, "audit-checkpoint.key")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("checkpoint key must be created 0600: %v %v", fi, err)
	}
}

func TestJSONOutputEscapesTerminalControlsFromRequests(t *testing.T) {
	db := filepath.Join(t.TempDir(), "j.db")
	setup(t, db, 1, "approve")
	id := strings.TrimSpace(mustOK(t, jitdesk(t, db, "request", "create", "--template", "k8s", "--requester", "eve",
		"--reason", "fix\u202egnp.exe \u009b31m now")))
	for _, args := range [][]string{{"--json", "request", "show", id}, {"request", "show", id}} {
		out := mustOK(t, jitdesk(t, db, args...))
		if strings.ContainsAny(out, "\u202e\u009b") {
			t.Fatalf("%v printed raw bidi/C1 characters: %q", args, out)
		}
		if !strings.Contains(out, `u202e`) {
			t.Fatalf("%v hid the bidi override instead of showing it: %q", args, out)
		}
	}
	var v map[string]any
	if err := json.Unmarshal([]byte(mustOK(t, jitdesk(t, db, "--json", "request", "show", id))), &v); err != nil || v["reason"] != "fix\u202egnp.exe \u009b31m now" {
		t.Fatalf("escaped JSON must still carry the exact reason: %v %q", err, v["reason"])
	}
}

func TestBreakGlassFromTheCLIAndItsPostReview(t *testing.T) {
	db := filepath.Join(t.TempDir(), "j.db")
	setup(t, db, 2, "approve")
	mustOK(t, jitdesk(t, db, "template", "add", "prod", "--app", "payments", "--title", "Prod root", "--type", "approve", "--group", "sre", "--ttl", "2h", "--break-glass", "30m"))
	id := strings.TrimSpace(mustOK(t, jitdesk(t, db, "request", "create", "--template", "prod", "--requester", "op0", "--reason", "prod down")))
	if r := jitdesk(t, db, "approve", id, "--as", "op0", "--break-glass"); r.code != 2 {
		t.Fatalf("break-glass without signature and reason must be a usage error: %d %s", r.code, r.stderr)
	}
	token := strings.TrimSpace(mustOK(t, jitdesk(t, db, "approve", id, "--as", "op0", "--break-glass", "--sign-typed", "Operator 0", "--comment", "database down, on-call unreachable")))
	if out := mustOK(t, jitdesk(t, db, "--json", "verify", token)); !strings.Contains(out, `"break_glass": true`) {
		t.Fatalf("token lacks break_glass: %s", out)
	}
	var waiting []map[string]any
	json.Unmarshal([]byte(mustOK(t, jitdesk(t, db, "--json", "breakglass", "list"))), &waiting)
	if len(waiting) != 1 {
		t.Fatalf("awaiting review: %v", waiting)
	}
	if r := jitdesk(t, db, "breakglass", "ack", id, "--as", "op0", "--comment", "me"); r.code != 1 {
		t.Fatalf("self review must fail: %d %s", r.code, r.stderr)
	}
	mustOK(t, jitdesk(t, db, "breakglass", "ack", id, "--as", "op1", "--comment", "checked the incident"))
	if out := mustOK(t, jitdesk(t, db, "--json", "breakglass", "list")); strings.TrimSpace(out) != "[]" {
		t.Fatalf("still waiting after ack: %s", out)
	}
	mustOK(t, jitdesk(t, db, "audit", "verify"))
}
