package policy

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jitdesk/jitdesk/approvals"
)

// desired is a document converted to the domain's terms and normalised the
// way the Service stores them (defaults filled, lists sorted where the
// store keeps them sorted), so it compares field by field with the state.
type desired struct {
	apps      map[string]wantApp
	approvers map[string]wantApprover
	rotations map[string]wantRotation
	templates map[string]wantTemplate
	webhooks  map[string]wantWebhook // by normalised URL
}

type wantApp struct {
	path     string
	audience string
	limits   approvals.AppLimits
	disabled bool
}

type wantApprover struct {
	path              string
	name, email       string
	groups            []string           // sorted
	keys              []approvals.SSHKey // sorted by fingerprint
	keyPaths          map[string]string  // fingerprint → path of its line
	auditor, disabled bool
}

type wantRotation struct {
	path     string
	members  []string
	shift    time.Duration
	start    time.Time
	disabled bool
}

type wantTemplate struct {
	path     string
	t        approvals.Template // AppID holds the application's name
	disabled bool
}

type wantWebhook struct {
	path     string
	url      string
	events   []string
	disabled bool
}

// line is the line of path, or of its nearest recorded parent.
func (d *Document) line(path string) int {
	for path != "" {
		if l, ok := d.lines[path]; ok {
			return l
		}
		i := strings.LastIndexAny(path, "\x00[")
		if i < 0 {
			break
		}
		path = path[:i]
	}
	return 0
}

