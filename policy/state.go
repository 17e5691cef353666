package policy

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jitdesk/jitdesk/approvals"
)

// state is what the database holds, read through the Service.
type state struct {
	apps      map[string]approvals.Application // by name, without secrets
	appName   map[string]string                // id → name
	approvers map[string]approvals.Approver
	keyOwner  map[string]string             // fingerprint → login, removed keys too (a key belongs to one approver for good)
	rotations map[string]approvals.Rotation // active ones
	removed   map[string]time.Time          // rotations named in the file that were removed, and when
	templates map[string]approvals.Template
	webhooks  map[string][]approvals.Webhook // active ones by URL, oldest first
}

const page = 500

// readState reads everything a plan compares with; named are rotation
// names to look up even when removed (the list holds active ones only).
func readState(ctx context.Context, s *approvals.Service, named []string) (*state, error) {
	st := &state{
		apps: map[string]approvals.Application{}, appName: map[string]string{}, approvers: map[string]approvals.Approver{},
		keyOwner: map[string]string{}, rotations: map[string]approvals.Rotation{}, removed: map[string]time.Time{},
		templates: map[string]approvals.Template{}, webhooks: map[string][]approvals.Webhook{},
	}
	for after := ""; ; {
		as, err := s.Applications(ctx, after, page)
		if err != nil {
			return nil, fmt.Errorf("read applications: %w", err)
		}
		if len(as) == 0 {
			break
		}
		for _, a := range as {
			a.Secret, a.PreviousSecret = nil, nil
			st.apps[a.Name], st.appName[a.ID] = a, a.Name
		}
		after = as[len(as)-1].Name
	}
	for after := ""; ; {
		as, err := s.Approvers(ctx, after, page)
		if err != nil {
			return nil, fmt.Errorf("read approvers: %w", err)
		}
		if len(as) == 0 {
			break
		}
		for _, a := range as {
			st.approvers[a.Login] = a
			for _, k := range a.SSHKeys {
				st.keyOwner[k.Fingerprint] = a.Login
			}
		}
		after = as[len(as)-1].Login
	}
	rs, err := s.Rotations(ctx)
	if err != nil {
		return nil, fmt.Errorf("read rotations: %w", err)
	}
	for _, r := range rs {
		st.rotations[r.Name] = r
	}
	for _, name := range named {
		if _, ok := st.rotations[name]; ok {
			continue
		}
		r, err := s.Rotation(ctx, name)
		switch {
		case errors.Is(err, approvals.ErrNotFound):
		case err != nil:
			return nil, fmt.Errorf("read rotation %s: %w", name, err)
		case !r.DisabledAt.IsZero():
			st.removed[name] = r.DisabledAt
		default:
			st.rotations[name] = r
		}
	}
	for after := ""; ; {
		ts, err := s.Templates(ctx, after, page)
		if err != nil {
			return nil, fmt.Errorf("read templates: %w", err)
		}
		if len(ts) == 0 {
			break
		}
		for _, t := range ts {
			st.templates[t.Key] = t
		}
		after = ts[len(ts)-1].Key
	}
	for after := ""; ; {
		ws, err := s.Webhooks(ctx, after, page)
		if err != nil {
			return nil, fmt.Errorf("read webhooks: %w", err)
		}
		if len(ws) == 0 {
			break
		}
		for _, w := range ws {
			if w.Active() {
				st.webhooks[w.URL] = append(st.webhooks[w.URL], w)
			}
		}
		after = ws[len(ws)-1].ID
	}
	return st, nil
}

// The kv views below are the one definition of each object's fields, for
// the plan (current and desired side alike) and so for comparing them.

func appKV(audience string, l approvals.AppLimits, disabled bool) []kv {
	return []kv{
		{"audience", audience},
		{"limits.max_pending", l.MaxPending},
		{"limits.rate_per_second", l.RatePerSecond},
		{"limits.burst", l.Burst},
		{"limits.max_long_polls", l.MaxLongPolls},
		{"disabled", disabled},
	}
}

func approverKV(name, email string, groups []string, keys []approvals.SSHKey, auditor, disabled bool) []kv {
	fps := []string{}
	for _, k := range keys {
		if k.Active() {
			fps = append(fps, k.Fingerprint)
		}
	}
	slices.Sort(fps)
	return []kv{
		{"name", name}, {"email", email}, {"groups", list(sortedSet(groups))}, {"keys", fps},
		{"auditor", auditor}, {"disabled", disabled},
	}
}

func rotationKV(members []string, shift time.Duration, start time.Time) []kv {
	return []kv{{"members", list(members)}, {"shift", formatDuration(shift)}, {"start", formatTime(start)}}
}

func templateKV(t approvals.Template, app string, disabled bool) []kv {
	fields := []Field{}
	for _, f := range t.Fields {
		fields = append(fields, Field{Name: f.Name, Default: f.Default, Required: f.Required})
	}
	return []kv{
		{"app", app}, {"title", t.Title}, {"name", t.Name}, {"type", string(t.Type)},
		{"approvers", list(sortedSet(t.Approvers))}, {"groups", list(sortedSet(t.Groups))}, {"oncall", list(sortedSet(t.OnCall))},
		{"quorum", t.Quorum},
		{"default_ttl", formatDuration(t.DefaultTTL)}, {"max_ttl", formatDuration(t.MaxTTL)}, {"pending_timeout", formatDuration(t.PendingTimeout)},
		{"min_reason", t.MinReason}, {"fields", fields},
		{"break_glass_max_ttl", formatDuration(t.BreakGlassMaxTTL)}, {"break_glass_groups", list(sortedSet(t.BreakGlassGroups))},
		{"escalate_after", formatDuration(t.EscalateAfter)}, {"escalate_group", t.EscalateGroup},
		{"require_key_signature", t.RequireKeySignature},
		{"disabled", disabled},
	}
}

func webhookKV(events []string) []kv {
	return []kv{{"events", list(events)}}
}

// formatTime renders a time in RFC 3339 UTC, with fractions only when
// there are some (the store keeps milliseconds).
func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// groupMembers maps each group to the approvers that will be in it once
// the plan is made: the file's approvers as declared, the others as stored.
func groupMembers(d *desired, st *state) map[string][]string {
	out := map[string][]string{}
	for login, a := range d.approvers {
		for _, g := range a.groups {
			out[g] = append(out[g], login)
		}
	}
	for login, a := range st.approvers {
		if _, inFile := d.approvers[login]; inFile {
			continue
		}
		for _, g := range a.Groups {
			out[g] = append(out[g], login)
		}
	}
	for g := range out {
		slices.Sort(out[g])
	}
	return out
}

func joinOrNone(ss []string) string {
	if len(ss) == 0 {
		return "none"
	}
	return strings.Join(ss, ", ")
}
