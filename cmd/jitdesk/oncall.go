package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/jitdesk/jitdesk/approvals"
	"github.com/jitdesk/jitdesk/store"
)

// parseTime accepts RFC 3339 ("2026-11-28T09:00:00Z") or "now".
func parseTime(cmd *cobra.Command, flag, v string, now time.Time) (time.Time, error) {
	if v == "" || v == "now" {
		return now, nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, usagef(cmd, "%s %q: use RFC 3339, e.g. 2026-11-28T09:00:00Z, or now", flag, v)
	}
	return t.UTC(), nil
}

func newOnCallCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "oncall", Short: "On-call rotations: who holds the pager, hand-overs and overrides"}
	var members, shift, start string
	add := &cobra.Command{
		Use:   "add NAME --member L1,L2,L3 --shift 24h --start TIME",
		Short: "Add a rotation that hands over every shift, in member order",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if members == "" || shift == "" {
				return usagef(cmd, "--member and --shift are required")
			}
			d, err := approvals.ParseDuration(shift)
			if err != nil {
				return usagef(cmd, "--shift: %v", err)
			}
			return g.withService(func(ctx context.Context, svc *approvals.Service, _ *store.DB) error {
				st, err := parseTime(cmd, "--start", start, svc.Now())
				if err != nil {
					return err
				}
				r := approvals.Rotation{Name: args[0], Members: strings.Split(members, ","), Shift: d, Start: st}
				if err := svc.AddRotation(ctx, operator(), r); err != nil {
					return err
				}
				who, _ := r.OnCallAt(svc.Now())
				fmt.Fprintf(g.out, "rotation %s added; on call now: %s\n", r.Name, orNobody(who))
				return nil
			})
		},
	}
	add.Flags().StringVar(&members, "member", "", "approver logins in hand-over order, comma-separated (required)")
	add.Flags().StringVar(&shift, "shift", "", "shift length, e.g. 24h or 7d (required)")
	add.Flags().StringVar(&start, "start", "now", "when the first member's first shift starts (RFC 3339)")

	var at string
	who := &cobra.Command{
		Use:   "who [NAME] [--at TIME]",
		Short: "Who is on call now (or at a time), and who is next",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.withService(func(ctx context.Context, svc *approvals.Service, _ *store.DB) error {
				t, err := parseTime(cmd, "--at", at, svc.Now())
				if err != nil {
					return err
				}
				var rs []approvals.Rotation
				if len(args) == 1 {
					r, err := svc.Rotation(ctx, args[0])
					if err != nil {
						return err
					}
					rs = []approvals.Rotation{r}
				} else if rs, err = svc.Rotations(ctx); err != nil {
					return err
				}
				l := g.newListing("ROTATION", "ON CALL", "NEXT", "HAND-OVER")
				for _, r := range rs {
					now, _ := r.OnCallAt(t)
					when, next := r.NextHandover(t)
					l.add(map[string]any{"rotation": r.Name, "on_call": now, "next": next, "handover_at": when.Format(time.RFC3339)},
						r.Name, orNobody(now), next, when.Format(time.RFC3339))
				}
				return l.print()
			})
		},
	}
	who.Flags().StringVar(&at, "at", "now", "the time to ask about (RFC 3339)")

	var as, until, from string
	override := &cobra.Command{
		Use:   "override NAME --as LOGIN --until TIME",
		Short: "Take the pager of a rotation until a time",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if as == "" || until == "" {
				return usagef(cmd, "--as LOGIN and --until TIME are required")
			}
			return g.withService(func(ctx context.Context, svc *approvals.Service, _ *store.DB) error {
				u, err := parseTime(cmd, "--until", until, svc.Now())
				if err != nil {
					return err
				}
				f, err := parseTime(cmd, "--from", from, svc.Now())
				if err != nil {
					return err
				}
				if err := svc.OverrideOnCall(ctx, operator(), args[0], as, f, u); err != nil {
					return err
				}
				fmt.Fprintf(g.out, "%s holds the %s pager from %s until %s\n", as, args[0], f.Format(time.RFC3339), u.Format(time.RFC3339))
				return nil
			})
		},
	}
	override.Flags().StringVar(&as, "as", "", "approver taking the pager (required)")
	override.Flags().StringVar(&until, "until", "", "when the override ends (RFC 3339, required)")
	override.Flags().StringVar(&from, "from", "now", "when the override starts (RFC 3339)")

	list := &cobra.Command{
		Use:   "list",
		Short: "List rotations",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return g.withService(func(ctx context.Context, svc *approvals.Service, _ *store.DB) error {
				rs, err := svc.Rotations(ctx)
				if err != nil {
					return err
				}
				l := g.newListing("ROTATION", "MEMBERS", "SHIFT", "START", "OVERRIDES")
				for _, r := range rs {
					l.add(map[string]any{"name": r.Name, "members": r.Members, "shift": r.Shift.String(), "start": r.Start.Format(time.RFC3339), "overrides": len(r.Overrides)},
						r.Name, strings.Join(r.Members, ","), approvals.FormatDuration(r.Shift), r.Start.Format(time.RFC3339), fmt.Sprint(len(r.Overrides)))
				}
				return l.print()
			})
		},
	}
	cmd.AddCommand(add, who, override, list)
	return cmd
}

func orNobody(s string) string {
	if s == "" {
		return "nobody"
	}
	return s
}
