package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/jitdesk/jitdesk/approvals"
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

// parseTimeFlag checks a time flag before anything is opened ("now" is
// settled later against the service's clock).
func parseTimeFlag(cmd *cobra.Command, flag, v string) error {
	_, err := parseTime(cmd, flag, v, time.Time{})
	return err
}

// splitMembers reads --member a,b,c.
func splitMembers(v string) []string {
	var out []string
	for _, m := range strings.Split(v, ",") {
		if m = strings.TrimSpace(m); m != "" {
			out = append(out, m)
		}
	}
	return out
}

func newOnCallCmd(g *globals) *cobra.Command {
	cmd := newGroup("oncall", "On-call rotations: who holds the pager, hand-overs and overrides")
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
			if err := parseTimeFlag(cmd, "--start", start); err != nil {
				return err
			}
			return g.withService(func(ctx context.Context, svc *approvals.Service, _ database) error {
				st, _ := parseTime(cmd, "--start", start, svc.Now())
				r := approvals.Rotation{Name: args[0], Members: splitMembers(members), Shift: d, Start: st}
				if err := svc.AddRotation(ctx, operator(), r); err != nil {
					return err
				}
				sh := r.ShiftAt(svc.Now())
				if g.json {
					return g.printJSON(map[string]any{"rotation": rotationJSON(r), "now": shiftJSON(sh)})
				}
				g.say("rotation %s added; on call now: %s\n", r.Name, shiftText(sh))
				return nil
			})
		},
	}
	add.Flags().StringVar(&members, "member", "", "approver logins in hand-over order, comma-separated (required)")
	add.Flags().StringVar(&shift, "shift", "", "shift length, e.g. 24h or 7d (required)")
	add.Flags().StringVar(&start, "start", "now", "when the first member's first shift starts (RFC 3339)")

	var uMembers, uShift, uStart string
	update := &cobra.Command{
		Use:   "update NAME [--member L1,L2] [--shift D] [--start TIME]",
		Short: "Change a rotation's members, shift or start (only the flags given)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			u := approvals.RotationUpdate{}
			if changed(cmd, "member") {
				if u.Members = splitMembers(uMembers); u.Members == nil {
					return usagef(cmd, "--member: give at least one login")
				}
			}
			if changed(cmd, "shift") {
				d, err := approvals.ParseDuration(uShift)
				if err != nil {
					return usagef(cmd, "--shift: %v", err)
				}
				u.Shift = &d
			}
			if changed(cmd, "start") {
				if err := parseTimeFlag(cmd, "--start", uStart); err != nil {
					return err
				}
			}
			if u.Members == nil && u.Shift == nil && !changed(cmd, "start") {
				return usagef(cmd, "nothing to change: give --member, --shift or --start")
			}
			return g.withService(func(ctx context.Context, svc *approvals.Service, _ database) error {
				if changed(cmd, "start") {
					st, _ := parseTime(cmd, "--start", uStart, svc.Now())
					u.Start = &st
				}
				r, err := svc.UpdateRotation(ctx, operator(), args[0], u)
				if err != nil {
					return err
				}
				sh := r.ShiftAt(svc.Now())
				if g.json {
					return g.printJSON(map[string]any{"rotation": rotationJSON(r), "now": shiftJSON(sh)})
				}
				g.say("rotation %s: members %s, shift %s, start %s; on call now: %s\n", r.Name, strings.Join(r.Members, ","), dur(r.Shift), ts(r.Start), shiftText(sh))
				return nil
			})
		},
	}
	update.Flags().StringVar(&uMembers, "member", "", "the new hand-over order, comma-separated")
	update.Flags().StringVar(&uShift, "shift", "", "new shift length")
	update.Flags().StringVar(&uStart, "start", "", "new start of the first member's first shift (RFC 3339 or now)")

	remove := &cobra.Command{
		Use:   "remove NAME",
		Short: "Remove a rotation (refused while a template names it; history keeps it)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.withService(func(ctx context.Context, svc *approvals.Service, _ database) error {
				if err := svc.RemoveRotation(ctx, operator(), args[0]); err != nil {
					return err
				}
				if g.json {
					return g.printJSON(map[string]any{"rotation": args[0], "removed": true})
				}
				g.say("rotation %s removed\n", args[0])
				return nil
			})
		},
	}

	var at string
	who := &cobra.Command{
		Use:   "who [NAME] [--at TIME]",
		Short: "Who holds each pager now (or at a time), until when, and who takes it next",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := parseTimeFlag(cmd, "--at", at); err != nil {
				return err
			}
			return g.withService(func(ctx context.Context, svc *approvals.Service, _ database) error {
				t, _ := parseTime(cmd, "--at", at, svc.Now())
				if len(args) == 1 {
					if _, err := svc.Rotation(ctx, args[0]); err != nil {
						return err
					}
				}
				shifts, err := svc.OnCallNow(ctx, t)
				if err != nil {
					return err
				}
				l := g.newListing("ROTATION", "ON CALL", "UNTIL", "NEXT")
				for _, sh := range shifts {
					if len(args) == 1 && sh.Rotation != args[0] {
						continue
					}
					holder := orNobody(sh.Holder)
					if sh.Override != nil {
						holder += " (override)"
					}
					until, next := "-", "-"
					if !sh.Until.IsZero() {
						until, next = ts(sh.Until), orNobody(sh.Next)
						if sh.NextByOverride {
							next += " (override)"
						}
					}
					l.add(shiftJSON(sh), sh.Rotation, holder, until, next)
				}
				return l.print()
			})
		},
	}
	who.Flags().StringVar(&at, "at", "now", "the time to ask about (RFC 3339)")

	var as, until, from string
	override := &cobra.Command{
		Use:   "override NAME --as LOGIN --until TIME",
		Short: "Take the pager of a rotation until a time (`oncall override cancel NAME` gives it back)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if as == "" || until == "" {
				return usagef(cmd, "--as LOGIN and --until TIME are required")
			}
			for _, f := range [][2]string{{"--until", until}, {"--from", from}} {
				if err := parseTimeFlag(cmd, f[0], f[1]); err != nil {
					return err
				}
			}
			return g.withService(func(ctx context.Context, svc *approvals.Service, _ database) error {
				u, _ := parseTime(cmd, "--until", until, svc.Now())
				f, _ := parseTime(cmd, "--from", from, svc.Now())
				if err := svc.OverrideOnCall(ctx, operator(), args[0], as, f, u); err != nil {
					return err
				}
				if g.json {
					return g.printJSON(map[string]any{"rotation": args[0], "login": as, "from": ts(f), "until": ts(u)})
				}
				g.say("%s holds the %s pager from %s until %s\n", as, args[0], ts(f), ts(u))
				return nil
			})
		},
	}
	override.Flags().StringVar(&as, "as", "", "approver taking the pager (required)")
	override.Flags().StringVar(&until, "until", "", "when the override ends (RFC 3339, required)")
	override.Flags().StringVar(&from, "from", "now", "when the override starts (RFC 3339)")
	cancelOverride := &cobra.Command{
		Use:   "cancel NAME",
		Short: "End a rotation's current and future overrides: the pager goes back to the schedule",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.withService(func(ctx context.Context, svc *approvals.Service, _ database) error {
				n, err := svc.CancelOverride(ctx, operator(), args[0])
				if err != nil {
					return err
				}
				r, err := svc.Rotation(ctx, args[0])
				if err != nil {
					return err
				}
				sh := r.ShiftAt(svc.Now())
				if g.json {
					return g.printJSON(map[string]any{"rotation": args[0], "cancelled": n, "now": shiftJSON(sh)})
				}
				g.say("%d override(s) of %s cancelled; on call now: %s\n", n, args[0], shiftText(sh))
				return nil
			})
		},
	}
	override.AddCommand(cancelOverride)

	list := &cobra.Command{
		Use:   "list",
		Short: "List rotations and their overrides",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return g.withService(func(ctx context.Context, svc *approvals.Service, _ database) error {
				rs, err := svc.Rotations(ctx)
				if err != nil {
					return err
				}
				l := g.newListing("ROTATION", "MEMBERS", "SHIFT", "START", "OVERRIDES")
				for _, r := range rs {
					var ovs []string
					for _, o := range r.Overrides {
						ovs = append(ovs, o.Login+" "+ts(o.From)+"–"+ts(o.Until))
					}
					l.add(rotationJSON(r), r.Name, strings.Join(r.Members, ","), dur(r.Shift), ts(r.Start), orNone(strings.Join(ovs, ", ")))
				}
				return l.print()
			})
		},
	}
	cmd.AddCommand(add, update, remove, who, override, list)
	return cmd
}

