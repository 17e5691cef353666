package policy_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	mathrand "math/rand"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/jitdesk/jitdesk/approvals"
	"github.com/jitdesk/jitdesk/policy"
	"github.com/jitdesk/jitdesk/store"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata")

var t0 = time.Date(2026, 11, 28, 14, 0, 0, 0, time.UTC)

type fixture struct {
	t   *testing.T
	ctx context.Context
	svc *approvals.Service
}

// newFixture builds a Service over a fresh, initialised SQLite database,
// with a fixed clock and id source so plans naming ids are golden.
func newFixture(t *testing.T) *fixture {
	t.Helper()
	db, err := store.Open(filepath.Join(t.TempDir(), "jitdesk.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	f := &fixture{t: t, ctx: context.Background(), svc: approvals.New(db, approvals.Options{Clock: approvals.NewManualClock(t0), Issuer: "https://jitdesk.test", Entropy: mathrand.New(mathrand.NewSource(1))})}
	if _, err := f.svc.Init(f.ctx, "test"); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) parse(name string) *policy.Document {
	f.t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		f.t.Fatal(err)
	}
	doc, err := policy.Parse(name, data)
	if err != nil {
		f.t.Fatalf("parse %s: %v", name, err)
	}
	return doc
}

func (f *fixture) apply(doc *policy.Document, opts policy.Options) policy.Result {
	f.t.Helper()
	if opts.Actor == "" {
		opts.Actor = "operator"
	}
	res, err := policy.Apply(f.ctx, f.svc, doc, opts)
	if err != nil {
		f.t.Fatalf("apply: %v", err)
	}
	return res
}

// auditHead is the newest audit event's seq: unchanged means nothing was written.
func (f *fixture) auditHead() int64 {
	f.t.Helper()
	evs, err := f.svc.AuditLog(f.ctx, 0, 1)
	if err != nil {
		f.t.Fatal(err)
	}
	if len(evs) == 0 {
		return 0
	}
	return evs[0].Seq
}

func render(t *testing.T, p policy.Plan) string {
	t.Helper()
	var b bytes.Buffer
	if err := p.Render(&b); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./policy -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs (go test ./policy -update rewrites it):\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

func TestApplyPlansGolden(t *testing.T) {
	f := newFixture(t)
	// Creating everything from an empty database.
	dry := f.apply(f.parse("policy.yaml"), policy.Options{DryRun: true})
	golden(t, "create.golden", render(t, dry.Plan))
	real := f.apply(f.parse("policy.yaml"), policy.Options{})
	if got, want := render(t, real.Plan), render(t, dry.Plan); got != want {
		t.Fatalf("the applied plan differs from the dry run's:\n%s\nvs\n%s", got, want)
	}
	// Changing fields, keys, groups, members, template terms, events.
	v2 := f.parse("policy-v2.yaml")
	golden(t, "update.golden", render(t, f.apply(v2, policy.Options{DryRun: true}).Plan))
	// The same with --prune also disables what v2 leaves out.
	golden(t, "update-prune.golden", render(t, f.apply(v2, policy.Options{DryRun: true, Prune: true}).Plan))
}

func TestApplyingTheSameFileTwiceReportsNoChanges(t *testing.T) {
	for _, name := range []string{"policy.yaml", "policy-v2.yaml"} {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t)
			if name == "policy-v2.yaml" {
				f.apply(f.parse("policy.yaml"), policy.Options{})
			}
			first := f.apply(f.parse(name), policy.Options{Prune: true})
			if first.Plan.Empty() {
				t.Fatal("the first apply changed nothing")
			}
			head := f.auditHead()
			second := f.apply(f.parse(name), policy.Options{Prune: true})
			if !second.Plan.Empty() {
				t.Fatalf("second apply of %s is not empty:\n%s", name, render(t, second.Plan))
			}
			if got := render(t, second.Plan); got != "No changes.\n" {
				t.Fatalf("empty plan renders %q", got)
			}
			if f.auditHead() != head || len(second.Secrets) != 0 {
				t.Fatal("an apply with no changes wrote audit events or made secrets")
			}
		})
	}
}

