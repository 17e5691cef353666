package policy

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/jitdesk/jitdesk/approvals"
)

// Options say how Apply runs.
type Options struct {
	// Actor is who the audit events name (required).
	Actor string
	// DryRun computes the plan, runs every change to check it, and keeps none.
	DryRun bool
	// Prune disables objects of the database the document leaves out
	// (webhooks and rotations are removed); without it they are left alone.
	Prune bool
}

// Secret is a secret made by Apply, to be shown once. Its String leaves the
// secret out, so a Secret printed by accident shows nothing.
type Secret struct {
	Kind Kind   `json:"kind"`
	Key  string `json:"key"` // application name or webhook URL
	ID   string `json:"id"`
	// Value is the application's intake secret as it signs with it, or the
	// webhook's signing secret.
	Value string `json:"secret"`
}

// String names the secret without showing it.
func (s Secret) String() string {
	return fmt.Sprintf("%s %s (%s): secret not shown", s.Kind, strconv.Quote(s.Key), s.ID)
}

// Result is what Apply did (or, dry, would do).
type Result struct {
	Plan Plan `json:"plan"`
	// Secrets of the applications and webhooks created; empty on a dry run
	// (nothing was kept, so nothing could use them).
	Secrets []Secret `json:"secrets,omitempty"`
	DryRun  bool     `json:"dry_run"`
}

// Execution phases: what a later change needs exists by then (templates
// need their application, approvers and rotations; a rotation is removed
// once no template names it; approvers are disabled after the rotations
// listing them changed).
const (
	phaseApps = iota
	phaseApprovers
	phaseRotations
	phaseTemplates
	phaseRemoveRotations
	phaseDisableApprovers
	phaseDisableApps
	phaseWebhooks
)

type step struct {
	phase int
	run   func(ctx context.Context, s *approvals.Service, actor string) (*Secret, error)
}

// Apply makes the state match doc in one transaction through the Service:
// it reads the state, checks every reference in doc against the document
// and the database, computes the plan, and runs it, each change checked
// and audited by the Service as usual. Any refusal aborts all changes. A
// dry run runs the same changes and rolls them back. References that do
// not resolve are refused as an *Error before any change runs.
func Apply(ctx context.Context, svc *approvals.Service, doc *Document, opts Options) (Result, error) {
	if strings.TrimSpace(opts.Actor) == "" {
		return Result{}, fmt.Errorf("apply policy: %w: an actor is required (who the audit events name)", approvals.ErrInvalid)
	}
	if doc == nil {
		return Result{}, fmt.Errorf("apply policy: %w: no document", approvals.ErrInvalid)
	}
	d, err := doc.desired(nil)
	if err != nil {
		return Result{}, err
	}
	var res Result
	err = svc.Administer(ctx, func(a *approvals.Service) error {
		st, err := readState(ctx, a, sortedKeys(d.rotations))
		if err != nil {
			return err
		}
		plan, err := makePlan(doc, d, st, opts.Prune)
		if err != nil {
			return err
		}
		secrets, err := run(ctx, a, opts.Actor, doc.file, plan)
		if err != nil {
			return err
		}
		res = Result{Plan: plan, DryRun: opts.DryRun}
		if opts.DryRun {
			return approvals.ErrDryRun
		}
		res.Secrets = secrets
		return nil
	})
	if err != nil {
		var pe *Error
		if errors.As(err, &pe) {
			return Result{}, pe
		}
		return Result{}, fmt.Errorf("apply policy: %w", err)
	}
	return res, nil
}

// run executes the plan's steps by phase (plan order within a phase).
func run(ctx context.Context, s *approvals.Service, actor, file string, plan Plan) ([]Secret, error) {
	type job struct {
		c *Change
		s step
	}
	var jobs []job
	for i := range plan.Changes {
		for _, st := range plan.Changes[i].steps {
			jobs = append(jobs, job{&plan.Changes[i], st})
		}
	}
	sort.SliceStable(jobs, func(i, j int) bool { return jobs[i].s.phase < jobs[j].s.phase })
	var secrets []Secret
	for _, j := range jobs {
		sec, err := j.s.run(ctx, s, actor)
		if err != nil {
			return nil, &Error{Problems: []Problem{{
				File: file, Line: j.c.line, Object: string(j.c.Kind) + " " + strconv.Quote(j.c.Key),
				Message: "refused: " + err.Error(), Err: err,
			}}}
		}
		if sec != nil {
			secrets = append(secrets, *sec)
		}
	}
	return secrets, nil
}

