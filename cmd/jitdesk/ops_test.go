package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestOnCallUpdateRemoveOverrideCancelAndWhoIsNextAfterAnOverride(t *testing.T) {
	db := filepath.Join(t.TempDir(), "j.db")
	setup(t, db, 3, "approve")
	start := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	var added struct {
		Now struct {
			OnCall string `json:"on_call"`
		} `json:"now"`
	}
	json.Unmarshal([]byte(mustOK(t, jitdesk(t, db, "--json", "oncall", "add", "sre", "--member", "op0,op1", "--shift", "24h", "--start", start.Format(time.RFC3339)))), &added)
	if added.Now.OnCall != "op0" {
		t.Fatalf("oncall add --json: %+v", added)
	}
	// op2 takes the pager for an hour: after it, the schedule's op0 has it
	// again until the hand-over to op1 at start+24h.
	until := time.Now().UTC().Add(time.Hour).Truncate(time.Second)
	var ov map[string]any
	json.Unmarshal([]byte(mustOK(t, jitdesk(t, db, "--json", "oncall", "override", "sre", "--as", "op2", "--until", until.Format(time.RFC3339)))), &ov)
	if ov["login"] != "op2" || ov["until"] != until.Format(time.RFC3339) {
		t.Fatalf("override --json: %v", ov)
	}
	var who []map[string]any
	json.Unmarshal([]byte(mustOK(t, jitdesk(t, db, "--json", "oncall", "who", "sre"))), &who)
	if len(who) != 1 || who[0]["on_call"] != "op2" || who[0]["next"] != "op0" || who[0]["until"] != until.Format(time.RFC3339) {
		t.Fatalf("who during an override must name who holds the pager after it: %v", who)
	}
	out := mustOK(t, jitdesk(t, db, "oncall", "override", "cancel", "sre"))
	if !strings.Contains(out, "1 override(s) of sre cancelled; on call now: op0") {
		t.Fatalf("override cancel: %s", out)
	}
	fail(t, jitdesk(t, db, "oncall", "override", "cancel", "sre"), 1, "no override")
	hasAudit(t, db, "rotation.override_cancelled")

	mustOK(t, jitdesk(t, db, "oncall", "update", "sre", "--member", "op1,op0"))
	if out := mustOK(t, jitdesk(t, db, "oncall", "who")); !strings.Contains(out, "op1") {
		t.Fatalf("who after update: %s", out)
	}
	fail(t, jitdesk(t, db, "oncall", "update", "sre", "--member", "ghost"), 1, "ghost")
	fail(t, jitdesk(t, db, "oncall", "update", "sre", "--shift", "never"), 2, "--shift")
	hasAudit(t, db, "rotation.updated")

	mustOK(t, jitdesk(t, db, "template", "add", "pager", "--app", "payments", "--title", "Paged", "--type", "approve", "--oncall", "sre"))
	fail(t, jitdesk(t, db, "oncall", "remove", "sre"), 1, "pager")
	mustOK(t, jitdesk(t, db, "template", "update", "pager", "--oncall", "", "--group", "sre"))
	mustOK(t, jitdesk(t, db, "oncall", "remove", "sre"))
	hasAudit(t, db, "rotation.removed")
}

