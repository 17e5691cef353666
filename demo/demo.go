// Package demo owns jitdesk's demo data: a realistic set of applications,
// approvers, templates and requests, and a trickle of new requests so a
// newcomer sees the console update live. Everything goes through
// approvals.Service, so demo data obeys the same rules as real data.
package demo

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/jitdesk/jitdesk/approvals"
	"github.com/jitdesk/jitdesk/approvals/signature"
)

// Approver is the demo approver the console opens as.
const Approver = "alex"

// ApproverName is the demo approver's full name (what a typed signature must match).
const ApproverName = "Alex Rivera"

type app struct{ name, audience string }

var apps = []app{
	{"payments-api", "https://payments.example.com"},
	{"infra-portal", "https://infra.example.com"},
	{"data-platform", "https://data.example.com"},
}

type person struct {
	login, name, email string
	groups             []string
}

var people = []person{
	{Approver, ApproverName, "alex@example.com", []string{"sre", "dba"}},
	{"bob", "Bob Okafor", "bob@example.com", []string{"sre"}},
	{"carol", "Carol Jensen", "carol@example.com", []string{"dba", "security"}},
	{"dana", "Dana Whitfield", "dana@example.com", []string{"security"}},
}

type tmpl struct {
	key, app, title      string
	typ                  approvals.TemplateType
	approvers, groups    []string
	quorum               int
	ttl, maxTTL, pending time.Duration
	fields               []approvals.MetadataField
	ttls                 []time.Duration
	reasons              []string
	meta                 func(r *rand.Rand) map[string]string
}

var templates = []tmpl{
	{
		key: "prod-db-write", app: "payments-api", title: "Prod DB write", typ: approvals.TypeSignAndApprove,
		groups: []string{"dba"}, quorum: 1, ttl: 30 * time.Minute, maxTTL: 4 * time.Hour, pending: 2 * time.Hour,
		fields: []approvals.MetadataField{{Name: "ticket", Required: true}, {Name: "database", Default: "payments-primary"}},
		ttls:   []time.Duration{15 * time.Minute, 30 * time.Minute, time.Hour},
		reasons: []string{
			"Backfill settlement rows missed by the 02:00 batch",
			"Fix stuck refunds for merchant 4411 (customer escalation)",
			"Apply hotfix migration 0142 after failed deploy",
			"Correct duplicated ledger entries flagged by reconciliation",
		},
		meta: func(r *rand.Rand) map[string]string {
			return map[string]string{"ticket": fmt.Sprintf("OPS-%d", 100+r.IntN(900))}
		},
	},
	{
		key: "k8s-prod-exec", app: "infra-portal", title: "Kubernetes prod exec", typ: approvals.TypeApprove,
		groups: []string{"sre"}, quorum: 1, ttl: time.Hour, maxTTL: 8 * time.Hour, pending: 4 * time.Hour,
		fields: []approvals.MetadataField{{Name: "namespace", Required: true}, {Name: "ticket"}},
		ttls:   []time.Duration{30 * time.Minute, time.Hour, 2 * time.Hour},
		reasons: []string{
			"Debug OOM-killed checkout pods",
			"Collect heap profile from api-gateway",
			"Rotate stuck cert-manager lease",
			"Inspect failing readiness probe on search-indexer",
		},
		meta: func(r *rand.Rand) map[string]string {
			ns := []string{"checkout", "gateway", "search", "payments"}
			return map[string]string{"namespace": ns[r.IntN(len(ns))], "ticket": fmt.Sprintf("INC-%d", 1000+r.IntN(9000))}
		},
	},
	{
		key: "iam-admin", app: "infra-portal", title: "Cloud IAM admin", typ: approvals.TypeSignAndApprove,
		approvers: []string{Approver, "dana"}, groups: []string{"security"}, quorum: 2, ttl: 15 * time.Minute, maxTTL: time.Hour, pending: time.Hour,
		fields: []approvals.MetadataField{{Name: "ticket", Required: true}, {Name: "account", Default: "prod-main"}},
		ttls:   []time.Duration{15 * time.Minute, 30 * time.Minute},
		reasons: []string{
			"Break a role-assumption loop locking out CI",
			"Remove leaked access key found by secret scanning",
		},
		meta: func(r *rand.Rand) map[string]string {
			return map[string]string{"ticket": fmt.Sprintf("SEC-%d", 10+r.IntN(90))}
		},
	},
	{
		key: "warehouse-read-pii", app: "data-platform", title: "Warehouse PII read", typ: approvals.TypeApprove,
		approvers: []string{Approver, "carol"}, quorum: 1, ttl: 2 * time.Hour, maxTTL: 8 * time.Hour, pending: 24 * time.Hour,
		fields: []approvals.MetadataField{{Name: "dataset", Required: true}, {Name: "ticket"}},
		ttls:   []time.Duration{time.Hour, 2 * time.Hour, 4 * time.Hour},
		reasons: []string{
			"GDPR data subject request DSR-2231",
			"Investigate chargeback fraud pattern for risk team",
			"Quarterly audit sample export",
		},
		meta: func(r *rand.Rand) map[string]string {
			ds := []string{"customers", "orders", "support_tickets"}
			return map[string]string{"dataset": ds[r.IntN(len(ds))]}
		},
	},
}