func TestDryRunWritesNothing(t *testing.T) {
	f := newFixture(t)
	head := f.auditHead()
	res := f.apply(f.parse("policy.yaml"), policy.Options{DryRun: true})
	if res.Plan.Empty() || !res.DryRun {
		t.Fatal("the dry run planned nothing")
	}
	if len(res.Secrets) != 0 {
		t.Fatal("a dry run returned secrets of objects it did not keep")
	}
	if f.auditHead() != head {
		t.Fatal("a dry run appended audit events")
	}
	if _, err := f.svc.Application(f.ctx, "payments"); !errors.Is(err, approvals.ErrNotFound) {
		t.Fatalf("a dry run created an application: %v", err)
	}
	if _, err := f.svc.Approver(f.ctx, "alice"); !errors.Is(err, approvals.ErrNotFound) {
		t.Fatalf("a dry run created an approver: %v", err)
	}
	// And the real run then makes exactly that plan.
	if got := render(t, f.apply(f.parse("policy.yaml"), policy.Options{}).Plan); got != render(t, res.Plan) {
		t.Fatal("the real run's plan differs from the dry run's")
	}
}

func TestApplyReturnsNewSecretsOnceAndExportHasNone(t *testing.T) {
	f := newFixture(t)
	res := f.apply(f.parse("policy.yaml"), policy.Options{})
	kinds := map[policy.Kind]int{}
	for _, s := range res.Secrets {
		kinds[s.Kind]++
		if s.Value == "" || s.ID == "" {
			t.Fatalf("secret without value or id: %s", s)
		}
		if strings.Contains(s.String(), s.Value) || strings.Contains(strings.ReplaceAll(fmtV(s), " ", ""), s.Value) {
			t.Fatal("printing a Secret shows the secret")
		}
	}
	if kinds[policy.KindApplication] != 2 || kinds[policy.KindWebhook] != 2 {
		t.Fatalf("secrets: %v, want 2 applications and 2 webhooks", kinds)
	}
	// The application's secret is the one it signs intake tokens with.
	var pay policy.Secret
	for _, s := range res.Secrets {
		if s.Key == "payments" {
			pay = s
		}
	}
	app, err := f.svc.Application(f.ctx, "payments")
	if err != nil || approvals.PrintedSecret(app.Secret, app.SecretFormat) != pay.Value || app.ID != pay.ID {
		t.Fatalf("payments secret does not match the stored one (%v)", err)
	}
	doc, err := policy.Export(f.ctx, f.svc)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := doc.Encode(&b); err != nil {
		t.Fatal(err)
	}
	for _, s := range res.Secrets {
		if strings.Contains(b.String(), s.Value) {
			t.Fatalf("export printed the secret of %s", s.Key)
		}
	}
	if strings.Contains(b.String(), "jds_") || strings.Contains(b.String(), "whsec_") {
		t.Fatal("export printed something secret-shaped")
	}
}

func fmtV(s policy.Secret) string { return strings.TrimSpace(s.String()) }