func TestRequestCancelShowAndListCarryTheDecisionAndGrantState(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "j.db")
	id := setup(t, db, 2, "approve")
	fail(t, jitdesk(t, db, "request", "cancel", id, "--as", "op0"), 2, "--reason")
	fail(t, jitdesk(t, db, "request", "cancel", id, "--as", "nobody", "--reason", "x"), 1, "nobody")
	mustOK(t, jitdesk(t, db, "request", "cancel", id, "--as", "op0", "--reason", "duplicate of OPS-2"))
	hasAudit(t, db, "request.cancelled")
	var d struct {
		Decision struct{ Outcome, By, Comment string } `json:"decision"`
	}
	json.Unmarshal([]byte(mustOK(t, jitdesk(t, db, "--json", "request", "show", id))), &d)
	if d.Decision.Outcome != "cancelled" || d.Decision.By != "op0" || d.Decision.Comment != "duplicate of OPS-2" {
		t.Fatalf("decision of a cancelled request: %+v", d)
	}
	if out := mustOK(t, jitdesk(t, db, "request", "show", id)); !strings.Contains(out, "cancelled by op0 at ") || !strings.Contains(out, "duplicate of OPS-2") {
		t.Fatalf("request show: %s", out)
	}

	id2 := strings.TrimSpace(mustOK(t, jitdesk(t, db, "request", "create", "--template", "k8s", "--requester", "alice", "--reason", "again", "--meta", "ticket=OPS-3")))
	mustOK(t, jitdesk(t, db, "deny", id2, "--as", "op1", "--comment", "not now"))
	if out := mustOK(t, jitdesk(t, db, "request", "show", id2)); strings.Contains(out, "denyd") || !strings.Contains(out, "op1 denied at") {
		t.Fatalf("a denial reads 'denied': %s", out)
	}
	id3 := strings.TrimSpace(mustOK(t, jitdesk(t, db, "request", "create", "--template", "k8s", "--requester", "alice", "--reason", "third", "--meta", "ticket=OPS-4")))
	mustOK(t, jitdesk(t, db, "approve", id3, "--as", "op0"))
	mustOK(t, jitdesk(t, db, "revoke", id3, "--as", "op1", "--reason", "done early"))
	var rows []map[string]any
	json.Unmarshal([]byte(mustOK(t, jitdesk(t, db, "--json", "request", "list", "--status", "approved"))), &rows)
	if len(rows) != 1 {
		t.Fatalf("approved rows: %v", rows)
	}
	gr, _ := rows[0]["grant"].(map[string]any)
	if gr["state"] != "revoked" || gr["revoked_by"] != "op1" || gr["revoke_reason"] != "done early" {
		t.Fatalf("list --json grant state: %v", rows[0])
	}
	if _, ok := gr["access_token"]; ok {
		t.Fatal("a list must not carry the token")
	}
	if out := mustOK(t, jitdesk(t, db, "request", "list")); !strings.Contains(out, "revoked by op1") {
		t.Fatalf("request list text lacks the grant state: %s", out)
	}
}

func TestTokenShowOnlyForTheIssuingApproverAndAudited(t *testing.T) {
	db := filepath.Join(t.TempDir(), "j.db")
	id := setup(t, db, 2, "approve")
	var appr map[string]any
	json.Unmarshal([]byte(mustOK(t, jitdesk(t, db, "--json", "approve", id, "--as", "op0"))), &appr)
	token, _ := appr["access_token"].(string)
	if strings.Count(token, ".") != 2 {
		t.Fatalf("approve --json must name the token access_token: %v", appr)
	}
	fail(t, jitdesk(t, db, "token", "show", id), 2, "--as")
	fail(t, jitdesk(t, db, "token", "show", id, "--as", "op1"), 1, "only to the approvers whose approval issued it")
	var shown map[string]any
	json.Unmarshal([]byte(mustOK(t, jitdesk(t, db, "--json", "token", "show", id, "--as", "op0"))), &shown)
	if shown["access_token"] != token || shown["state"] != "active" {
		t.Fatalf("token show --json: %v", shown)
	}
	hasAudit(t, db, "token.shown")
}

func TestSignatureExportWritesSVGAndPNG(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "j.db")
	id := setup(t, db, 1, "sign_and_approve")
	fail(t, jitdesk(t, db, "signature", "export", id, "--format", "svg"), 1, "no signature")
	mustOK(t, jitdesk(t, db, "approve", id, "--as", "op0", "--sign-typed", "Operator 0"))
	svg := mustOK(t, jitdesk(t, db, "signature", "export", id, "--format", "svg"))
	if !strings.Contains(svg, "<svg") || !strings.Contains(svg, "Signature of Operator 0") {
		t.Fatalf("svg: %.200s", svg)
	}
	png := filepath.Join(dir, "sig.png")
	var rep map[string]any
	json.Unmarshal([]byte(mustOK(t, jitdesk(t, db, "--json", "signature", "export", id, "--approver", "op0", "--format", "png", "-o", png))), &rep)
	b, err := os.ReadFile(png)
	if err != nil || !strings.HasPrefix(string(b), "\x89PNG") || rep["bytes"] != float64(len(b)) {
		t.Fatalf("png: %v %v %.8q", err, rep, b)
	}
	fail(t, jitdesk(t, db, "signature", "export", id, "--approver", "op9", "--format", "svg"), 1, "signed by: op0")
	fail(t, jitdesk(t, db, "signature", "export", id, "--format", "gif"), 2, "svg or png")
}

