package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/jitdesk/jitdesk/approvals"
	"github.com/jitdesk/jitdesk/store"
)

func newInitCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "init",
		Short: "Create the database and the first signing key (safe to run again)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			svc, db, err := g.open(true)
			if err != nil {
				return err
			}
			defer db.Close()
			created, err := svc.Init(cmd.Context(), operator())
			if err != nil {
				return err
			}
			if g.json {
				return g.printJSON(map[string]any{"db": db.Path(), "created_key": created})
			}
			if created {
				fmt.Fprintf(g.out, "initialised %s with a new EdDSA signing key\n", db.Path())
			} else {
				fmt.Fprintf(g.out, "%s is already initialised\n", db.Path())
			}
			return nil
		},
	}
}

func newAppCmd(g *globals) *cobra.Command {
	app := &cobra.Command{Use: "app", Short: "Manage applications (the clients that submit requests)"}
	var audience string
	add := &cobra.Command{
		Use:   "add NAME --audience AUD",
		Short: "Register an application; prints its id and intake secret (shown once)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if audience == "" {
				return usagef(cmd, "--audience is required: the aud services expect in this application's access tokens")
			}
			return g.withService(func(ctx context.Context, svc *approvals.Service, _ *store.DB) error {
				a, err := svc.CreateApplication(ctx, operator(), args[0], audience)
				if err != nil {
					return err
				}
				secret := approvals.PrintedSecret(a.Secret, a.SecretFormat)
				if g.json {
					return g.printJSON(map[string]any{"id": a.ID, "name": a.Name, "audience": a.Audience, "secret": secret})
				}
				fmt.Fprintf(g.out, "application %s\nid:       %s\naudience: %s\nsecret:   %s\n\n", a.Name, a.ID, a.Audience, secret)
				fmt.Fprintln(g.out, "The secret is shown once: store it with the application now.")
				fmt.Fprintln(g.out, "The application signs HS256 intake tokens with this string exactly as printed (iss = its id).")
				return nil
			})
		},
	}
	add.Flags().StringVar(&audience, "audience", "", "aud of access tokens issued for this application (required)")
	list := &cobra.Command{
		Use:   "list",
		Short: "List applications",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return g.withService(func(ctx context.Context, svc *approvals.Service, _ *store.DB) error {
				l := g.newListing("ID", "NAME", "AUDIENCE")
				err := eachPage(func(after string, n int) ([]approvals.Application, error) { return svc.Applications(ctx, after, n) },
					func(a approvals.Application) string { return a.Name },
					func(a approvals.Application) {
						l.add(map[string]any{"id": a.ID, "name": a.Name, "audience": a.Audience}, a.ID, a.Name, a.Audience)
					})
				if err != nil {
					return err
				}
				return l.print()
			})
		},
	}
	app.AddCommand(add, list)
	return app
}

func newApproverCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "approver", Short: "Manage approvers"}
	var name, email string
	var groups, keyFiles []string
	add := &cobra.Command{
		Use:   `add LOGIN --name "Full Name" [--email E] [--group G]... [--ssh-key FILE]...`,
		Short: "Register an approver",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if strings.TrimSpace(name) == "" {
				return usagef(cmd, `--name "Full Name" is required (approvers sign with it)`)
			}
			a := approvals.Approver{Login: args[0], Name: name, Email: email, Groups: groups}
			for _, f := range keyFiles {
				b, err := os.ReadFile(f)
				if err != nil {
					return fmt.Errorf("--ssh-key: %w", err)
				}
				for _, line := range strings.Split(string(b), "\n") {
					line = strings.TrimSpace(line)
					if line == "" || strings.HasPrefix(line, "#") {
						continue
					}
					k, err := approvals.ParseSSHKey(line)
					if err != nil {
						return fmt.Errorf("--ssh-key %s: %w", f, err)
					}
					a.SSHKeys = append(a.SSHKeys, k)
				}
			}
			return g.withService(func(ctx context.Context, svc *approvals.Service, _ *store.DB) error {
				if err := svc.AddApprover(ctx, operator(), a); err != nil {
					return err
				}
				if g.json {
					return g.printJSON(approverJSON(a))
				}
				fmt.Fprintf(g.out, "approver %s (%s) added", a.Login, a.Name)
				if len(a.SSHKeys) > 0 {
					fmt.Fprintf(g.out, " with %d ssh key(s)", len(a.SSHKeys))
				}
				fmt.Fprintln(g.out)
				return nil
			})
		},
	}
	add.Flags().StringVar(&name, "name", "", "full name, as the approver signs it (required)")
	add.Flags().StringVar(&email, "email", "", "email address")
	add.Flags().StringArrayVar(&groups, "group", nil, "approver group (repeatable)")
	add.Flags().StringArrayVar(&keyFiles, "ssh-key", nil, "file with OpenSSH public key(s) for the SSH console (repeatable)")
	list := &cobra.Command{
		Use:   "list",
		Short: "List approvers",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return g.withService(func(ctx context.Context, svc *approvals.Service, _ *store.DB) error {
				l := g.newListing("LOGIN", "NAME", "GROUPS", "SSH KEYS")
				err := eachPage(func(after string, n int) ([]approvals.Approver, error) { return svc.Approvers(ctx, after, n) },
					func(a approvals.Approver) string { return a.Login },
					func(a approvals.Approver) {
						l.add(approverJSON(a), a.Login, a.Name, strings.Join(a.Groups, ","), fmt.Sprint(len(a.SSHKeys)))
					})
				if err != nil {
					return err
				}
				return l.print()
			})
		},
	}
	cmd.AddCommand(add, list)
	return cmd
}

func approverJSON(a approvals.Approver) map[string]any {
	fps := []string{}
	for _, k := range a.SSHKeys {
		fps = append(fps, k.Fingerprint)
	}
	return map[string]any{"login": a.Login, "name": a.Name, "email": a.Email, "groups": nonNilS(a.Groups), "ssh_keys": fps}
}

func newTemplateCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "template", Short: "Manage approval templates"}
	var (
		app, title, name, typ, ttl, maxTTL, pending, breakGlass, escalateAfter, escalateGroup string
		approvers, groups, fields, required, oncall                                           []string
		quorum, minReason                                                                     int
	)
	add := &cobra.Command{
		Use:   "add KEY --app APP --title T --type approve|sign_and_approve [--approver LOGIN]... [--group G]...",
		Short: "Add an approval template",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if app == "" || title == "" || typ == "" {
				return usagef(cmd, "--app, --title and --type are required")
			}
			tt, err := approvals.ParseTemplateType(typ)
			if err != nil {
				return usagef(cmd, "--type: %v", err)
			}
			t := approvals.Template{Key: args[0], AppID: app, Title: title, Name: name, Type: tt, Approvers: approvers, Groups: groups, OnCall: oncall, Quorum: quorum, MinReason: minReason, EscalateGroup: escalateGroup}
			for _, d := range []struct {
				flag, value string
				dst         *time.Duration
			}{{"--ttl", ttl, &t.DefaultTTL}, {"--max-ttl", maxTTL, &t.MaxTTL}, {"--pending-timeout", pending, &t.PendingTimeout}, {"--break-glass", breakGlass, &t.BreakGlassMaxTTL}, {"--escalate-after", escalateAfter, &t.EscalateAfter}} {
				if d.value == "" {
					continue
				}
				v, err := approvals.ParseDuration(d.value)
				if err != nil {
					return usagef(cmd, "%s: %v", d.flag, err)
				}
				*d.dst = v
			}
			idx := map[string]int{}
			for _, f := range fields {
				k, def, _ := strings.Cut(f, "=")
				idx[k] = len(t.Fields)
				t.Fields = append(t.Fields, approvals.MetadataField{Name: k, Default: def})
			}
			for _, r := range required {
				if i, ok := idx[r]; ok {
					t.Fields[i].Required = true
				} else {
					idx[r] = len(t.Fields)
					t.Fields = append(t.Fields, approvals.MetadataField{Name: r, Required: true})
				}
			}
			return g.withService(func(ctx context.Context, svc *approvals.Service, _ *store.DB) error {
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
				fmt.Fprintf(g.out, "template %s (%s, %s) added: quorum %d, ttl %s (max %s), pending timeout %s\n",
					saved.Key, saved.Title, saved.Type.Label(), saved.Quorum,
					approvals.FormatDuration(saved.DefaultTTL), approvals.FormatDuration(saved.MaxTTL), approvals.FormatDuration(saved.PendingTimeout))
				return nil
			})
		},
	}
	f := add.Flags()
	f.StringVar(&app, "app", "", "application (name or id) the template belongs to (required)")
	f.StringVar(&title, "title", "", "approval title shown to approvers (required)")
	f.StringVar(&name, "name", "", "template name (default: the title)")
	f.StringVar(&typ, "type", "", "approve | sign_and_approve (required)")
	f.StringArrayVar(&approvers, "approver", nil, "approver login (repeatable)")
	f.StringArrayVar(&groups, "group", nil, "approver group (repeatable)")
	f.StringArrayVar(&oncall, "oncall", nil, "rotation whose on-call person may decide (repeatable)")
	f.IntVar(&quorum, "quorum", 1, "approvals needed")
	f.StringVar(&ttl, "ttl", "", "default grant lifetime (default 1h)")
	f.StringVar(&maxTTL, "max-ttl", "", "longest grant a request may ask for (default 8h)")
	f.StringVar(&pending, "pending-timeout", "", "how long a request waits for a decision before it expires (default 24h)")
	f.StringVar(&escalateAfter, "escalate-after", "", "escalate a request still pending after D to the next person in the --oncall rotation (again after each D)")
	f.StringVar(&escalateGroup, "escalate-group", "", "from the first escalation, this approver group may decide too")
	f.StringVar(&breakGlass, "break-glass", "", "let a requester approve their own request in an emergency, capped at this TTL (e.g. 30m)")
	f.IntVar(&minReason, "min-reason", 0, "refuse reasons shorter than N characters after trimming")
	f.StringArrayVar(&fields, "field", nil, "metadata field NAME[=DEFAULT] (repeatable)")
	f.StringArrayVar(&required, "required-field", nil, "required metadata field NAME (repeatable)")

	list := &cobra.Command{
		Use:   "list",
		Short: "List templates",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return g.withService(func(ctx context.Context, svc *approvals.Service, _ *store.DB) error {
				l := g.newListing("KEY", "TITLE", "TYPE", "QUORUM", "APPROVERS", "GROUPS")
				err := eachPage(func(after string, n int) ([]approvals.Template, error) { return svc.Templates(ctx, after, n) },
					func(t approvals.Template) string { return t.Key },
					func(t approvals.Template) {
						l.add(templateJSON(t), t.Key, t.Title, t.Type.Label(), fmt.Sprint(t.Quorum), strings.Join(t.Approvers, ","), strings.Join(t.Groups, ","))
					})
				if err != nil {
					return err
				}
				return l.print()
			})
		},
	}
	cmd.AddCommand(add, list)
	return cmd
}

func templateJSON(t approvals.Template) map[string]any {
	fields := []map[string]any{}
	for _, f := range t.Fields {
		fields = append(fields, map[string]any{"name": f.Name, "default": f.Default, "required": f.Required})
	}
	return map[string]any{
		"key": t.Key, "app": t.AppID, "name": t.Name, "title": t.Title, "type": t.Type, "quorum": t.Quorum,
		"approvers": nonNilS(t.Approvers), "groups": nonNilS(t.Groups), "oncall": nonNilS(t.OnCall), "fields": fields,
		"ttl": t.DefaultTTL.String(), "max_ttl": t.MaxTTL.String(), "pending_timeout": t.PendingTimeout.String(), "min_reason": t.MinReason,
		"break_glass_max_ttl": t.BreakGlassMaxTTL.String(), "escalate_after": t.EscalateAfter.String(), "escalate_group": t.EscalateGroup,
	}
}

func nonNilS(v []string) []string {
	if v == nil {
		return []string{}
	}
	return v
}