var requesters = []string{"priya", "tomas", "mei", "jordan", "samir", "lena", "ivan", "grace", "omar", "zoe"}

// Seed fills an initialised, empty database with the demo applications,
// approvers and templates, then submits pending requests. It returns the
// applications' secrets by name (for examples that sign intake tokens).
func Seed(ctx context.Context, svc *approvals.Service, pending int) (map[string]approvals.Application, error) {
	if _, err := svc.Init(ctx, "demo"); err != nil {
		return nil, err
	}
	out := map[string]approvals.Application{}
	for _, a := range apps {
		created, err := svc.CreateApplication(ctx, "demo", a.name, a.audience)
		if errors.Is(err, approvals.ErrConflict) {
			return nil, fmt.Errorf("the database already holds demo data (application %s exists): use a fresh --db", a.name)
		}
		if err != nil {
			return nil, err
		}
		out[a.name] = created
	}
	for _, p := range people {
		if err := svc.AddApprover(ctx, "demo", approvals.Approver{Login: p.login, Name: p.name, Email: p.email, Groups: p.groups}); err != nil {
			return nil, err
		}
	}
	for _, t := range templates {
		err := svc.AddTemplate(ctx, "demo", approvals.Template{
			Key: t.key, AppID: t.app, Title: t.title, Type: t.typ, Approvers: t.approvers, Groups: t.groups,
			Quorum: t.quorum, DefaultTTL: t.ttl, MaxTTL: t.maxTTL, PendingTimeout: t.pending, MinReason: 10,
			Fields: append([]approvals.MetadataField(nil), t.fields...),
		})
		if err != nil {
			return nil, err
		}
	}
	g := NewGenerator(1)
	// A little history first, decided by the other approvers, so the History
	// tab and the requester context are not empty.
	for i := 0; i < 6; i++ {
		r, err := svc.Submit(ctx, g.Next())
		if err != nil {
			return nil, err
		}
		if err := decideAsOthers(ctx, svc, r, i%3 == 2); err != nil {
			return nil, err
		}
	}
	for i := 0; i < pending; i++ {
		if _, err := svc.Submit(ctx, g.Next()); err != nil {
			return nil, err
		}
	}
	if err := seedOnCall(ctx, svc); err != nil {
		return nil, fmt.Errorf("on-call demo data: %w", err)
	}
	return out, nil
}

// Demo on-call names: the rotation the demo approver holds now, its
// escalating template, and the break-glass template.
const (
	RotationSRE        = "sre-primary"
	RotationSecurity   = "security-primary"
	TemplatePager      = "prod-deploy-freeze"
	TemplateBreakGlass = "prod-shell-breakglass"
)