// desired converts and checks the document; bad paths (already reported
// by the walk) are skipped.
func (d *Document) desired(bad map[string]bool) (*desired, error) {
	ps := &problems{file: d.file}
	out := &desired{
		apps: map[string]wantApp{}, approvers: map[string]wantApprover{}, rotations: map[string]wantRotation{},
		templates: map[string]wantTemplate{}, webhooks: map[string]wantWebhook{},
	}
	if !bad["version"] {
		switch d.Version {
		case Version:
		case 0:
			ps.add(1, "", "write `version: 1` at the top of the file", "version is missing")
		default:
			ps.add(d.line("version"), "", "write `version: 1` (the format this jitdesk reads)", "version %d is not supported", d.Version)
		}
	}
	ok := func(path string) bool { return !bad[path] }
	at := func(path string) int { return d.line(path) }
	for _, name := range sortedKeys(d.Applications) {
		a := d.Applications[name]
		p := join("applications", name)
		if !ok(p) {
			continue
		}
		obj := "application " + strconv.Quote(name)
		if strings.TrimSpace(name) != name || name == "" {
			ps.add(at(p), obj, "write the name without leading or trailing spaces", "name has surrounding spaces")
		}
		if ok(join(p, "audience")) && strings.TrimSpace(a.Audience) == "" {
			ps.add(at(p), obj, "add `audience: https://service.example.com` (the aud services expect in tokens)", "audience is required")
		}
		l := a.Limits
		if l.MaxPending < 0 || l.RatePerSecond < 0 || l.Burst < 0 || l.MaxLongPolls < 0 {
			ps.add(at(join(p, "limits")), obj, "write 0 (or leave the field out) for the default, or a positive number", "limits must not be negative")
		}
		out.apps[name] = wantApp{path: p, audience: strings.TrimSpace(a.Audience), disabled: a.Disabled,
			limits: approvals.AppLimits{MaxPending: l.MaxPending, RatePerSecond: l.RatePerSecond, Burst: l.Burst, MaxLongPolls: l.MaxLongPolls}}
	}
	owner := map[string]string{} // fingerprint → login, for keys given twice
	for _, login := range sortedKeys(d.Approvers) {
		a := d.Approvers[login]
		p := join("approvers", login)
		if !ok(p) {
			continue
		}
		obj := "approver " + strconv.Quote(login)
		if !approvals.ValidLogin(login) {
			ps.add(at(p), obj, "use 1-64 lower-case letters, digits, '.', '_' or '-'", "not a valid login")
		} else if approvals.ReservedLogin(login) {
			ps.add(at(p), obj, "use the person's own login", "this login is reserved for jitdesk's own actors")
		}
		if ok(join(p, "name")) && strings.TrimSpace(a.Name) == "" {
			ps.add(at(p), obj, "add `name: Full Name` (as they will sign it)", "name is required")
		}
		for i, g := range a.Groups {
			if !approvals.ValidLogin(g) {
				ps.add(at(item(join(p, "groups"), i)), obj, "use lower-case letters, digits, '.', '_' or '-'", "group %s is not a valid group name", strconv.Quote(g))
			}
		}
		w := wantApprover{path: p, name: strings.TrimSpace(a.Name), email: strings.TrimSpace(a.Email), groups: sortedSet(a.Groups),
			auditor: a.Auditor, disabled: a.Disabled, keyPaths: map[string]string{}}
		for i, line := range a.Keys {
			ip := item(join(p, "keys"), i)
			k, err := approvals.ParseSSHKey(line)
			if err != nil {
				ps.add(at(ip), obj, "give one OpenSSH public key line (ssh-ed25519 AAAA… comment), as in authorized_keys", "keys[%d] is not an SSH public key", i)
				continue
			}
			if prev, dup := owner[k.Fingerprint]; dup {
				ps.add(at(ip), obj, "give each key to one approver, once", "key %s is also given to approver %s", k.Fingerprint, strconv.Quote(prev))
				continue
			}
			owner[k.Fingerprint] = login
			w.keys = append(w.keys, k)
			w.keyPaths[k.Fingerprint] = ip
		}
		slices.SortFunc(w.keys, func(x, y approvals.SSHKey) int { return strings.Compare(x.Fingerprint, y.Fingerprint) })
		out.approvers[login] = w
	}
	for _, name := range sortedKeys(d.Rotations) {
		r := d.Rotations[name]
		p := join("rotations", name)
		if !ok(p) {
			continue
		}
		obj := "rotation " + strconv.Quote(name)
		if !approvals.ValidLogin(name) {
			ps.add(at(p), obj, "use 1-64 lower-case letters, digits, '.', '_' or '-'", "not a valid rotation name")
		}
		w := wantRotation{path: p, members: dedupe(r.Members), disabled: r.Disabled}
		if ok(join(p, "members")) && len(w.members) == 0 && !r.Disabled {
			ps.add(at(p), obj, "add `members: [login, …]` in hand-over order", "members are required")
		}
		if ok(join(p, "shift")) {
			if r.Shift == "" {
				if !r.Disabled {
					ps.add(at(p), obj, "add `shift: 12h` (how long each member holds the pager)", "shift is required")
				}
			} else if v, err := approvals.ParseDuration(r.Shift); err != nil || v < time.Minute {
				ps.add(at(join(p, "shift")), obj, "write a duration of at least 1m, like 12h or 7d", "shift %s is not a duration of at least 1m", strconv.Quote(r.Shift))
			} else {
				w.shift = v
			}
		}
		if ok(join(p, "start")) {
			if r.Start == "" {
				if !r.Disabled {
					ps.add(at(p), obj, "add `start: 2026-01-05T09:00:00Z` (when the first shift begins, RFC 3339)", "start is required")
				}
			} else if v, err := time.Parse(time.RFC3339, r.Start); err != nil {
				ps.add(at(join(p, "start")), obj, "write an RFC 3339 time like 2026-01-05T09:00:00Z or 2026-01-05T09:00:00+01:00", "start %s is not a time", strconv.Quote(r.Start))
			} else {
				w.start = v.UTC()
			}
		}
		out.rotations[name] = w
	}
	for _, key := range sortedKeys(d.Templates) {
		t := d.Templates[key]
		p := join("templates", key)
		if !ok(p) {
			continue
		}
		obj := "template " + strconv.Quote(key)
		w, tps := convertTemplate(key, t, p, d.line)
		for _, pr := range tps {
			if !bad[pr.path] {
				ps.add(pr.line, obj, pr.hint, "%s", pr.msg)
			}
		}
		out.templates[key] = w
	}
	for _, raw := range sortedKeys(d.Webhooks) {
		h := d.Webhooks[raw]
		p := join("webhooks", raw)
		if !ok(p) {
			continue
		}
		obj := "webhook " + strconv.Quote(raw)
		u, err := approvals.ValidateWebhookURL(raw)
		if err != nil {
			ps.add(at(p), obj, "key each webhook by its absolute http(s) URL, without credentials or #fragment", "not a usable URL")
			continue
		}
		if prev, dup := out.webhooks[u]; dup {
			ps.add(at(p), obj, "declare each URL once", "same URL as the webhook at line %d", d.line(prev.path))
			continue
		}
		evs, err := approvals.ParseWebhookEvents(h.Events)
		if err != nil && ok(join(p, "events")) {
			ps.add(at(join(p, "events")), obj, "use events from: "+strings.Join(approvals.WebhookEvents, ", ")+" (or leave events out for every event)", "events: %s", unknownEvent(h.Events))
		}
		out.webhooks[u] = wantWebhook{path: p, url: u, events: evs, disabled: h.Disabled}
	}
	if err := ps.err(); err != nil {
		return nil, err
	}
	return out, nil
}

