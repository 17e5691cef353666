package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/jitdesk/jitdesk/approvals"
	"github.com/jitdesk/jitdesk/store"
	"github.com/jitdesk/jitdesk/tokens"
)

// testPolicy declares one of each object apply makes secrets for, and
// the objects a template needs.
const testPolicy = `version: 1
applications:
  payments:
    audience: https://payments.test
approvers:
  alice:
    name: Alice Example
    groups: [sre]
templates:
  k8s-exec:
    app: payments
    title: Kubernetes exec
    groups: [sre]
    default_ttl: 30m
webhooks:
  https://hooks.example.com/jitdesk:
    events: [request.created]
`

func writePolicy(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// openInProcess opens the CLI's database here, with the master key from
// the key file beside it, as the CLI would.
func openInProcess(t *testing.T, db string) (*approvals.Service, *store.DB) {
	t.Helper()
	k, _, err := tokens.LoadOrCreateMasterKeyFile(db+masterKeySuffix, false)
	if err != nil {
		t.Fatal(err)
	}
	sdb, err := store.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sdb.Close() })
	return approvals.New(sdb, approvals.Options{Issuer: "https://jitdesk.test", Sealer: tokens.NewSealer(k)}), sdb
}

var secretLine = regexp.MustCompile(`(?m)^  (application|webhook) "([^"]+)" \((\w+)\): (\S+)$`)

func TestApplyDryRunWritesNothingAndApplyingTwiceChangesNothingTheSecondTime(t *testing.T) {
	db := filepath.Join(t.TempDir(), "j.db")
	mustOK(t, jitdesk(t, db, "init"))
	file := writePolicy(t, testPolicy)

	dry := mustOK(t, jitdesk(t, db, "apply", "-f", file, "--dry-run"))
	for _, want := range []string{`create application "payments"`, `create template "k8s-exec"`, "Plan: 4 to create", "Dry run: nothing was written"} {
		if !strings.Contains(dry, want) {
			t.Fatalf("dry run output lacks %q:\n%s", want, dry)
		}
	}
	if strings.Contains(dry, "jds_") || strings.Contains(dry, "whsec_") {
		t.Fatalf("a dry run printed secrets of objects it did not keep:\n%s", dry)
	}
	if out := mustOK(t, jitdesk(t, db, "--json", "app", "list")); strings.TrimSpace(out) != "[]" {
		t.Fatalf("a dry run wrote applications: %s", out)
	}
	if out := mustOK(t, jitdesk(t, db, "apply", "-f", file, "--dry-run")); out != dry {
		t.Fatalf("a second dry run planned differently, so the first wrote something:\n%s\nthen:\n%s", dry, out)
	}

	applied := mustOK(t, jitdesk(t, db, "apply", "-f", file))
	if !strings.Contains(applied, "Plan: 4 to create") || !strings.Contains(applied, "Applied.") {
		t.Fatalf("apply output:\n%s", applied)
	}
	if out := mustOK(t, jitdesk(t, db, "apply", "-f", file)); out != "No changes.\n" {
		t.Fatalf("applying the same file again: %q, want \"No changes.\\n\"", out)
	}
	if out := mustOK(t, jitdesk(t, db, "apply", "-f", file, "--dry-run")); !strings.HasPrefix(out, "No changes.\n") {
		t.Fatalf("a dry run after applying: %q", out)
	}
}