// makePlan compares d with st, checking references first: a plan is only
// made from a document whose every reference resolves.
func makePlan(doc *Document, d *desired, st *state, prune bool) (Plan, error) {
	if err := checkReferences(doc, d, st, prune); err != nil {
		return Plan{}, err
	}
	var p Plan
	planApps(doc, d, st, prune, &p)
	planApprovers(doc, d, st, prune, &p)
	planRotations(doc, d, st, prune, &p)
	planTemplates(doc, d, st, prune, &p)
	planWebhooks(doc, d, st, prune, &p)
	return p, nil
}

// checkReferences refuses names that will not resolve once the plan is
// made: a template's application, approvers, rotations and groups; a
// rotation's members; a rotation removed while a template names it; keys
// belonging to another approver; webhook URLs that are ambiguous.
func checkReferences(doc *Document, d *desired, st *state, prune bool) error {
	ps := &problems{file: doc.file}
	at := doc.line
	approverExists := func(login string) bool {
		_, inFile := d.approvers[login]
		_, inDB := st.approvers[login]
		return inFile || inDB
	}
	// Rotations that exist (active) once the plan is made.
	activeRotation := func(name string) (bool, string) {
		if w, inFile := d.rotations[name]; inFile {
			if w.disabled {
				return false, "is disabled in this file"
			}
			if when, gone := st.removed[name]; gone {
				return false, "was removed at " + formatTime(when)
			}
			return true, ""
		}
		if _, inDB := st.rotations[name]; inDB {
			if prune {
				return false, "is not in this file, so --prune removes it"
			}
			return true, ""
		}
		return false, "is neither in this file nor in the database"
	}
	groups := groupMembers(d, st)
	known := sortedKeys(groups)
	for _, login := range sortedKeys(d.approvers) {
		w := d.approvers[login]
		obj := "approver " + strconv.Quote(login)
		for _, k := range w.keys {
			if o, ok := st.keyOwner[k.Fingerprint]; ok && o != login {
				ps.add(at(w.keyPaths[k.Fingerprint]), obj, "a key belongs to one approver for good: give "+login+" a key of their own", "key %s belongs to approver %s", k.Fingerprint, strconv.Quote(o))
			}
		}
	}
	for _, name := range sortedKeys(d.rotations) {
		w := d.rotations[name]
		obj := "rotation " + strconv.Quote(name)
		if w.disabled {
			continue
		}
		if when, gone := st.removed[name]; gone {
			ps.add(at(w.path), obj, "choose a new name for the rotation (a removed rotation keeps its name in history), or mark it `disabled: true`", "was removed at %s and cannot be added again", formatTime(when))
		}
		for i, m := range w.members {
			if !approverExists(m) {
				ps.add(at(item(join(w.path, "members"), i)), obj, "declare the approver under approvers, or fix the login", "member %s is neither in this file nor in the database", strconv.Quote(m))
			}
		}
	}
	// Which templates will name each rotation once the plan is made.
	namedBy := map[string][]string{}
	for key, w := range d.templates {
		for _, r := range w.t.OnCall {
			namedBy[r] = append(namedBy[r], key)
		}
	}
	for key, t := range st.templates {
		if _, inFile := d.templates[key]; inFile {
			continue
		}
		for _, r := range t.OnCall {
			namedBy[r] = append(namedBy[r], key)
		}
	}
	for _, key := range sortedKeys(d.templates) {
		w := d.templates[key]
		obj := "template " + strconv.Quote(key)
		t := w.t
		if _, inFile := d.apps[t.AppID]; !inFile {
			if _, inDB := st.apps[t.AppID]; !inDB {
				ps.add(at(join(w.path, "app")), obj, "declare it under applications, or name one of: "+joinOrNone(appNames(d, st)), "application %s is neither in this file nor in the database", strconv.Quote(t.AppID))
			}
		}
		for _, login := range t.Approvers {
			if !approverExists(login) {
				ps.add(at(itemOf(doc, w.path, "approvers", login)), obj, "declare the approver under approvers, or fix the login", "approver %s is neither in this file nor in the database", strconv.Quote(login))
			}
		}
		for _, r := range t.OnCall {
			if ok, why := activeRotation(r); !ok {
				ps.add(at(itemOf(doc, w.path, "oncall", r)), obj, "declare the rotation under rotations, or take it out of oncall", "rotation %s %s", strconv.Quote(r), why)
			}
		}
		checkGroup := func(field, g string, i int) {
			if g == "" || len(groups[g]) > 0 {
				return
			}
			p := join(w.path, field)
			if i >= 0 {
				p = itemOf(doc, w.path, field, g)
			}
			ps.add(at(p), obj, "add the group to an approver's groups, or name an existing group ("+joinOrNone(known)+")",
				"%s: no approver (in this file or the database) is in group %s", field, strconv.Quote(g))
		}
		for i, g := range t.Groups {
			checkGroup("groups", g, i)
		}
		for i, g := range t.BreakGlassGroups {
			checkGroup("break_glass_groups", g, i)
		}
		checkGroup("escalate_group", t.EscalateGroup, -1)
	}
	removing := func(name string) bool {
		if w, inFile := d.rotations[name]; inFile {
			return w.disabled
		}
		_, inDB := st.rotations[name]
		return prune && inDB
	}
	for _, name := range sortedKeys(namedBy) {
		if _, active := st.rotations[name]; !active || !removing(name) {
			continue
		}
		users := namedBy[name]
		slices.Sort(users)
		line := 0
		if w, inFile := d.rotations[name]; inFile {
			line = at(join(w.path, "disabled"))
		}
		ps.add(line, "rotation "+strconv.Quote(name), "take it out of their oncall first (a disabled template still names it), or keep the rotation",
			"cannot be removed: template(s) %s name it", strings.Join(users, ", "))
	}
	for _, u := range sortedKeys(d.webhooks) {
		w := d.webhooks[u]
		if hooks := st.webhooks[u]; len(hooks) > 1 && !w.disabled {
			ids := make([]string, len(hooks))
			for i, h := range hooks {
				ids[i] = h.ID
			}
			ps.add(at(w.path), "webhook "+strconv.Quote(u), "remove all but one with `jitdesk webhook remove ID`, or mark it `disabled: true` to remove them all",
				"%d active webhooks have this URL (%s)", len(hooks), strings.Join(ids, ", "))
		}
	}
	sort.SliceStable(ps.list, func(i, j int) bool { return ps.list[i].Line < ps.list[j].Line })
	return ps.err()
}

