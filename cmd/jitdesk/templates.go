package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/jitdesk/jitdesk/approvals"
)

// templateFlags are the terms `template add` and `template update` share.
type templateFlags struct {
	app, title, name, typ, ttl, maxTTL, pending, breakGlass, escalateAfter, escalateGroup string
	approvers, groups, fields, required, oncall, breakGlassGroups                         []string
	quorum, minReason                                                                     int
	requireKeySignature                                                                   bool
}

func (tf *templateFlags) register(f *pflag.FlagSet, update bool) {
	req := " (required)"
	list := " (repeatable)"
	if update {
		req = ""
		list = " (repeatable; replaces the list; '' empties it)"
	}
	f.StringVar(&tf.app, "app", "", "application (name or id) the template belongs to"+req)
	f.StringVar(&tf.title, "title", "", "approval title shown to approvers"+req)
	f.StringVar(&tf.name, "name", "", "template name (default: the title)")
	f.StringVar(&tf.typ, "type", "", "approve | sign_and_approve"+req)
	f.StringArrayVar(&tf.approvers, "approver", nil, "approver login"+list)
	f.StringArrayVar(&tf.groups, "group", nil, "approver group"+list)
	f.StringArrayVar(&tf.oncall, "oncall", nil, "rotation whose on-call person may decide"+list)
	f.StringArrayVar(&tf.breakGlassGroups, "break-glass-group", nil, "group whose members may break glass on their own requests besides those who could decide them"+list)
	f.IntVar(&tf.quorum, "quorum", 1, "approvals needed")
	f.StringVar(&tf.ttl, "ttl", "", "default grant lifetime (default 1h)")
	f.StringVar(&tf.maxTTL, "max-ttl", "", "longest grant a request may ask for (default 8h)")
	f.StringVar(&tf.pending, "pending-timeout", "", "how long a request waits for a decision before it expires (default 24h)")
	f.StringVar(&tf.escalateAfter, "escalate-after", "", "escalate a request still pending after D to the next person in the --oncall rotation (again after each D; 0: never)")
	f.StringVar(&tf.escalateGroup, "escalate-group", "", "from the first escalation, this approver group may decide too")
	f.StringVar(&tf.breakGlass, "break-glass", "", "let a requester approve their own request in an emergency, capped at this TTL (e.g. 30m; 0: not allowed)")
	f.IntVar(&tf.minReason, "min-reason", 0, "refuse reasons shorter than N characters after trimming")
	f.BoolVar(&tf.requireKeySignature, "require-key-signature", false, "refuse decisions not signed with the approver's own SSH key (ssh -A, or ssh-add locally); =false lifts it")
	fieldsNote := ""
	if update {
		fieldsNote = "; --field and --required-field together replace the fields"
	}
	f.StringArrayVar(&tf.fields, "field", nil, "metadata field NAME[=DEFAULT] (repeatable"+fieldsNote+")")
	f.StringArrayVar(&tf.required, "required-field", nil, "required metadata field NAME (repeatable"+fieldsNote+")")
}