func TestUsageErrorsUnknownSubcommandsJSONErrorsAndInertStderr(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "j.db")
	mustOK(t, jitdesk(t, db, "init"))
	fail(t, jitdesk(t, db, "approver", "remove", "carol"), 2, `unknown command "remove"`)
	fail(t, jitdesk(t, db, "oncall", "frobnicate"), 2, "unknown command")
	if r := jitdesk(t, db, "approver"); r.code != 0 || !strings.Contains(r.stdout, "Available Commands") {
		t.Fatalf("a group alone prints its help: %+v", r)
	}
	r := jitdesk(t, db, "--json", "request", "show", "01JNOTAREQUEST0000000000000")
	var e struct {
		Error    string `json:"error"`
		ExitCode int    `json:"exit_code"`
	}
	if err := json.Unmarshal([]byte(r.stderr), &e); err != nil || r.code != 1 || e.ExitCode != 1 || !strings.Contains(e.Error, "not found") {
		t.Fatalf("--json error: %v %+v", err, r)
	}
	r = jitdesk(t, db, "--json", "request", "list", "--bogus")
	if err := json.Unmarshal([]byte(r.stderr), &e); err != nil || r.code != 2 || e.ExitCode != 2 {
		t.Fatalf("--json usage error: %v %+v", err, r)
	}
	r = jitdesk(t, db, "request", "show", "\x1b]52;c;aGk=\x07\u202e")
	if r.code != 1 || strings.ContainsAny(r.stderr, "\x1b\x07\u202e") || !strings.Contains(r.stderr, `\x1b]52`) {
		t.Fatalf("errors quoting outside text must be inert on stderr: %q", r.stderr)
	}
}

func TestDemoAndConsoleRefuseBadFlagsAndMissingTerminalCleanly(t *testing.T) {
	tmp := t.TempDir()
	env := []string{"TMPDIR=" + tmp}
	fail(t, jitdeskEnv(t, env, "demo", "--every", "0"), 2, "--every")
	// Run from a test there is no terminal: the demo says so and leaves
	// no folder behind.
	fail(t, jitdeskEnv(t, env, "demo"), 2, "needs a terminal")
	if ents, _ := os.ReadDir(tmp); len(ents) != 0 {
		t.Fatalf("demo left %v behind", ents)
	}
	db := filepath.Join(tmp, "j.db")
	mustOK(t, jitdesk(t, db, "init"))
	fail(t, jitdesk(t, db, "console", "--as", "x"), 2, "needs a terminal")
}

func TestCompletionOffersKeysLoginsAndRequestIDsFromTheDatabase(t *testing.T) {
	db := filepath.Join(t.TempDir(), "j.db")
	id := setup(t, db, 2, "approve")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"__complete", "template", "update", ""}, "k8s\tK8s exec"},
		{[]string{"__complete", "approver", "disable", "op"}, "op1\tOperator 1"},
		{[]string{"__complete", "approve", ""}, id},
		{[]string{"__complete", "approve", id, "--as", ""}, "op0"},
		{[]string{"__complete", "request", "list", "--status", ""}, "cancelled"},
		{[]string{"__complete", "request", "create", "--template", "k"}, "k8s"},
	} {
		if out := mustOK(t, jitdesk(t, db, c.args...)); !strings.Contains(out, c.want) {
			t.Errorf("%v: %q lacks %q", c.args, out, c.want)
		}
	}
}

func TestAuditCheckpointJSONRoundTripsThroughVerify(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "j.db")
	setup(t, db, 1, "approve")
	var cp struct{ Checkpoint, Verifier string }
	if err := json.Unmarshal([]byte(mustOK(t, jitdesk(t, db, "--json", "audit", "checkpoint"))), &cp); err != nil || cp.Checkpoint == "" || cp.Verifier == "" {
		t.Fatalf("checkpoint --json: %v %+v", err, cp)
	}
	f := filepath.Join(dir, "cp")
	os.WriteFile(f, []byte(cp.Checkpoint), 0o600)
	mustOK(t, jitdesk(t, db, "audit", "verify", "--checkpoint", f, "--verifier", cp.Verifier))
}

func TestErrorsSayAThingOnce(t *testing.T) {
	for _, c := range [][2]string{
		{`template "nope": template "nope": not found`, `template "nope": not found`},
		{"x: y: x: y", "x: y: x: y"},
	} {
		if got := sayOnce(c[0]); got != c[1] {
			t.Errorf("sayOnce(%q) = %q, want %q", c[0], got, c[1])
		}
	}
	db := filepath.Join(t.TempDir(), "j.db")
	mustOK(t, jitdesk(t, db, "init"))
	r := jitdesk(t, db, "template", "show", "nope")
	if r.code != 1 || strings.Count(r.stderr, "nope") != 1 {
		t.Fatalf("template show nope: %+v", r)
	}
}

func TestVersionNamesTheGoVersion(t *testing.T) {
	db := filepath.Join(t.TempDir(), "none.db") // version needs no database
	for _, args := range [][]string{{"version"}, {"--version"}} {
		out := mustOK(t, jitdesk(t, db, args...))
		if !strings.HasPrefix(out, "jitdesk ") || !strings.Contains(out, runtime.Version()) {
			t.Fatalf("%v printed %q", args, out)
		}
	}
}