func unknownEvent(in []string) string {
	for _, e := range in {
		for _, one := range strings.Split(e, ",") {
			if one = strings.TrimSpace(one); one != "" && !slices.Contains(approvals.WebhookEvents, one) {
				return strconv.Quote(one) + " is not an event type"
			}
		}
	}
	return "not a list of event types"
}

type fieldProblem struct {
	path, msg, hint string
	line            int
}

// convertTemplate turns a file template into the domain's terms with the
// Service's defaults filled, so an unchanged template compares equal.
func convertTemplate(key string, t Template, p string, line func(string) int) (wantTemplate, []fieldProblem) {
	var out []fieldProblem
	badAt := func(fp, hint, format string, args ...any) {
		out = append(out, fieldProblem{path: fp, line: line(fp), hint: hint, msg: fmt.Sprintf(format, args...)})
	}
	bad := func(field, hint, format string, args ...any) {
		fp := join(p, field)
		if field == "" {
			fp = p
		}
		badAt(fp, hint, format, args...)
	}
	tm := approvals.Template{
		Key: key, AppID: strings.TrimSpace(t.App), Title: strings.TrimSpace(t.Title), Name: strings.TrimSpace(t.Name),
		Type: approvals.TemplateType(t.Type), Approvers: sortedSet(t.Approvers), Groups: sortedSet(t.Groups), OnCall: sortedSet(t.OnCall),
		Quorum: t.Quorum, MinReason: t.MinReason, BreakGlassGroups: sortedSet(t.BreakGlassGroups), EscalateGroup: strings.TrimSpace(t.EscalateGroup),
		RequireKeySignature: t.RequireKeySignature,
	}
	if tm.AppID == "" {
		bad("", "add `app: NAME` (the application the template belongs to)", "app is required")
	}
	if tm.Title == "" {
		bad("", "add `title: …` (what approvers see)", "title is required")
	}
	if tm.Name == "" {
		tm.Name = tm.Title
	}
	if tm.Type == "" {
		tm.Type = approvals.TypeApprove
	} else if _, err := approvals.ParseTemplateType(t.Type); err != nil {
		bad("type", "write approve or sign_and_approve", "type %s is not a template type", strconv.Quote(t.Type))
	}
	if len(tm.Approvers) == 0 && len(tm.Groups) == 0 && len(tm.OnCall) == 0 {
		bad("", "name at least one of approvers, groups or oncall", "nobody could ever approve it")
	}
	if tm.Quorum == 0 {
		tm.Quorum = 1
	}
	if tm.Quorum < 1 || tm.Quorum > 20 {
		bad("quorum", "write a quorum between 1 and 20", "quorum %d is out of range", t.Quorum)
	}
	if tm.MinReason < 0 || tm.MinReason > approvals.MaxReasonLen {
		bad("min_reason", "write a length between 0 and "+strconv.Itoa(approvals.MaxReasonLen), "min_reason %d is out of range", t.MinReason)
	}
	dur := func(field, s string, into *time.Duration) {
		if s == "" {
			return
		}
		v, err := approvals.ParseDuration(s)
		if err != nil || v < time.Minute {
			bad(field, "write a duration of at least 1m, like 30m, 1h30m or 2d", "%s %s is not a duration of at least 1m", field, strconv.Quote(s))
			return
		}
		*into = v
	}
	dur("default_ttl", t.DefaultTTL, &tm.DefaultTTL)
	dur("max_ttl", t.MaxTTL, &tm.MaxTTL)
	dur("pending_timeout", t.PendingTimeout, &tm.PendingTimeout)
	dur("break_glass_max_ttl", t.BreakGlassMaxTTL, &tm.BreakGlassMaxTTL)
	dur("escalate_after", t.EscalateAfter, &tm.EscalateAfter)
	if tm.DefaultTTL == 0 {
		tm.DefaultTTL = approvals.DefaultGrantTTL
	}
	if tm.MaxTTL == 0 {
		tm.MaxTTL = max(approvals.DefaultMaxGrantTTL, tm.DefaultTTL)
	}
	if tm.PendingTimeout == 0 {
		tm.PendingTimeout = approvals.DefaultPendingTimeout
	}
	if tm.DefaultTTL > tm.MaxTTL {
		bad("default_ttl", "make default_ttl at most max_ttl", "default_ttl %s is longer than max_ttl %s", formatDuration(tm.DefaultTTL), formatDuration(tm.MaxTTL))
	}
	if tm.EscalateAfter > 0 && len(tm.OnCall) == 0 && tm.EscalateGroup == "" {
		bad("escalate_after", "add an oncall rotation or an escalate_group to escalate to", "escalation has nobody to escalate to")
	}
	for _, g := range append(append(slices.Clone(tm.Groups), tm.BreakGlassGroups...), tm.EscalateGroup) {
		if g != "" && !approvals.ValidLogin(g) {
			bad("", "use lower-case letters, digits, '.', '_' or '-'", "group %s is not a valid group name", strconv.Quote(g))
		}
	}
	seen := map[string]bool{}
	for i, f := range t.Fields {
		fp := item(join(p, "fields"), i)
		if strings.TrimSpace(f.Name) == "" {
			badAt(fp, "give each field a `name:`", "fields[%d] has no name", i)
			continue
		}
		if seen[f.Name] {
			badAt(fp, "give each field once", "field %s is given twice", strconv.Quote(f.Name))
		}
		seen[f.Name] = true
		tm.Fields = append(tm.Fields, approvals.MetadataField{Name: f.Name, Default: f.Default, Required: f.Required})
	}
	return wantTemplate{path: p, t: tm, disabled: t.Disabled}, out
}

// sortedSet trims, drops empties and duplicates, and sorts: the store keeps
// groups, approvers and rotations of templates and approvers as sets.
func sortedSet(in []string) []string {
	out := dedupe(in)
	slices.Sort(out)
	return out
}

// dedupe trims and drops empties and duplicates, keeping order.
func dedupe(in []string) []string {
	var out []string
	for _, v := range in {
		v = strings.TrimSpace(v)
		if v != "" && !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// formatDuration renders d exactly, in the form ParseDuration reads: whole
// days as "2d", else Go's form without zero units ("1h30m", "90s").
// approvals.FormatDuration is for people and drops seconds after hours,
// which would make an exported file differ from the database.
func formatDuration(d time.Duration) string {
	if d <= 0 {
		return ""
	}
	if d%(24*time.Hour) == 0 && d/(24*time.Hour) <= 3650 {
		return strconv.FormatInt(int64(d/(24*time.Hour)), 10) + "d"
	}
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
