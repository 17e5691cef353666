package main

import (
	"context"
	"strings"

	"github.com/spf13/cobra"

	"github.com/jitdesk/jitdesk/approvals"
)

func newBreakGlassCmd(g *globals) *cobra.Command {
	cmd := newGroup("breakglass", "Post-review of break-glass grants (self-approved in an emergency)")
	list := &cobra.Command{
		Use:   "list",
		Short: "Break-glass grants waiting for review, oldest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return g.withService(func(ctx context.Context, svc *approvals.Service, _ database) error {
				l := g.newListing("GRANT", "REQUEST", "SUBJECT", "SCOPE", "ISSUED", "STATE")
				var after *approvals.Cursor
				for {
					gs, err := svc.AwaitingReview(ctx, after, 200)
					if err != nil {
						return err
					}
					for _, gr := range gs {
						l.add(grantJSON(gr, svc.Now()), gr.ID, gr.RequestID, gr.Subject, gr.Scope, ts(gr.IssuedAt), grantText(gr, svc.Now()))
					}
					if len(gs) < 200 {
						break
					}
					after = &approvals.Cursor{At: gs[len(gs)-1].IssuedAt, ID: gs[len(gs)-1].ID}
				}
				return l.print()
			})
		},
	}
	var as, comment string
	ack := &cobra.Command{
		Use:   "ack GRANT --as LOGIN --comment C",
		Short: "Acknowledge a break-glass grant after reviewing it (revoke it instead with `jitdesk revoke`)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if as == "" || strings.TrimSpace(comment) == "" {
				return usagef(cmd, "--as LOGIN and --comment C are required")
			}
			return g.withService(func(ctx context.Context, svc *approvals.Service, _ database) error {
				gr, err := svc.AcknowledgeBreakGlass(ctx, args[0], as, comment)
				if err != nil {
					return err
				}
				if g.json {
					return g.printJSON(grantJSON(gr, svc.Now()))
				}
				g.say("break-glass grant %s (request %s) reviewed by %s\n", gr.ID, gr.RequestID, as)
				return nil
			})
		},
	}
	ack.Flags().StringVar(&as, "as", "", "reviewing approver (required; not the one who used it)")
	ack.Flags().StringVar(&comment, "comment", "", "what the review found (required)")
	cmd.AddCommand(list, ack)
	return cmd
}
