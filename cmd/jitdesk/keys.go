package main

import (
	"context"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/jitdesk/jitdesk/approvals"
)

func newKeysCmd(g *globals) *cobra.Command {
	cmd := newGroup("keys", "Manage token signing keys")
	var alg string
	rotate := &cobra.Command{
		Use:   "rotate [--alg EdDSA|RS256|ES256]",
		Short: "Make a new signing key active; the old one stays published until its tokens expire",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return g.withService(func(ctx context.Context, svc *approvals.Service, _ database) error {
				k, err := svc.RotateKey(ctx, operator(), alg)
				if err != nil {
					return err
				}
				if g.json {
					return g.printJSON(map[string]any{"kid": k.Kid, "alg": k.Alg, "created_at": ts(k.CreatedAt)})
				}
				g.say("new active key %s (%s)\n", k.Kid, k.Alg)
				return nil
			})
		},
	}
	rotate.Flags().StringVar(&alg, "alg", "EdDSA", "EdDSA | RS256 | ES256")
	list := &cobra.Command{
		Use:   "list",
		Short: "List signing keys",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return g.withService(func(ctx context.Context, svc *approvals.Service, _ database) error {
				keys, err := svc.Keys(ctx)
				if err != nil {
					return err
				}
				if g.json {
					out := []map[string]any{}
					for _, k := range keys {
						m := map[string]any{"kid": k.Kid, "alg": k.Alg, "active": k.Active, "published": k.Published, "created_at": ts(k.CreatedAt)}
						if !k.RetiredAt.IsZero() {
							m["retired_at"] = ts(k.RetiredAt)
							m["publish_until"] = ts(k.PublishUntil)
						}
						out = append(out, m)
					}
					return g.printJSON(out)
				}
				tw := tabwriter.NewWriter(g.out, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "KID\tALG\tSTATE\tCREATED")
				for _, k := range keys {
					state := "active"
					switch {
					case !k.Active && k.Published:
						state = "retired, published until " + ts(k.PublishUntil)
					case !k.Active:
						state = "retired"
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", k.Kid, k.Alg, state, ts(k.CreatedAt))
				}
				return tw.Flush()
			})
		},
	}
	cmd.AddCommand(rotate, list)
	return cmd
}

func newJWKSCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "jwks",
		Short: "Print the JWKS document (the published public keys)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return g.withService(func(ctx context.Context, svc *approvals.Service, _ database) error {
				j, err := svc.JWKS(ctx)
				if err != nil {
					return err
				}
				return g.printJSON(j)
			})
		},
	}
}