// apply sets the terms given on t: every flag for add (all), only the
// flags on the command line for update.
func (tf *templateFlags) apply(cmd *cobra.Command, t *approvals.Template, all bool) error {
	given := func(name string) bool { return all || changed(cmd, name) }
	if given("app") {
		t.AppID = tf.app
	}
	if given("title") {
		t.Title = tf.title
	}
	if given("name") {
		t.Name = tf.name
	}
	if given("type") {
		tt, err := approvals.ParseTemplateType(tf.typ)
		if err != nil {
			return usagef(cmd, "--type: %v", err)
		}
		t.Type = tt
	}
	for _, l := range []struct {
		flag string
		v    []string
		dst  *[]string
	}{{"approver", tf.approvers, &t.Approvers}, {"group", tf.groups, &t.Groups}, {"oncall", tf.oncall, &t.OnCall}, {"break-glass-group", tf.breakGlassGroups, &t.BreakGlassGroups}} {
		if given(l.flag) {
			*l.dst = nonEmpty(l.v)
		}
	}
	if given("quorum") {
		t.Quorum = tf.quorum
	}
	if given("min-reason") {
		t.MinReason = tf.minReason
	}
	if given("escalate-group") {
		t.EscalateGroup = tf.escalateGroup
	}
	if given("require-key-signature") {
		t.RequireKeySignature = tf.requireKeySignature
	}
	for _, d := range []struct {
		flag, value string
		dst         *time.Duration
		zeroOK      bool
	}{{"ttl", tf.ttl, &t.DefaultTTL, false}, {"max-ttl", tf.maxTTL, &t.MaxTTL, false}, {"pending-timeout", tf.pending, &t.PendingTimeout, false},
		{"break-glass", tf.breakGlass, &t.BreakGlassMaxTTL, true}, {"escalate-after", tf.escalateAfter, &t.EscalateAfter, true}} {
		if !given(d.flag) || d.value == "" {
			continue
		}
		if d.zeroOK && (d.value == "0" || d.value == "0s") {
			*d.dst = 0
			continue
		}
		v, err := approvals.ParseDuration(d.value)
		if err != nil {
			return usagef(cmd, "--%s: %v", d.flag, err)
		}
		*d.dst = v
	}
	if given("field") || given("required-field") {
		t.Fields = nil
		idx := map[string]int{}
		for _, f := range nonEmpty(tf.fields) {
			k, def, _ := strings.Cut(f, "=")
			idx[k] = len(t.Fields)
			t.Fields = append(t.Fields, approvals.MetadataField{Name: k, Default: def})
		}
		for _, r := range nonEmpty(tf.required) {
			if i, ok := idx[r]; ok {
				t.Fields[i].Required = true
			} else {
				idx[r] = len(t.Fields)
				t.Fields = append(t.Fields, approvals.MetadataField{Name: r, Required: true})
			}
		}
	}
	return nil
}

// nonEmpty drops empty values, so `--group ”` empties a list.
func nonEmpty(v []string) []string {
	out := []string{}
	for _, s := range v {
		if strings.TrimSpace(s) != "" {
			out = append(out, s)
		}
	}
	return out
}