func TestApplyPrintsEachNewSecretOnceAndTheyAuthenticate(t *testing.T) {
	db := filepath.Join(t.TempDir(), "j.db")
	mustOK(t, jitdesk(t, db, "init"))
	file := writePolicy(t, testPolicy)
	out := mustOK(t, jitdesk(t, db, "apply", "-f", file))
	got := secretLine.FindAllStringSubmatch(out, -1)
	if len(got) != 2 || got[0][1] != "application" || got[1][1] != "webhook" {
		t.Fatalf("want one application and one webhook secret line, got %q in:\n%s", got, out)
	}
	app, hook := got[0], got[1]
	if app[2] != "payments" || !strings.HasPrefix(app[4], "jds_") || hook[2] != "https://hooks.example.com/jitdesk" || !strings.HasPrefix(hook[4], "whsec_") {
		t.Fatalf("secret lines: %q", got)
	}
	for _, s := range []string{app[4], hook[4]} {
		if n := strings.Count(out, s); n != 1 {
			t.Fatalf("secret printed %d times, want once:\n%s", n, out)
		}
	}
	svc, _ := openInProcess(t, db)
	if _, err := svc.AuthenticateClient(context.Background(), app[3], app[4]); err != nil {
		t.Fatalf("the printed application secret does not authenticate: %v", err)
	}
	if _, err := svc.AuthenticateClient(context.Background(), app[3], app[4]+"x"); err == nil {
		t.Fatal("a wrong secret authenticated: the check above proves nothing")
	}

	// A changed file prints secrets only for what it creates.
	more := writePolicy(t, testPolicy+"  https://siem.example.com/ingest: {}\n")
	var res struct {
		Plan struct {
			Changes []struct{ Action, Kind, Key string }
		}
		Secrets []struct{ Kind, Key, ID, Secret string }
		DryRun  bool `json:"dry_run"`
	}
	if err := json.Unmarshal([]byte(mustOK(t, jitdesk(t, db, "--json", "apply", "-f", more, "--dry-run"))), &res); err != nil {
		t.Fatal(err)
	}
	if !res.DryRun || len(res.Plan.Changes) != 1 || len(res.Secrets) != 0 {
		t.Fatalf("--json dry run: %+v", res)
	}
	res.DryRun = true
	if err := json.Unmarshal([]byte(mustOK(t, jitdesk(t, db, "--json", "apply", "-f", more))), &res); err != nil {
		t.Fatal(err)
	}
	if res.DryRun || len(res.Secrets) != 1 || res.Secrets[0].Kind != "webhook" || res.Secrets[0].Key != "https://siem.example.com/ingest" || !strings.HasPrefix(res.Secrets[0].Secret, "whsec_") {
		t.Fatalf("--json apply of one new webhook: %+v", res)
	}
}

func TestExportPipedIntoApplyChangesNothing(t *testing.T) {
	db := filepath.Join(t.TempDir(), "j.db")
	mustOK(t, jitdesk(t, db, "init"))
	mustOK(t, jitdesk(t, db, "apply", "-f", "../../policy/testdata/policy.yaml"))
	exported := mustOK(t, jitdesk(t, db, "export"))
	if strings.Contains(exported, "jds_") || strings.Contains(exported, "whsec_") || !strings.Contains(exported, "db-write:") {
		t.Fatalf("export:\n%s", exported)
	}
	if out := mustOK(t, jitdeskIn(t, db, exported, "apply", "-f", "-")); out != "No changes.\n" {
		t.Fatalf("export | apply -f -: %q", out)
	}
	asJSON := mustOK(t, jitdesk(t, db, "--json", "export"))
	var v map[string]any
	if err := json.Unmarshal([]byte(asJSON), &v); err != nil || v["version"] != float64(1) {
		t.Fatalf("export --json is not the document as JSON: %v\n%s", err, asJSON)
	}
	if out := mustOK(t, jitdeskIn(t, db, asJSON, "apply", "-f", "-")); out != "No changes.\n" {
		t.Fatalf("export --json | apply -f -: %q", out)
	}
}