// itemOf is the path of the list item holding v (lists are deduplicated
// and sorted after the walk recorded their lines), else of the list.
func itemOf(doc *Document, objPath, field, v string) string {
	f := join(objPath, field)
	var raw []string
	if t, ok := doc.Templates[strings.TrimPrefix(objPath, "templates\x00")]; ok {
		switch field {
		case "approvers":
			raw = t.Approvers
		case "groups":
			raw = t.Groups
		case "oncall":
			raw = t.OnCall
		case "break_glass_groups":
			raw = t.BreakGlassGroups
		}
	}
	for j, r := range raw {
		if strings.TrimSpace(r) == v {
			return item(f, j)
		}
	}
	return f
}

func appNames(d *desired, st *state) []string {
	var out []string
	for n := range d.apps {
		out = append(out, n)
	}
	for n := range st.apps {
		if _, ok := d.apps[n]; !ok {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}

// union returns the keys of a and, when prune, of b, sorted.
func union[A, B any](a map[string]A, b map[string]B, withB bool) []string {
	keys := sortedKeys(a)
	if withB {
		for k := range b {
			if _, ok := a[k]; !ok {
				keys = append(keys, k)
			}
		}
	}
	slices.Sort(keys)
	return keys
}

// add appends c unless it changes nothing; an update that disables the
// object is a disable.
func (p *Plan) add(c Change) {
	if c.Action == "" || (c.Action == Update && len(c.Fields) == 0) {
		return
	}
	if c.Action == Update && slices.ContainsFunc(c.Fields, func(f FieldChange) bool { return f.Field == "disabled" && f.To == true }) {
		c.Action = Disable
	}
	p.Changes = append(p.Changes, c)
}

func planApps(doc *Document, d *desired, st *state, prune bool, p *Plan) {
	for _, name := range union(d.apps, st.apps, prune) {
		w, inFile := d.apps[name]
		cur, exists := st.apps[name]
		c := Change{Kind: KindApplication, Key: name}
		if inFile {
			c.line = doc.line(w.path)
		}
		to := appKV(w.audience, w.limits, w.disabled)
		switch {
		case inFile && !exists:
			c.Action, c.Fields = Create, createFields(to)
			c.steps = append(c.steps, step{phaseApps, func(ctx context.Context, s *approvals.Service, actor string) (*Secret, error) {
				app, err := s.CreateApplication(ctx, actor, name, w.audience)
				if err != nil {
					return nil, err
				}
				sec := &Secret{Kind: KindApplication, Key: name, ID: app.ID, Value: approvals.PrintedSecret(app.Secret, app.SecretFormat)}
				if w.limits != (approvals.AppLimits{}) {
					l := w.limits
					if _, err := s.UpdateApp(ctx, actor, app.ID, approvals.AppUpdate{Limits: &l}); err != nil {
						return nil, err
					}
				}
				return sec, nil
			}})
			if w.disabled {
				c.steps = append(c.steps, setApp(name, false))
			}
		case inFile && exists:
			c.Action, c.Fields = Update, diffFields(appKV(cur.Audience, cur.Limits, cur.Disabled), to)
			var u approvals.AppUpdate
			if w.audience != cur.Audience {
				aud := w.audience
				u.Audience = &aud
				c.Notes = append(c.Notes, approvals.AudienceChangeWarning)
			}
			if w.limits != cur.Limits {
				l := w.limits
				u.Limits = &l
			}
			if u != (approvals.AppUpdate{}) {
				c.steps = append(c.steps, step{phaseApps, func(ctx context.Context, s *approvals.Service, actor string) (*Secret, error) {
					_, err := s.UpdateApp(ctx, actor, cur.ID, u)
					return nil, err
				}})
			}
			if w.disabled != cur.Disabled {
				c.steps = append(c.steps, setApp(cur.ID, !w.disabled))
			}
		case !inFile && exists && !cur.Disabled:
			c.Action, c.Fields = Disable, []FieldChange{{Field: "disabled", From: false, To: true}}
			c.steps = append(c.steps, setApp(cur.ID, false))
		}
		p.add(c)
	}
}

func setApp(idOrName string, enabled bool) step {
	phase := phaseApps
	if !enabled {
		phase = phaseDisableApps
	}
	return step{phase, func(ctx context.Context, s *approvals.Service, actor string) (*Secret, error) {
		_, err := s.SetAppEnabled(ctx, actor, idOrName, enabled)
		return nil, err
	}}
}

func setApprover(login string, enabled bool) step {
	phase := phaseApprovers
	if !enabled {
		phase = phaseDisableApprovers
	}
	return step{phase, func(ctx context.Context, s *approvals.Service, actor string) (*Secret, error) {
		_, err := s.SetApproverEnabled(ctx, actor, login, enabled)
		return nil, err
	}}
}

func planApprovers(doc *Document, d *desired, st *state, prune bool, p *Plan) {
	for _, login := range union(d.approvers, st.approvers, prune) {
		w, inFile := d.approvers[login]
		cur, exists := st.approvers[login]
		c := Change{Kind: KindApprover, Key: login}
		if inFile {
			c.line = doc.line(w.path)
		}
		to := approverKV(w.name, w.email, w.groups, w.keys, w.auditor, w.disabled)
		switch {
		case inFile && !exists:
			c.Action, c.Fields = Create, createFields(to)
			a := approvals.Approver{Login: login, Name: w.name, Email: w.email, Groups: w.groups, SSHKeys: w.keys, Auditor: w.auditor}
			c.steps = append(c.steps, step{phaseApprovers, func(ctx context.Context, s *approvals.Service, actor string) (*Secret, error) {
				return nil, s.AddApprover(ctx, actor, a)
			}})
			if w.disabled {
				c.steps = append(c.steps, setApprover(login, false))
			}
		case inFile && exists:
			c.Action, c.Fields = Update, diffFields(approverKV(cur.Name, cur.Email, cur.Groups, cur.SSHKeys, cur.Auditor, cur.Disabled()), to)
			var u approvals.ApproverUpdate
			if w.name != cur.Name {
				u.Name = &w.name
			}
			if w.email != cur.Email {
				u.Email = &w.email
			}
			if w.auditor != cur.Auditor {
				u.Auditor = &w.auditor
			}
			curGroups := sortedSet(cur.Groups)
			for _, g := range w.groups {
				if !slices.Contains(curGroups, g) {
					u.AddGroups = append(u.AddGroups, g)
				}
			}
			for _, g := range curGroups {
				if !slices.Contains(w.groups, g) {
					u.RemoveGroups = append(u.RemoveGroups, g)
				}
			}
			if u.Name != nil || u.Email != nil || u.Auditor != nil || u.AddGroups != nil || u.RemoveGroups != nil {
				c.steps = append(c.steps, step{phaseApprovers, func(ctx context.Context, s *approvals.Service, actor string) (*Secret, error) {
					_, err := s.UpdateApprover(ctx, actor, login, u)
					return nil, err
				}})
			}
			have := map[string]bool{}
			for _, k := range cur.ActiveKeys() {
				have[k.Fingerprint] = true
			}
			want := map[string]bool{}
			for _, k := range w.keys {
				want[k.Fingerprint] = true
				if !have[k.Fingerprint] {
					line := k.AuthorizedKey
					c.steps = append(c.steps, step{phaseApprovers, func(ctx context.Context, s *approvals.Service, actor string) (*Secret, error) {
						_, err := s.AddApproverKey(ctx, actor, login, line)
						return nil, err
					}})
				}
			}
			for _, k := range cur.ActiveKeys() {
				if !want[k.Fingerprint] {
					fp := k.Fingerprint
					c.steps = append(c.steps, step{phaseApprovers, func(ctx context.Context, s *approvals.Service, actor string) (*Secret, error) {
						_, err := s.RemoveApproverKey(ctx, actor, login, fp)
						return nil, err
					}})
				}
			}
			if w.disabled != cur.Disabled() {
				c.steps = append(c.steps, setApprover(login, !w.disabled))
			}
		case !inFile && exists && !cur.Disabled():
			c.Action, c.Fields = Disable, []FieldChange{{Field: "disabled", From: false, To: true}}
			c.steps = append(c.steps, setApprover(login, false))
		}
		p.add(c)
	}
}

func removeRotation(name string) step {
	return step{phaseRemoveRotations, func(ctx context.Context, s *approvals.Service, actor string) (*Secret, error) {
		return nil, s.RemoveRotation(ctx, actor, name)
	}}
}

func planRotations(doc *Document, d *desired, st *state, prune bool, p *Plan) {
	for _, name := range union(d.rotations, st.rotations, prune) {
		w, inFile := d.rotations[name]
		cur, exists := st.rotations[name]
		c := Change{Kind: KindRotation, Key: name}
		if inFile {
			c.line = doc.line(w.path)
		}
		to := rotationKV(w.members, w.shift, w.start)
		switch {
		case inFile && w.disabled:
			if exists {
				c.Action, c.Fields = Disable, []FieldChange{{Field: "disabled", From: false, To: true}}
				c.steps = append(c.steps, removeRotation(name))
			}
		case inFile && !exists:
			c.Action, c.Fields = Create, createFields(to)
			r := approvals.Rotation{Name: name, Members: w.members, Shift: w.shift, Start: w.start}
			c.steps = append(c.steps, step{phaseRotations, func(ctx context.Context, s *approvals.Service, actor string) (*Secret, error) {
				return nil, s.AddRotation(ctx, actor, r)
			}})
		case inFile && exists:
			c.Action, c.Fields = Update, diffFields(rotationKV(cur.Members, cur.Shift, cur.Start), to)
			var u approvals.RotationUpdate
			if !slices.Equal(w.members, cur.Members) {
				u.Members = w.members
			}
			if w.shift != cur.Shift {
				u.Shift = &w.shift
			}
			if w.start.UnixMilli() != cur.Start.UnixMilli() {
				u.Start = &w.start
			}
			if u.Members != nil || u.Shift != nil || u.Start != nil {
				c.steps = append(c.steps, step{phaseRotations, func(ctx context.Context, s *approvals.Service, actor string) (*Secret, error) {
					_, err := s.UpdateRotation(ctx, actor, name, u)
					return nil, err
				}})
			}
		case !inFile && exists:
			c.Action, c.Fields = Disable, []FieldChange{{Field: "disabled", From: false, To: true}}
			c.steps = append(c.steps, removeRotation(name))
		}
		p.add(c)
	}
}

func setTemplate(key string, enabled bool) step {
	return step{phaseTemplates, func(ctx context.Context, s *approvals.Service, actor string) (*Secret, error) {
		_, err := s.SetTemplateEnabled(ctx, actor, key, enabled)
		return nil, err
	}}
}

func planTemplates(doc *Document, d *desired, st *state, prune bool, p *Plan) {
	for _, key := range union(d.templates, st.templates, prune) {
		w, inFile := d.templates[key]
		cur, exists := st.templates[key]
		c := Change{Kind: KindTemplate, Key: key}
		if inFile {
			c.line = doc.line(w.path)
		}
		to := templateKV(w.t, w.t.AppID, w.disabled)
		switch {
		case inFile && !exists:
			c.Action, c.Fields = Create, createFields(to)
			t := w.t
			c.steps = append(c.steps, step{phaseTemplates, func(ctx context.Context, s *approvals.Service, actor string) (*Secret, error) {
				return nil, s.AddTemplate(ctx, actor, t)
			}})
			if w.disabled {
				c.steps = append(c.steps, setTemplate(key, false))
			}
		case inFile && exists:
			from := templateKV(cur, st.appName[cur.AppID], cur.Disabled())
			c.Action, c.Fields = Update, diffFields(from, to)
			terms := slices.ContainsFunc(c.Fields, func(f FieldChange) bool { return f.Field != "disabled" })
			if terms {
				want := w.t
				c.steps = append(c.steps, step{phaseTemplates, func(ctx context.Context, s *approvals.Service, actor string) (*Secret, error) {
					_, err := s.UpdateTemplate(ctx, actor, key, func(t *approvals.Template) error {
						bg := t.BreakGlassGroups
						*t = want
						if slices.Equal(sortedSet(bg), want.BreakGlassGroups) {
							t.BreakGlassGroups = bg // the same set in its stored order: no spurious version
						}
						return nil
					})
					return nil, err
				}})
			}
			if w.disabled != cur.Disabled() {
				c.steps = append(c.steps, setTemplate(key, !w.disabled))
			}
		case !inFile && exists && !cur.Disabled():
			c.Action, c.Fields = Disable, []FieldChange{{Field: "disabled", From: false, To: true}}
			c.steps = append(c.steps, setTemplate(key, false))
		}
		p.add(c)
	}
}

func addWebhook(url string, events []string) step {
	return step{phaseWebhooks, func(ctx context.Context, s *approvals.Service, actor string) (*Secret, error) {
		h, err := s.AddWebhook(ctx, actor, url, events)
		if err != nil {
			return nil, err
		}
		return &Secret{Kind: KindWebhook, Key: url, ID: h.ID, Value: h.Secret}, nil
	}}
}

func removeWebhook(id string) step {
	return step{phaseWebhooks, func(ctx context.Context, s *approvals.Service, actor string) (*Secret, error) {
		_, err := s.RemoveWebhook(ctx, actor, id)
		return nil, err
	}}
}

func planWebhooks(doc *Document, d *desired, st *state, prune bool, p *Plan) {
	for _, u := range union(d.webhooks, st.webhooks, prune) {
		w, inFile := d.webhooks[u]
		hooks := st.webhooks[u]
		line := 0
		if inFile {
			line = doc.line(w.path)
		}
		if (inFile && w.disabled) || !inFile {
			for _, h := range hooks {
				p.Changes = append(p.Changes, Change{Action: Disable, Kind: KindWebhook, Key: u, line: line,
					Fields: []FieldChange{{Field: "disabled", From: false, To: true}},
					Notes:  []string{"removes webhook " + h.ID + " (its pending deliveries are cancelled; its log is kept)"},
					steps:  []step{removeWebhook(h.ID)}})
			}
			continue
		}
		c := Change{Kind: KindWebhook, Key: u, line: line}
		switch len(hooks) {
		case 0:
			c.Action, c.Fields = Create, []FieldChange{{Field: "events", To: list(w.events)}}
			c.steps = []step{addWebhook(u, w.events)}
		case 1:
			cur, _ := approvals.ParseWebhookEvents(hooks[0].Events)
			c.Action, c.Fields = Update, diffFields(webhookKV(cur), webhookKV(w.events))
			if len(c.Fields) > 0 {
				c.Notes = []string{"re-created: webhook " + hooks[0].ID + " is removed and a new one added, with a new id and secret (a webhook's events cannot be changed in place)"}
				c.steps = []step{removeWebhook(hooks[0].ID), addWebhook(u, w.events)}
			}
		}
		p.add(c)
	}
}