func newTemplateCmd(g *globals) *cobra.Command {
	cmd := newGroup("template", "Manage approval templates (versioned: requests are decided on the version they were made under)")
	addFlags := &templateFlags{}
	add := &cobra.Command{
		Use:   "add KEY --app APP --title T --type approve|sign_and_approve [--approver LOGIN]... [--group G]...",
		Short: "Add an approval template",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if addFlags.app == "" || addFlags.title == "" || addFlags.typ == "" {
				return usagef(cmd, "--app, --title and --type are required")
			}
			t := approvals.Template{Key: args[0]}
			if err := addFlags.apply(cmd, &t, true); err != nil {
				return err
			}
			return g.withService(func(ctx context.Context, svc *approvals.Service, _ database) error {
				if err := svc.AddTemplate(ctx, operator(), t); err != nil {
					return err
				}
				saved, err := svc.Template(ctx, t.Key)
				if err != nil {
					return err
				}
				if g.json {
					return g.printJSON(templateJSON(saved))
				}
				g.say("template %s (%s, %s) added: quorum %d, ttl %s (max %s), pending timeout %s\n",
					saved.Key, saved.Title, saved.Type.Label(), saved.Quorum, dur(saved.DefaultTTL), dur(saved.MaxTTL), dur(saved.PendingTimeout))
				return nil
			})
		},
	}
	addFlags.register(add.Flags(), false)

	updFlags := &templateFlags{}
	update := &cobra.Command{
		Use:   "update KEY [any flag of `template add`]",
		Short: "Change a template's terms (only the flags given); prints the new version",
		Long: `Changes a template: only the flags given change; list flags (--approver,
--group, --oncall, --break-glass-group, --field with --required-field) replace
the list when given. The result is checked like a new template and stored as
the next version. Pending requests stay on the version they were made under.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			given := false
			cmd.LocalNonPersistentFlags().VisitAll(func(f *pflag.Flag) { given = given || f.Changed })
			if !given {
				return usagef(cmd, "nothing to change: give at least one flag of `jitdesk template add`")
			}
			// Flags are checked before the database is opened, so a bad
			// value is a usage error whatever the template.
			if err := updFlags.apply(cmd, &approvals.Template{}, false); err != nil {
				return err
			}
			return g.withService(func(ctx context.Context, svc *approvals.Service, _ database) error {
				before, err := svc.Template(ctx, args[0])
				if err != nil {
					return err
				}
				t, err := svc.UpdateTemplate(ctx, operator(), args[0], func(t *approvals.Template) error {
					return updFlags.apply(cmd, t, false)
				})
				if err != nil {
					return err
				}
				if g.json {
					out := templateJSON(t)
					out["changed"] = t.Version != before.Version
					return g.printJSON(out)
				}
				if t.Version == before.Version {
					g.say("template %s unchanged (version %d)\n", t.Key, t.Version)
					return nil
				}
				g.say("template %s updated: version %d (pending requests stay on the version they were made under)\n", t.Key, t.Version)
				return nil
			})
		},
	}
	updFlags.register(update.Flags(), true)

	setEnabled := func(enabled bool) *cobra.Command {
		verb, short := "disable", "Stop new requests of a template (pending ones stay decidable)"
		if enabled {
			verb, short = "enable", "Accept new requests of a template again"
		}
		return &cobra.Command{
			Use:   verb + " KEY",
			Short: short,
			Args:  cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				return g.withService(func(ctx context.Context, svc *approvals.Service, _ database) error {
					t, err := svc.SetTemplateEnabled(ctx, operator(), args[0], enabled)
					if err != nil {
						return err
					}
					if g.json {
						return g.printJSON(templateJSON(t))
					}
					g.say("template %s is %s\n", t.Key, templateState(t))
					return nil
				})
			},
		}
	}

	var versions bool
	var version int
	show := &cobra.Command{
		Use:   "show KEY [--versions] [--version N]",
		Short: "Show a template's terms (now, or at --version N), or its versions",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if versions && changed(cmd, "version") {
				return usagef(cmd, "--versions and --version N are alternatives")
			}
			if changed(cmd, "version") && version < 1 {
				return usagef(cmd, "--version %d: versions count from 1", version)
			}
			return g.withService(func(ctx context.Context, svc *approvals.Service, _ database) error {
				if versions {
					hist, err := svc.TemplateHistory(ctx, args[0])
					if err != nil {
						return err
					}
					l := g.newListing("VERSION", "AT", "BY")
					for _, v := range hist {
						l.add(map[string]any{"version": v.Version, "at": ts(v.At), "by": v.By}, fmt.Sprint(v.Version), ts(v.At), v.By)
					}
					return l.print()
				}
				var t approvals.Template
				var err error
				if changed(cmd, "version") {
					t, err = svc.TemplateAt(ctx, args[0], version)
				} else {
					t, err = svc.Template(ctx, args[0])
				}
				if err != nil {
					return err
				}
				if g.json {
					return g.printJSON(templateJSON(t))
				}
				printTemplate(g, t)
				return nil
			})
		},
	}
	show.Flags().BoolVar(&versions, "versions", false, "list the recorded versions (when, by whom)")
	show.Flags().IntVar(&version, "version", 0, "show the terms of version N")

	list := &cobra.Command{
		Use:   "list",
		Short: "List templates",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return g.withService(func(ctx context.Context, svc *approvals.Service, _ database) error {
				l := g.newListing("KEY", "TITLE", "TYPE", "VERSION", "STATE", "QUORUM", "APPROVERS", "GROUPS")
				err := eachPage(func(after string, n int) ([]approvals.Template, error) { return svc.Templates(ctx, after, n) },
					func(t approvals.Template) string { return t.Key },
					func(t approvals.Template) {
						l.add(templateJSON(t), t.Key, t.Title, t.Type.Label(), fmt.Sprint(t.Version), templateState(t), fmt.Sprint(t.Quorum), strings.Join(t.Approvers, ","), strings.Join(t.Groups, ","))
					})
				if err != nil {
					return err
				}
				return l.print()
			})
		},
	}
	cmd.AddCommand(add, update, show, list, setEnabled(false), setEnabled(true))
	return cmd
}

func templateState(t approvals.Template) string {
	if t.Disabled() {
		return "disabled " + ts(t.DisabledAt)
	}
	return "active"
}

func printTemplate(g *globals, t approvals.Template) {
	l := g.newListing("TERM", "VALUE")
	row := func(k, v string) { l.add(nil, k, v) }
	row("key", t.Key)
	row("version", fmt.Sprint(t.Version))
	row("state", templateState(t))
	row("application", t.AppID)
	row("title", t.Title)
	row("name", t.Name)
	row("type", t.Type.Label())
	row("quorum", fmt.Sprint(t.Quorum))
	row("approvers", orNone(strings.Join(t.Approvers, ", ")))
	row("groups", orNone(strings.Join(t.Groups, ", ")))
	row("on call", orNone(strings.Join(t.OnCall, ", ")))
	row("ttl", dur(t.DefaultTTL)+" (max "+dur(t.MaxTTL)+")")
	row("pending timeout", dur(t.PendingTimeout))
	row("min reason", fmt.Sprint(t.MinReason))
	if t.EscalateAfter > 0 {
		row("escalation", fmt.Sprintf("every %s, up to %d steps, group %s", dur(t.EscalateAfter), t.EscalateCap, orNone(t.EscalateGroup)))
	}
	if t.BreakGlassMaxTTL > 0 {
		row("break-glass", fmt.Sprintf("up to %s, also groups %s", dur(t.BreakGlassMaxTTL), orNone(strings.Join(t.BreakGlassGroups, ", "))))
	}
	if t.RequireKeySignature {
		row("key signature", "required: decisions are signed with the approver's SSH key")
	}
	for _, f := range t.Fields {
		v := "optional"
		if f.Required {
			v = "required"
		}
		if f.Default != "" {
			v += ", default " + f.Default
		}
		row("field "+f.Name, v)
	}
	l.tw.Flush()
}

func templateJSON(t approvals.Template) map[string]any {
	fields := []map[string]any{}
	for _, f := range t.Fields {
		fields = append(fields, map[string]any{"name": f.Name, "default": f.Default, "required": f.Required})
	}
	m := map[string]any{
		"key": t.Key, "version": t.Version, "disabled": t.Disabled(), "app": t.AppID, "name": t.Name, "title": t.Title, "type": t.Type, "quorum": t.Quorum,
		"approvers": nonNilS(t.Approvers), "groups": nonNilS(t.Groups), "oncall": nonNilS(t.OnCall), "fields": fields,
		"ttl": dur(t.DefaultTTL), "max_ttl": dur(t.MaxTTL), "pending_timeout": dur(t.PendingTimeout), "min_reason": t.MinReason,
		"break_glass_max_ttl": dur(t.BreakGlassMaxTTL), "break_glass_groups": nonNilS(t.BreakGlassGroups),
		"escalate_after": dur(t.EscalateAfter), "escalate_group": t.EscalateGroup, "escalate_cap": t.EscalateCap, "created_at": ts(t.CreatedAt),
		"require_key_signature": t.RequireKeySignature,
	}
	if t.Disabled() {
		m["disabled_at"] = ts(t.DisabledAt)
	}
	return m
}
