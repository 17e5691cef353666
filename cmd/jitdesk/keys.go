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
		Short: "Publish a new signing key now; it signs once cached key sets have seen it (5m, or `keys activate`)",
		Long: `Stage a new signing key. It is published in the JWKS at once and starts
signing after the JWKS cache lifetime (` + approvals.JWKSMaxAge.String() + `), so a verifier holding a cached
key set never meets an unknown kid. Until then the current key keeps signing;
it stays published until the last token it signed has expired.
` + "`jitdesk keys activate`" + ` makes the new key sign at once.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return g.withService(func(ctx context.Context, svc *approvals.Service, _ database) error {
				k, err := svc.RotateKey(ctx, operator(), alg)
				if err != nil {
					return err
				}
				if g.json {
					return g.printJSON(map[string]any{"kid": k.Kid, "alg": k.Alg, "created_at": ts(k.CreatedAt), "activates_at": ts(k.ActivatesAt)})
				}
				g.say("new key %s (%s) published; it signs from %s (`jitdesk keys activate` to sign with it now)\n", k.Kid, k.Alg, ts(k.ActivatesAt))
				return nil
			})
		},
	}
	rotate.Flags().StringVar(&alg, "alg", "EdDSA", "EdDSA | RS256 | ES256")
	activate := &cobra.Command{
		Use:   "activate",
		Short: "Sign with the key a rotation staged now, without waiting for cached key sets to refresh",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return g.withService(func(ctx context.Context, svc *approvals.Service, _ database) error {
				k, err := svc.ActivateKey(ctx, operator())
				if err != nil {
					return err
				}
				if g.json {
					return g.printJSON(map[string]any{"kid": k.Kid, "alg": k.Alg, "activates_at": ts(k.ActivatesAt)})
				}
				g.say("key %s (%s) signs from now\n", k.Kid, k.Alg)
				return nil
			})
		},
	}
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
						m := map[string]any{"kid": k.Kid, "alg": k.Alg, "active": k.Active, "pending": k.Pending, "published": k.Published, "created_at": ts(k.CreatedAt)}
						if k.Pending {
							m["activates_at"] = ts(k.ActivatesAt)
						}
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
					case k.Pending:
						state = "published, signs from " + ts(k.ActivatesAt)
					case k.Active && !k.RetiredAt.IsZero():
						state = "active, retires " + ts(k.RetiredAt)
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
	cmd.AddCommand(rotate, activate, list)
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