func TestExportThenApplyReportsNoChanges(t *testing.T) {
	f := newFixture(t)
	// State made through the Service directly, not by a policy, including
	// what a policy cannot write in one go: a disabled application, a
	// removed key, a disabled approver, a removed rotation and webhook.
	ctx := f.ctx
	app, err := f.svc.CreateApplication(ctx, "t", "ledger", "https://ledger.test")
	must(t, err)
	limits := approvals.AppLimits{MaxPending: 7, RatePerSecond: 1.5, Burst: 3, MaxLongPolls: 2}
	_, err = f.svc.UpdateApp(ctx, "t", app.ID, approvals.AppUpdate{Limits: &limits})
	must(t, err)
	_, err = f.svc.CreateApplication(ctx, "t", "old app", "https://old.test")
	must(t, err)
	_, err = f.svc.SetAppEnabled(ctx, "t", "old app", false)
	must(t, err)
	k1, err := approvals.ParseSSHKey("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIqI4910CfGV/VLbLTy6XXLKZwm/HZQSG/N0iAG0D29c")
	must(t, err)
	must(t, f.svc.AddApprover(ctx, "t", approvals.Approver{Login: "alice", Name: "Alice Example", Email: "alice@example.com", Groups: []string{"sre", "dba"}, SSHKeys: []approvals.SSHKey{k1}}))
	_, err = f.svc.AddApproverKey(ctx, "t", "alice", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIE5dw6ofRdfVqNUZsNMfszLjYqRtO43ol32D1uPybOU alice@desk")
	must(t, err)
	_, err = f.svc.RemoveApproverKey(ctx, "t", "alice", k1.Fingerprint)
	must(t, err)
	must(t, f.svc.AddApprover(ctx, "t", approvals.Approver{Login: "bob", Name: "Bob Builder", Groups: []string{"sre"}, Auditor: true}))
	must(t, f.svc.AddApprover(ctx, "t", approvals.Approver{Login: "dave", Name: "Dave Gone"}))
	_, err = f.svc.SetApproverEnabled(ctx, "t", "dave", false)
	must(t, err)
	must(t, f.svc.AddRotation(ctx, "t", approvals.Rotation{Name: "primary", Members: []string{"bob", "alice"}, Shift: 90*time.Minute + 30*time.Second, Start: t0.Add(1500 * time.Millisecond)}))
	must(t, f.svc.AddRotation(ctx, "t", approvals.Rotation{Name: "gone", Members: []string{"bob"}, Shift: 24 * time.Hour, Start: t0}))
	must(t, f.svc.RemoveRotation(ctx, "t", "gone"))
	must(t, f.svc.AddTemplate(ctx, "t", approvals.Template{Key: "db", AppID: "ledger", Title: "DB write", Name: "Database write", Type: approvals.TypeSignAndApprove,
		Approvers: []string{"bob", "alice"}, Groups: []string{"dba"}, OnCall: []string{"primary"}, Quorum: 2, DefaultTTL: 45 * time.Minute, MaxTTL: 3 * 24 * time.Hour,
		PendingTimeout: 2 * time.Hour, MinReason: 5, Fields: []approvals.MetadataField{{Name: "ticket", Required: true}, {Name: "env", Default: "prod"}},
		BreakGlassMaxTTL: 20 * time.Minute, BreakGlassGroups: []string{"sre", "dba"}, EscalateAfter: 10 * time.Minute, EscalateGroup: "sre"}))
	must(t, f.svc.AddTemplate(ctx, "t", approvals.Template{Key: "old", AppID: "ledger", Title: "Old", Type: approvals.TypeApprove, Groups: []string{"sre"}}))
	_, err = f.svc.SetTemplateEnabled(ctx, "t", "old", false)
	must(t, err)
	_, err = f.svc.AddWebhook(ctx, "t", "https://hooks.test/a", []string{"request.decided", "request.created"})
	must(t, err)
	gone, err := f.svc.AddWebhook(ctx, "t", "https://hooks.test/gone", nil)
	must(t, err)
	_, err = f.svc.RemoveWebhook(ctx, "t", gone.ID)
	must(t, err)
	_, err = f.svc.AddWebhook(ctx, "t", "https://hooks.test/all", nil)
	must(t, err)

	doc, err := policy.Export(ctx, f.svc)
	must(t, err)
	var b bytes.Buffer
	must(t, doc.Encode(&b))
	golden(t, "export.golden", b.String())

	parsed, err := policy.Parse("exported.yaml", b.Bytes())
	if err != nil {
		t.Fatalf("the export does not parse:\n%v\n%s", err, b.String())
	}
	head := f.auditHead()
	for _, prune := range []bool{false, true} {
		res := f.apply(parsed, policy.Options{Prune: prune})
		if !res.Plan.Empty() {
			t.Fatalf("export | apply (prune %v) is not empty:\n%s", prune, render(t, res.Plan))
		}
	}
	if f.auditHead() != head {
		t.Fatal("export | apply wrote audit events")
	}
	// Exporting the Document itself (not its text) round-trips too.
	res := f.apply(doc, policy.Options{Prune: true})
	if !res.Plan.Empty() {
		t.Fatalf("Export → Apply is not empty:\n%s", render(t, res.Plan))
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestAFailingChangeLeavesNothing(t *testing.T) {
	f := newFixture(t)
	head := f.auditHead()
	// The application and approvers are fine; the template's quorum needs
	// three of two named approvers, which only the Service refuses, after
	// the first changes ran in the same transaction.
	src := `version: 1
applications:
  ledger:
    audience: https://ledger.test
approvers:
  alice: {name: Alice Example}
  bob: {name: Bob Builder}
templates:
  iam:
    app: ledger
    title: IAM admin
    approvers: [alice, bob]
    quorum: 3
`
	doc, err := policy.Parse("quorum.yaml", []byte(src))
	must(t, err)
	_, err = policy.Apply(f.ctx, f.svc, doc, policy.Options{Actor: "operator"})
	var pe *policy.Error
	if !errors.As(err, &pe) || len(pe.Problems) != 1 {
		t.Fatalf("apply: %v, want one *policy.Error problem", err)
	}
	if p := pe.Problems[0]; p.Line != 9 || p.Object != `template "iam"` || !errors.Is(err, approvals.ErrInvalid) {
		t.Fatalf("problem %s (line %d), want template \"iam\" at line 9 wrapping ErrInvalid", p, p.Line)
	}
	if f.auditHead() != head {
		t.Fatal("a refused apply left audit events")
	}
	if _, err := f.svc.Application(f.ctx, "ledger"); !errors.Is(err, approvals.ErrNotFound) {
		t.Fatalf("a refused apply left the application behind: %v", err)
	}
	if _, err := f.svc.Approver(f.ctx, "alice"); !errors.Is(err, approvals.ErrNotFound) {
		t.Fatalf("a refused apply left an approver behind: %v", err)
	}
}

func problemsOf(t *testing.T, err error) string {
	t.Helper()
	var pe *policy.Error
	if !errors.As(err, &pe) {
		t.Fatalf("error %v is not a *policy.Error", err)
	}
	return pe.Error() + "\n"
}

func TestParseRefusesEveryMistakeWithItsLine(t *testing.T) {
	data, err := os.ReadFile("testdata/mistakes.yaml")
	must(t, err)
	doc, err := policy.Parse("mistakes.yaml", data)
	if doc != nil || err == nil {
		t.Fatal("a file full of mistakes parsed")
	}
	got := problemsOf(t, err)
	golden(t, "mistakes.golden", got)
	// Each kind of mistake is there, on the line that holds it.
	for _, want := range []string{
		`mistakes.yaml:1: version 2 is not supported`,
		`mistakes.yaml:5: application "payments": field "secret" is not part of a policy`,
		`mistakes.yaml:7: application "payments": limits.max_pending: "lots" is not a whole number`,
		`mistakes.yaml:8: applications: each key must be a non-empty string`,
		`mistakes.yaml:13: approver "alice": group "Bad Group" is not a valid group name`,
		`mistakes.yaml:15: approver "alice": keys[0] is not an SSH public key`,
		`mistakes.yaml:16: approver "bob": name is required`,
		`mistakes.yaml:18: approver "bob": auditor: "maybe" is not true or false`,
		`mistakes.yaml:19: approver "system:sweeper": not a valid login`,
		`mistakes.yaml:23: rotation "sre-primary": members: found a single value`,
		`mistakes.yaml:24: rotation "sre-primary": shift "forever" is not a duration`,
		`mistakes.yaml:25: rotation "sre-primary": start "next monday" is not a time`,
		`mistakes.yaml:30: template "db-write": type "sign_and_aprove" is not a template type`,
		`mistakes.yaml:31: template "db-write": unknown field "aprovers" (did you mean "approvers"?)`,
		`mistakes.yaml:32: template "db-write": quorum 50 is out of range`,
		`mistakes.yaml:33: template "db-write": default_ttl 10h is longer than max_ttl 2h`,
		`mistakes.yaml:35: template "db-write": pending_timeout "30s" is not a duration of at least 1m`,
		`mistakes.yaml:38: template "db-write": field "ticket" is given twice`,
		`mistakes.yaml:27: template "db-write": nobody could ever approve it`,
		`mistakes.yaml:39: template "db-write": fields[1]: unknown field "requird" (did you mean "required"?)`,
		`mistakes.yaml:44: template "k8s-exec": declared twice (first at line 40)`,
		`mistakes.yaml:48: webhook "ftp://hooks.example.com/jitdesk": not a usable URL`,
		`mistakes.yaml:51: webhook "https://hooks.example.com/ok": events: "request.made" is not an event type`,
		`mistakes.yaml:52: webhook "https://hooks.example.com/ok": field "secret" is not part of a policy`,
		`mistakes.yaml:53: unknown section "policies"`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing problem %q", want)
		}
	}
}

func TestApplyRefusesUnknownReferencesBeforeWriting(t *testing.T) {
	f := newFixture(t)
	head := f.auditHead()
	_, err := policy.Apply(f.ctx, f.svc, f.parse("references.yaml"), policy.Options{Actor: "operator"})
	got := problemsOf(t, err)
	golden(t, "references.golden", got)
	for _, want := range []string{
		`references.yaml:8: rotation "sre-primary": member "zed" is neither in this file nor in the database`,
		`references.yaml:13: template "db-write": application "ledger" is neither in this file nor in the database`,
		`references.yaml:15: template "db-write": approver "mallory" is neither in this file nor in the database`,
		`references.yaml:16: template "db-write": groups: no approver (in this file or the database) is in group "dba"`,
		`references.yaml:17: template "db-write": rotation "sre-secondary" is neither in this file nor in the database`,
		`references.yaml:19: template "db-write": escalate_group: no approver (in this file or the database) is in group "managers"`,
		`references.yaml:20: template "db-write": break_glass_groups: no approver (in this file or the database) is in group "security"`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing problem %q", want)
		}
	}
	if f.auditHead() != head {
		t.Fatal("a refused apply wrote something")
	}
	// A reference the database satisfies is no mistake: the same file
	// applies once the missing objects exist there.
	_, err = f.svc.CreateApplication(f.ctx, "t", "ledger", "https://ledger.test")
	must(t, err)
	for _, a := range []approvals.Approver{{Login: "zed", Name: "Zed Z"}, {Login: "mallory", Name: "Mal Lory", Groups: []string{"dba", "managers", "security"}}} {
		must(t, f.svc.AddApprover(f.ctx, "t", a))
	}
	must(t, f.svc.AddRotation(f.ctx, "t", approvals.Rotation{Name: "sre-secondary", Members: []string{"mallory"}, Shift: time.Hour, Start: t0}))
	f.apply(f.parse("references.yaml"), policy.Options{})
}

func TestJSONIsAccepted(t *testing.T) {
	f := newFixture(t)
	y, j := f.parse("policy.yaml"), f.parse("policy.json")
	if !reflect.DeepEqual(exported(y), exported(j)) {
		t.Fatalf("the JSON file decodes differently from the YAML one:\n%+v\n%+v", exported(y), exported(j))
	}
	if a, b := render(t, f.apply(y, policy.Options{DryRun: true}).Plan), render(t, f.apply(j, policy.Options{DryRun: true}).Plan); a != b {
		t.Fatalf("plans differ:\n%s\nvs\n%s", a, b)
	}
	// JSON mistakes are found with their lines too.
	_, err := policy.Parse("bad.json", []byte("{\n  \"version\": 1,\n  \"templates\": {\"t\": {\"app\": \"a\", \"title\": \"T\",\n    \"groups\": [\"sre\"], \"qorum\": 2}}\n}\n"))
	if got := problemsOf(t, err); !strings.Contains(got, `bad.json:4: template "t": unknown field "qorum" (did you mean "quorum"?)`) {
		t.Fatalf("JSON problem: %s", got)
	}
}

// exported is a Document's exported content (without its line index).
func exported(d *policy.Document) policy.Document {
	return policy.Document{Version: d.Version, Applications: d.Applications, Approvers: d.Approvers, Rotations: d.Rotations, Templates: d.Templates, Webhooks: d.Webhooks}
}

func TestPruneDisablesWhatTheFileLeavesOutAndDeletesNothing(t *testing.T) {
	f := newFixture(t)
	f.apply(f.parse("policy.yaml"), policy.Options{})
	small := `version: 1
applications:
  payments: {audience: "https://payments.example.com", limits: {max_pending: 200, rate_per_second: 5, burst: 20}}
approvers:
  alice:
    name: Alice Example
    email: alice@example.com
    groups: [sre, oncall-primary]
    keys: [ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIqI4910CfGV/VLbLTy6XXLKZwm/HZQSG/N0iAG0D29c]
templates:
  k8s-exec:
    app: payments
    title: Kubernetes exec
    groups: [sre]
    default_ttl: 30m
    max_ttl: 2h
    pending_timeout: 1h
    fields: [{name: namespace, required: true}, {name: ticket, default: none}]
`
	// db-write names sre-primary; a disabled template still names its
	// rotations, so pruning both is refused, saying what to do.
	doc, err := policy.Parse("small.yaml", []byte(small))
	must(t, err)
	head := f.auditHead()
	_, err = policy.Apply(f.ctx, f.svc, doc, policy.Options{Actor: "operator", Prune: true})
	if got := problemsOf(t, err); !strings.Contains(got, `small.yaml: rotation "sre-primary": cannot be removed: template(s) db-write name it`) {
		t.Fatalf("pruning a rotation a template names: %s", got)
	}
	if f.auditHead() != head {
		t.Fatal("a refused prune wrote something")
	}
	small += `rotations:
  sre-primary: {members: [alice, bob], shift: 7d, start: "2026-11-02T09:00:00Z"}
`
	// A rotation no template names is removed by prune.
	must(t, f.svc.AddRotation(f.ctx, "t", approvals.Rotation{Name: "spare", Members: []string{"carol"}, Shift: time.Hour, Start: t0}))
	doc, err = policy.Parse("small.yaml", []byte(small))
	must(t, err)
	if res := f.apply(doc, policy.Options{}); !res.Plan.Empty() {
		t.Fatalf("without --prune, objects left out of the file changed:\n%s", render(t, res.Plan))
	}
	res := f.apply(doc, policy.Options{Prune: true})
	golden(t, "prune.golden", render(t, res.Plan))
	for _, c := range res.Plan.Changes {
		if c.Action != policy.Disable {
			t.Errorf("prune planned %s %s %s", c.Action, c.Kind, c.Key)
		}
	}
	// Disabled, still there.
	if a, err := f.svc.Application(f.ctx, "billing"); err != nil || !a.Disabled {
		t.Errorf("billing: %v disabled=%v", err, a.Disabled)
	}
	if a, err := f.svc.Approver(f.ctx, "bob"); err != nil || !a.Disabled() {
		t.Errorf("bob: %v disabled=%v", err, a.Disabled())
	}
	if tm, err := f.svc.Template(f.ctx, "db-write"); err != nil || !tm.Disabled() {
		t.Errorf("db-write: %v disabled=%v", err, tm.Disabled())
	}
	if r, err := f.svc.Rotation(f.ctx, "spare"); err != nil || r.DisabledAt.IsZero() {
		t.Errorf("spare was not removed (%v), or is gone altogether", err)
	}
	ws, err := f.svc.Webhooks(f.ctx, "", 50)
	must(t, err)
	if len(ws) != 2 || ws[0].Active() || ws[1].Active() {
		t.Errorf("webhooks after prune: %+v", ws)
	}
	if again := f.apply(doc, policy.Options{Prune: true}); !again.Plan.Empty() {
		t.Fatalf("prune is not idempotent:\n%s", render(t, again.Plan))
	}
	// Declaring a disabled object again enables it.
	back := f.apply(f.parse("policy.yaml"), policy.Options{DryRun: true})
	if !strings.Contains(render(t, back.Plan), "update approver \"bob\"\n    disabled: true → false") {
		t.Fatalf("re-declaring bob does not enable him:\n%s", render(t, back.Plan))
	}
}

func TestPlanMarshalsAsJSON(t *testing.T) {
	f := newFixture(t)
	res := f.apply(f.parse("policy.yaml"), policy.Options{DryRun: true})
	b, err := json.Marshal(res)
	must(t, err)
	var back struct {
		Plan struct {
			Changes []struct {
				Action, Kind, Key string
				Fields            []struct {
					Field string
					From  any
					To    any
				}
			}
		}
		DryRun bool `json:"dry_run"`
	}
	must(t, json.Unmarshal(b, &back))
	if len(back.Plan.Changes) != len(res.Plan.Changes) || !back.DryRun || back.Plan.Changes[0].Kind != "application" || back.Plan.Changes[0].Action != "create" {
		t.Fatalf("JSON plan: %s", b)
	}
}

func TestActorIsRequired(t *testing.T) {
	f := newFixture(t)
	if _, err := policy.Apply(f.ctx, f.svc, f.parse("policy.yaml"), policy.Options{}); !errors.Is(err, approvals.ErrInvalid) {
		t.Fatalf("apply without an actor: %v", err)
	}
}

func TestApplyMakesThePlannedChanges(t *testing.T) {
	f := newFixture(t)
	f.apply(f.parse("policy.yaml"), policy.Options{})
	res := f.apply(f.parse("policy-v2.yaml"), policy.Options{Prune: true})
	alice, err := f.svc.Approver(f.ctx, "alice")
	must(t, err)
	if ks := alice.ActiveKeys(); len(ks) != 1 || ks[0].Fingerprint != "SHA256:4A9jyZBOhnKZvcGQ6TRFbf5Gymb41AfYvYaVmWHD+G4" || len(alice.SSHKeys) != 2 {
		t.Errorf("alice's keys: %+v (want the desk key active and the laptop key kept as removed)", alice.SSHKeys)
	}
	if !reflect.DeepEqual(alice.Groups, []string{"sre"}) {
		t.Errorf("alice's groups: %v", alice.Groups)
	}
	bob, err := f.svc.Approver(f.ctx, "bob")
	must(t, err)
	if bob.Email != "bob@example.com" || !reflect.DeepEqual(bob.Groups, []string{"dba", "sre"}) {
		t.Errorf("bob: %+v", bob)
	}
	if a, err := f.svc.Approver(f.ctx, "audrey"); err != nil || !a.Disabled() {
		t.Errorf("audrey not disabled by prune: %v", err)
	}
	db, err := f.svc.Template(f.ctx, "db-write")
	must(t, err)
	if db.Quorum != 1 || db.Version != 2 {
		t.Errorf("db-write: quorum %d version %d, want 1 and 2", db.Quorum, db.Version)
	}
	if k8s, err := f.svc.Template(f.ctx, "k8s-exec"); err != nil || !k8s.Disabled() || k8s.Version != 1 {
		t.Errorf("k8s-exec: %v disabled=%v version=%d (disabling is no new version)", err, k8s.Disabled(), k8s.Version)
	}
	r, err := f.svc.Rotation(f.ctx, "sre-primary")
	must(t, err)
	if !reflect.DeepEqual(r.Members, []string{"bob", "alice", "carol"}) || r.Shift != 12*time.Hour {
		t.Errorf("rotation: %v %v", r.Members, r.Shift)
	}
	app, err := f.svc.Application(f.ctx, "billing")
	must(t, err)
	if app.Audience != "https://billing.example.org" {
		t.Errorf("billing audience %q", app.Audience)
	}
	// The re-created webhook comes back with its new secret; the removed one is gone.
	if len(res.Secrets) != 1 || res.Secrets[0].Kind != policy.KindWebhook || res.Secrets[0].Key != "https://hooks.example.com/jitdesk" {
		t.Fatalf("secrets: %v", res.Secrets)
	}
	h, err := f.svc.Webhook(f.ctx, res.Secrets[0].ID)
	must(t, err)
	if !h.Active() || len(h.Events) != 3 {
		t.Errorf("new hook %+v", h)
	}
}

func TestRenderQuotesHostileText(t *testing.T) {
	p := policy.Plan{Changes: []policy.Change{{Action: policy.Update, Kind: policy.KindApplication, Key: "evil\x1b[2J\u202e",
		Fields: []policy.FieldChange{{Field: "audience", From: "a\nupdate approver \"x\"", To: []string{"\x07"}}}}}}
	got := render(t, p)
	if strings.ContainsAny(got, "\x1b\x07\u202e") || strings.Count(got, "\n") != 4 {
		t.Fatalf("hostile text reached the output raw:\n%q", got)
	}
}

func TestParseRefusesASecondDocument(t *testing.T) {
	_, err := policy.Parse("two.yaml", []byte("version: 1\n---\nversion: 1\napprovers: {}\n"))
	if got := problemsOf(t, err); !strings.Contains(got, "two.yaml:2: a policy file holds one document") {
		t.Fatalf("second document: %s", got)
	}
}
