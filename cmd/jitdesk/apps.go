package main

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/jitdesk/jitdesk/approvals"
)

func newAppCmd(g *globals) *cobra.Command {
	app := newGroup("app", "Manage applications (the clients that submit requests)")
	var audience string
	add := &cobra.Command{
		Use:   "add NAME --audience AUD",
		Short: "Register an application; prints its id and intake secret (shown once)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if audience == "" {
				return usagef(cmd, "--audience is required: the aud services expect in this application's access tokens")
			}
			return g.withService(func(ctx context.Context, svc *approvals.Service, _ database) error {
				a, err := svc.CreateApplication(ctx, operator(), args[0], audience)
				if err != nil {
					return err
				}
				secret := approvals.PrintedSecret(a.Secret, a.SecretFormat)
				if g.json {
					return g.printJSON(map[string]any{"id": a.ID, "name": a.Name, "audience": a.Audience, "secret": secret})
				}
				g.say("application %s\nid:       %s\naudience: %s\nsecret:   %s\n\n", a.Name, a.ID, a.Audience, secret)
				g.say("The secret is shown once: store it with the application now.\n")
				g.say("The application signs HS256 intake tokens with this string exactly as printed (iss = its id).\n")
				return nil
			})
		},
	}
	add.Flags().StringVar(&audience, "audience", "", "aud of access tokens issued for this application (required)")

	list := &cobra.Command{
		Use:   "list",
		Short: "List applications, with their state and limits",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return g.withService(func(ctx context.Context, svc *approvals.Service, _ database) error {
				l := g.newListing("ID", "NAME", "AUDIENCE", "STATE", "LIMITS")
				err := eachPage(func(after string, n int) ([]approvals.Application, error) { return svc.Applications(ctx, after, n) },
					func(a approvals.Application) string { return a.Name },
					func(a approvals.Application) {
						l.add(appJSON(a), a.ID, a.Name, a.Audience, appState(a), limitsText(a.Limits))
					})
				if err != nil {
					return err
				}
				return l.print()
			})
		},
	}

	secret := newGroup("secret", "Rotate an application's intake secret")
	var overlap string
	rotate := &cobra.Command{
		Use:   "rotate APP [--overlap D]",
		Short: "Give an application a new intake secret (shown once); the old one works for --overlap more",
		Long: `Prints the new intake secret once. With --overlap D (e.g. 1h, at most 30d) the
old secret keeps working for D so the application can roll over; without it
(or with 0) the old secret stops working now — what you want after a leak.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var d time.Duration
			if overlap != "" && overlap != "0" && overlap != "0s" {
				v, err := approvals.ParseDuration(overlap)
				if err != nil {
					return usagef(cmd, "--overlap: %v", err)
				}
				d = v
			}
			return g.withService(func(ctx context.Context, svc *approvals.Service, _ database) error {
				a, err := svc.RotateAppSecret(ctx, operator(), args[0], d)
				if err != nil {
					return err
				}
				printed := approvals.PrintedSecret(a.Secret, a.SecretFormat)
				if g.json {
					out := map[string]any{"id": a.ID, "name": a.Name, "secret": printed, "overlap": dur(d), "previous_secret_until": nil}
					if !a.PreviousSecretUntil.IsZero() {
						out["previous_secret_until"] = ts(a.PreviousSecretUntil)
					}
					return g.printJSON(out)
				}
				g.say("application %s (%s)\nnew secret: %s\n\n", a.Name, a.ID, printed)
				g.say("The secret is shown once: store it with the application now.\n")
				if a.PreviousSecretUntil.IsZero() {
					g.say("The old secret stopped working now.\n")
				} else {
					g.say("The old secret keeps working until %s (%s).\n", ts(a.PreviousSecretUntil), dur(d))
				}
				return nil
			})
		},
	}
	rotate.Flags().StringVar(&overlap, "overlap", "0", "how long the old secret keeps working (0: it stops now; at most 30d)")
	secret.AddCommand(rotate)

	setEnabled := func(enabled bool) *cobra.Command {
		verb := "disable"
		short := "Refuse an application's intake (its pending requests can still be decided)"
		if enabled {
			verb, short = "enable", "Accept an application's intake again"
		}
		return &cobra.Command{
			Use:   verb + " APP",
			Short: short,
			Args:  cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				return g.withService(func(ctx context.Context, svc *approvals.Service, _ database) error {
					a, err := svc.SetAppEnabled(ctx, operator(), args[0], enabled)
					if err != nil {
						return err
					}
					if g.json {
						return g.printJSON(appJSON(a))
					}
					g.say("application %s (%s) is %s\n", a.Name, a.ID, appState(a))
					return nil
				})
			},
		}
	}

	var name, aud string
	var maxPending, burst, maxLongPolls int
	var rate float64
	update := &cobra.Command{
		Use:   "update APP [--name N] [--audience AUD] [--max-pending N] [--rate R] [--burst N] [--max-long-polls N]",
		Short: "Change an application's name, audience or limits (only the flags given; 0 is the default limit)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			u := approvals.AppUpdate{}
			if changed(cmd, "name") {
				u.Name = &name
			}
			if changed(cmd, "audience") {
				u.Audience = &aud
			}
			limitFlags := changed(cmd, "max-pending") || changed(cmd, "rate") || changed(cmd, "burst") || changed(cmd, "max-long-polls")
			if u.Name == nil && u.Audience == nil && !limitFlags {
				return usagef(cmd, "nothing to change: give --name, --audience, --max-pending, --rate, --burst or --max-long-polls")
			}
			return g.withService(func(ctx context.Context, svc *approvals.Service, _ database) error {
				before, err := svc.Application(ctx, args[0])
				if err != nil {
					return err
				}
				if limitFlags {
					l := before.Limits
					if changed(cmd, "max-pending") {
						l.MaxPending = maxPending
					}
					if changed(cmd, "rate") {
						l.RatePerSecond = rate
					}
					if changed(cmd, "burst") {
						l.Burst = burst
					}
					if changed(cmd, "max-long-polls") {
						l.MaxLongPolls = maxLongPolls
					}
					u.Limits = &l
				}
				a, err := svc.UpdateApp(ctx, operator(), before.ID, u)
				if err != nil {
					return err
				}
				if a.Audience != before.Audience {
					g.warn("warning: audience changed from %s to %s: %s\n", before.Audience, a.Audience, approvals.AudienceChangeWarning)
				}
				if g.json {
					return g.printJSON(appJSON(a))
				}
				g.say("application %s (%s) updated: audience %s, limits %s\n", a.Name, a.ID, a.Audience, limitsText(a.Limits))
				return nil
			})
		},
	}
	uf := update.Flags()
	uf.StringVar(&name, "name", "", "new name")
	uf.StringVar(&aud, "audience", "", "new aud for tokens issued from now on (tokens already issued keep the old one)")
	uf.IntVar(&maxPending, "max-pending", 0, fmt.Sprintf("pending requests at once (0: the default, %d)", approvals.DefaultMaxPending))
	uf.Float64Var(&rate, "rate", 0, fmt.Sprintf("sustained intake requests a second (0: the default, %d)", approvals.DefaultRatePerSecond))
	uf.IntVar(&burst, "burst", 0, fmt.Sprintf("intake requests allowed at once above the rate (0: the default, %d)", approvals.DefaultBurst))
	uf.IntVar(&maxLongPolls, "max-long-polls", 0, "parked long-polls at once (0: the default, a tenth of the server's slots)")

	app.AddCommand(add, list, update, secret, setEnabled(false), setEnabled(true))
	return app
}

func appState(a approvals.Application) string {
	if a.Disabled {
		return "disabled"
	}
	return "active"
}

func appJSON(a approvals.Application) map[string]any {
	return map[string]any{
		"id": a.ID, "name": a.Name, "audience": a.Audience, "disabled": a.Disabled, "created_at": ts(a.CreatedAt),
		"limits": map[string]any{"max_pending": a.Limits.MaxPending, "rate_per_second": a.Limits.RatePerSecond, "burst": a.Limits.Burst, "max_long_polls": a.Limits.MaxLongPolls},
	}
}

// limitsText shows configured limits, "default" for those left at 0.
func limitsText(l approvals.AppLimits) string {
	v := func(n int) string {
		if n <= 0 {
			return "default"
		}
		return strconv.Itoa(n)
	}
	r := "default"
	if l.RatePerSecond > 0 {
		r = strconv.FormatFloat(l.RatePerSecond, 'f', -1, 64) + "/s"
	}
	return fmt.Sprintf("pending %s, rate %s, burst %s, long-polls %s", v(l.MaxPending), r, v(l.Burst), v(l.MaxLongPolls))
}