// seedOnCall adds what the console's On call tab and break-glass show: the
// demo approver on call for sre-primary (bob takes over in three hours), a
// security rotation whose pager carol holds by override for 45 minutes, a
// template paging sre-primary that escalates after 5 minutes (so its two
// pending requests count down and escalate while the demo runs), and a
// break-glass template with a pending request by the demo approver (B on
// its review) and a grant bob already broke glass for, waiting for review.
func seedOnCall(ctx context.Context, svc *approvals.Service) error {
	now := svc.Now().Truncate(time.Minute)
	if err := svc.AddRotation(ctx, "demo", approvals.Rotation{Name: RotationSRE, Members: []string{Approver, "bob"}, Shift: 4 * time.Hour, Start: now.Add(-time.Hour)}); err != nil {
		return err
	}
	if err := svc.AddRotation(ctx, "demo", approvals.Rotation{Name: RotationSecurity, Members: []string{"dana", "carol"}, Shift: 12 * time.Hour, Start: now.Add(-2 * time.Hour)}); err != nil {
		return err
	}
	if err := svc.OverrideOnCall(ctx, "demo", RotationSecurity, "carol", time.Time{}, now.Add(45*time.Minute)); err != nil {
		return err
	}
	if err := svc.AddTemplate(ctx, "demo", approvals.Template{
		Key: TemplatePager, AppID: "infra-portal", Title: "Prod deploy in freeze", Type: approvals.TypeApprove,
		OnCall: []string{RotationSRE}, EscalateAfter: 5 * time.Minute, DefaultTTL: 30 * time.Minute, MaxTTL: 2 * time.Hour,
		PendingTimeout: time.Hour, MinReason: 10, Fields: []approvals.MetadataField{{Name: "service", Required: true}},
	}); err != nil {
		return err
	}
	if err := svc.AddTemplate(ctx, "demo", approvals.Template{
		Key: TemplateBreakGlass, AppID: "infra-portal", Title: "Prod root shell", Type: approvals.TypeApprove,
		Groups: []string{"sre"}, BreakGlassMaxTTL: 30 * time.Minute, DefaultTTL: time.Hour, MaxTTL: 4 * time.Hour,
		PendingTimeout: 2 * time.Hour, MinReason: 10, Fields: []approvals.MetadataField{{Name: "host", Required: true}},
	}); err != nil {
		return err
	}
	for _, in := range []approvals.NewRequest{
		{TemplateKey: TemplatePager, Requester: "jordan", Reason: "Ship the checkout timeout fix during the freeze", TTL: 30 * time.Minute, Metadata: map[string]string{"service": "checkout"}},
		{TemplateKey: TemplatePager, Requester: "samir", Reason: "Roll back search-indexer 2.14 (memory leak)", TTL: 30 * time.Minute, Metadata: map[string]string{"service": "search-indexer"}},
		{TemplateKey: TemplateBreakGlass, Requester: Approver, Reason: "Payments API down; need a root shell on the primary to restart the stuck worker", TTL: time.Hour, Metadata: map[string]string{"host": "pay-db-01"}},
	} {
		if _, err := svc.Submit(ctx, in); err != nil {
			return err
		}
	}
	// bob broke glass earlier; the grant waits for someone else's review.
	r, err := svc.Submit(ctx, approvals.NewRequest{TemplateKey: TemplateBreakGlass, Requester: "bob", Reason: "Disk full on ledger-02, paging storm, nobody else awake", TTL: time.Hour, Metadata: map[string]string{"host": "ledger-02"}})
	if err != nil {
		return err
	}
	ttl, err := svc.CanBreakGlass(ctx, r.ID, "bob")
	if err != nil {
		return err
	}
	d, err := svc.Get(ctx, r.ID)
	if err != nil {
		return err
	}
	sig := signature.TypedSignature("bob", "Bob Okafor", "Bob Okafor", approvals.Meaning(d.Request, d.Template, ttl), svc.Now(), d.Digest)
	_, err = svc.Approve(ctx, approvals.ApproveInput{RequestID: r.ID, Approver: "bob", Digest: d.Digest, BreakGlass: true, Signature: &sig,
		Comment: "ledger-02 disk full at 03:10, on-call phone unreachable; cleared old WAL segments"})
	return err
}

// decideAsOthers approves (or denies) r as the first eligible non-demo approver.
func decideAsOthers(ctx context.Context, svc *approvals.Service, r approvals.Request, deny bool) error {
	d, err := svc.Get(ctx, r.ID)
	if err != nil {
		return err
	}
	for _, p := range people[1:] {
		if err := svc.CanDecide(ctx, r.ID, p.login); err != nil {
			continue
		}
		if deny {
			_, err := svc.Deny(ctx, approvals.DenyInput{RequestID: r.ID, Approver: p.login, Digest: d.Digest, Comment: "Use the read replica for this; no write access needed."})
			return err
		}
		if d.Template.Type == approvals.TypeSignAndApprove || d.Template.Quorum > 1 {
			return nil // leave it pending rather than forge a signature
		}
		_, err := svc.Approve(ctx, approvals.ApproveInput{RequestID: r.ID, Approver: p.login, Digest: d.Digest, Comment: "ok"})
		return err
	}
	return nil
}

// Generator makes realistic new requests deterministically from a seed.
type Generator struct{ r *rand.Rand }

// NewGenerator returns a generator seeded with seed.
func NewGenerator(seed uint64) *Generator {
	return &Generator{r: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
}

// Next returns the next request to submit.
func (g *Generator) Next() approvals.NewRequest {
	t := templates[g.r.IntN(len(templates))]
	return approvals.NewRequest{
		TemplateKey: t.key,
		Requester:   requesters[g.r.IntN(len(requesters))],
		Reason:      t.reasons[g.r.IntN(len(t.reasons))],
		TTL:         t.ttls[g.r.IntN(len(t.ttls))],
		Metadata:    t.meta(g.r),
	}
}

// Trickle submits a new request every interval until ctx ends, so the
// console shows requests arriving live. Errors end the trickle quietly: the
// demo console stays usable without it.
func Trickle(ctx context.Context, svc *approvals.Service, every time.Duration, seed uint64) {
	g := NewGenerator(seed)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := svc.Submit(ctx, g.Next()); err != nil {
				return
			}
		}
	}
}