func rotationJSON(r approvals.Rotation) map[string]any {
	ovs := []map[string]any{}
	for _, o := range r.Overrides {
		ovs = append(ovs, map[string]any{"login": o.Login, "from": ts(o.From), "until": ts(o.Until)})
	}
	return map[string]any{"name": r.Name, "members": nonNilS(r.Members), "shift": dur(r.Shift), "start": ts(r.Start), "overrides": ovs}
}

func shiftJSON(sh approvals.Shift) map[string]any {
	m := map[string]any{"rotation": sh.Rotation, "on_call": sh.Holder, "override": nil, "until": nil, "next": nil, "next_by_override": sh.NextByOverride}
	if sh.Override != nil {
		m["override"] = map[string]any{"login": sh.Override.Login, "from": ts(sh.Override.From), "until": ts(sh.Override.Until)}
	}
	if !sh.Until.IsZero() {
		m["until"], m["next"] = ts(sh.Until), sh.Next
	}
	return m
}

// shiftText is "bob until … then carol".
func shiftText(sh approvals.Shift) string {
	s := orNobody(sh.Holder)
	if sh.Override != nil {
		s += " (override)"
	}
	if !sh.Until.IsZero() {
		s += fmt.Sprintf(" until %s, then %s", ts(sh.Until), orNobody(sh.Next))
	}
	return s
}

func orNobody(s string) string {
	if s == "" {
		return "nobody"
	}
	return s
}