func TestABadPolicyFileExitsOneListingEveryProblemByLine(t *testing.T) {
	db := filepath.Join(t.TempDir(), "j.db")
	mustOK(t, jitdesk(t, db, "init"))
	file := writePolicy(t, "version: 1\napplications:\n  payments:\n    audience: https://payments.test\n    secret: hunter2\ntemplates:\n  k:\n    app: nowhere\n    title: T\n    groups: [sre]\n    quorum: 50\n")
	r := jitdesk(t, db, "apply", "-f", file)
	if r.code != 1 || r.stdout != "" {
		t.Fatalf("bad file: exit %d, stdout %q", r.code, r.stdout)
	}
	lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
	if len(lines) < 2 {
		t.Fatalf("want each problem on its own line, got:\n%s", r.stderr)
	}
	for _, want := range []string{file + `:5: application "payments": field "secret" is not part of a policy`, file + `:11: template "k": quorum 50`} {
		if !strings.Contains(r.stderr, "jitdesk: "+want) {
			t.Fatalf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	for _, l := range lines {
		if !strings.HasPrefix(l, "jitdesk: "+file+":") {
			t.Fatalf("a problem line without file:line: %q", l)
		}
	}

	var je struct {
		Error    string
		ExitCode int `json:"exit_code"`
		Problems []struct {
			File, Object, Message, Hint string
			Line                        int
		}
	}
	r = jitdeskIn(t, db, "version: 1\napprovers:\n  bob:\n    email: b@example.com\n", "--json", "apply", "-f", "-")
	if err := json.Unmarshal([]byte(r.stderr), &je); err != nil || r.code != 1 {
		t.Fatalf("--json problems: exit %d, %v: %s", r.code, err, r.stderr)
	}
	if len(je.Problems) != 1 || je.Problems[0].File != stdinName || je.Problems[0].Line != 3 || je.Problems[0].Object != `approver "bob"` || je.ExitCode != 1 {
		t.Fatalf("--json problems: %+v", je)
	}

	// References are checked against the database: still nothing written.
	r = jitdesk(t, db, "apply", "-f", writePolicy(t, "version: 1\ntemplates:\n  k:\n    app: nowhere\n    title: T\n    groups: [sre]\n"))
	if r.code != 1 || !strings.Contains(r.stderr, `:4: template "k"`) || !strings.Contains(r.stderr, "nowhere") {
		t.Fatalf("unknown application: exit %d\n%s", r.code, r.stderr)
	}
	if r := jitdesk(t, db, "apply"); r.code != 2 {
		t.Fatalf("apply without -f: exit %d, want 2", r.code)
	}
	if r := jitdesk(t, db, "apply", "-f", filepath.Join(t.TempDir(), "missing.yaml")); r.code != 1 || !strings.Contains(r.stderr, "missing.yaml") {
		t.Fatalf("missing file: exit %d %q", r.code, r.stderr)
	}
}

func TestHelpListsApplyAndExport(t *testing.T) {
	out := mustOK(t, jitdesk(t, filepath.Join(t.TempDir(), "j.db"), "--help"))
	for _, want := range []string{"\n  apply ", "\n  export "} {
		if !strings.Contains(out, want) {
			t.Fatalf("--help lacks %q:\n%s", want, out)
		}
	}
}

func TestExportedYAMLShowsNoBidiOrZeroWidthCharacterRawAndMeansTheSame(t *testing.T) {
	in := "version: 1\napprovers:\n  zed:\n    name: \"Zed \u202eevil\u200b x\"\n    email: zed@example.com\n"
	out, err := inertYAML([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if strings.ContainsAny(string(out), "\u202e\u200b") || !strings.Contains(string(out), `\u202e`) {
		t.Fatalf("inertYAML left a raw character or hid it:\n%s", out)
	}
	var a, b any
	if err := yaml.Unmarshal([]byte(in), &a); err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(out, &b); err != nil {
		t.Fatalf("inertYAML output is not YAML: %v\n%s", err, out)
	}
	if ja, _ := json.Marshal(a); string(ja) != func() string { jb, _ := json.Marshal(b); return string(jb) }() {
		t.Fatalf("inertYAML changed the meaning:\n%s\nbecame\n%s", in, out)
	}
	plain := []byte("version: 1\n")
	if got, _ := inertYAML(plain); string(got) != string(plain) {
		t.Fatalf("plain YAML changed: %q", got)
	}
}
