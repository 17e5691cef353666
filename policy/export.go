package policy

import (
	"context"
	"fmt"

	"github.com/jitdesk/jitdesk/approvals"
)

// Export reads the current configuration into a Document in the format
// Parse reads, so that applying it changes nothing. It holds no secret:
// applications and webhooks are exported without theirs. Removed rotations
// and webhooks are left out (their history stays in the database); of
// several active webhooks with one URL, the oldest is exported.
func Export(ctx context.Context, svc *approvals.Service) (*Document, error) {
	var st *state
	// One transaction, rolled back: every section is read from the same
	// snapshot, so a template never names an application read later.
	err := svc.Administer(ctx, func(a *approvals.Service) error {
		var err error
		if st, err = readState(ctx, a, nil); err != nil {
			return err
		}
		return approvals.ErrDryRun
	})
	if err != nil {
		return nil, fmt.Errorf("export policy: %w", err)
	}
	doc := &Document{Version: Version}
	for name, a := range st.apps {
		if doc.Applications == nil {
			doc.Applications = map[string]Application{}
		}
		doc.Applications[name] = Application{Audience: a.Audience, Disabled: a.Disabled,
			Limits: Limits{MaxPending: a.Limits.MaxPending, RatePerSecond: a.Limits.RatePerSecond, Burst: a.Limits.Burst, MaxLongPolls: a.Limits.MaxLongPolls}}
	}
	for login, a := range st.approvers {
		if doc.Approvers == nil {
			doc.Approvers = map[string]Approver{}
		}
		var keys []string
		for _, k := range a.ActiveKeys() {
			keys = append(keys, k.AuthorizedKey)
		}
		doc.Approvers[login] = Approver{Name: a.Name, Email: a.Email, Groups: sortedSet(a.Groups), Keys: keys, Auditor: a.Auditor, Disabled: a.Disabled()}
	}
	for name, r := range st.rotations {
		if doc.Rotations == nil {
			doc.Rotations = map[string]Rotation{}
		}
		doc.Rotations[name] = Rotation{Members: r.Members, Shift: formatDuration(r.Shift), Start: formatTime(r.Start)}
	}
	for key, t := range st.templates {
		if doc.Templates == nil {
			doc.Templates = map[string]Template{}
		}
		doc.Templates[key] = exportTemplate(t, st.appName[t.AppID])
	}
	for u, hooks := range st.webhooks {
		if doc.Webhooks == nil {
			doc.Webhooks = map[string]Webhook{}
		}
		doc.Webhooks[u] = Webhook{Events: hooks[0].Events}
	}
	return doc, nil
}

func exportTemplate(t approvals.Template, app string) Template {
	out := Template{
		App: app, Title: t.Title, Type: string(t.Type),
		Approvers: sortedSet(t.Approvers), Groups: sortedSet(t.Groups), OnCall: sortedSet(t.OnCall), Quorum: t.Quorum,
		DefaultTTL: formatDuration(t.DefaultTTL), MaxTTL: formatDuration(t.MaxTTL), PendingTimeout: formatDuration(t.PendingTimeout),
		MinReason: t.MinReason, BreakGlassMaxTTL: formatDuration(t.BreakGlassMaxTTL), BreakGlassGroups: sortedSet(t.BreakGlassGroups),
		EscalateAfter: formatDuration(t.EscalateAfter), EscalateGroup: t.EscalateGroup, Disabled: t.Disabled(),
		RequireKeySignature: t.RequireKeySignature,
	}
	if t.Name != t.Title {
		out.Name = t.Name
	}
	for _, f := range t.Fields {
		out.Fields = append(out.Fields, Field{Name: f.Name, Default: f.Default, Required: f.Required})
	}
	return out
}
