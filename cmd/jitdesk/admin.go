package main

import (
	"context"
	"strings"

	"github.com/spf13/cobra"

	"github.com/jitdesk/jitdesk/approvals"
)

// Deployment set-up: init and the stored settings. (Declarative policy
// files — `apply` and `export` — are in policy.go.)

func newInitCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "init [--issuer URL]",
		Short: "Create the database, its master key file, the first signing key and the deployment's issuer (safe to run again)",
		Long: `Creates the database and its first EdDSA signing key, and stores the
deployment's one issuer: --issuer, else $JITDESK_ISSUER, else ` + approvals.DefaultIssuer + `.
Every later command uses the stored issuer and refuses a --issuer or
$JITDESK_ISSUER that disagrees (change it with "jitdesk config set issuer URL").

The database's secrets (application and webhook secrets, signing keys) are
sealed with a master key kept outside it: $` + masterKeyEnv + ` when set, else the
key file beside the database (the database file's name with ` + masterKeySuffix + ` added,
mode 0600), which init creates; --master-key-file PATH puts it elsewhere.
Back the key up separately from the database: without it the secrets in the
database cannot be used, and a copy of the database alone gives none away.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			svc, db, key, err := g.openStoreKey(true)
			if err != nil {
				return err
			}
			defer db.Close()
			ctx := cmd.Context()
			created, err := svc.Init(ctx, operator())
			if err != nil {
				return err
			}
			stored, err := svc.StoredIssuer(ctx)
			if err != nil {
				return err
			}
			issuer := stored
			switch {
			case stored == "" && created:
				if _, err := svc.SetIssuer(ctx, operator(), g.issuerValue()); err != nil {
					return err
				}
				issuer = g.issuerValue()
			default:
				// Run again (or on a database from before issuers were
				// stored): the same check as every command, never a
				// silent change.
				if issuer, err = svc.ResolveIssuer(ctx, g.issuerGiven()); err != nil {
					return err
				}
			}
			if g.json {
				mk := map[string]any{"source": "env", "env": masterKeyEnv, "key_id": key.sealer.KeyID()}
				if key.file != "" {
					mk = map[string]any{"source": "file", "file": key.file, "created": key.created, "key_id": key.sealer.KeyID()}
				}
				return g.printJSON(map[string]any{"db": db.Name(), "created_key": created, "issuer": issuer, "master_key": mk})
			}
			if created {
				g.say("initialised %s with a new EdDSA signing key; issuer %s\n", db.Name(), issuer)
			} else {
				g.say("%s is already initialised; issuer %s\n", db.Name(), issuer)
			}
			switch {
			case key.created:
				g.say("created the master key file %s (mode 0600): it seals the database's secrets. "+
					"Back it up separately from the database: without it the secrets in the database cannot be used.\n", key.file)
				if key.sealed != (approvals.SealReport{}) {
					g.say("sealed %s of this database (made before secrets were sealed) with it\n", sealedCounts(key.sealed))
				}
			case key.file != "":
				g.say("master key file %s (back it up separately from the database)\n", key.file)
			default:
				g.say("the database's secrets are sealed with the master key in $%s: keep a copy of it separately from the database; without it the secrets in the database cannot be used\n", masterKeyEnv)
			}
			return nil
		},
	}
}

func newConfigCmd(g *globals) *cobra.Command {
	cmd := newGroup("config", "Show and change the deployment's stored settings (the issuer)")
	show := &cobra.Command{
		Use:   "show",
		Short: "Print the stored settings",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return g.withService(func(ctx context.Context, svc *approvals.Service, db database) error {
				issuer, err := svc.StoredIssuer(ctx)
				if err != nil {
					return err
				}
				if g.json {
					return g.printJSON(map[string]any{"db": db.Name(), "issuer": issuer})
				}
				g.say("db      %s\nissuer  %s\n", db.Name(), issuer)
				return nil
			})
		},
	}
	set := &cobra.Command{
		Use:   "set issuer URL",
		Short: "Change a stored setting (only: issuer)",
		Long: `Changes the deployment's issuer: the iss of access tokens issued from now on
and the aud applications sign their intake tokens for. ` + approvals.IssuerChangeWarning + `.`,
		Args: cobra.ExactArgs(2),
		ValidArgsFunction: func(_ *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
			if len(args) == 0 {
				return []string{"issuer"}, cobra.ShellCompDirectiveNoFileComp
			}
			return nil, cobra.ShellCompDirectiveNoFileComp
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if args[0] != "issuer" {
				return usagef(cmd, "unknown setting %q (settings: issuer)", args[0])
			}
			// Opened without the issuer check: changing a mismatching
			// issuer is what this command is for.
			svc, db, err := g.openStore(false)
			if err != nil {
				return err
			}
			defer db.Close()
			issuer := strings.TrimSpace(args[1])
			prev, err := svc.SetIssuer(cmd.Context(), operator(), issuer)
			if err != nil {
				return err
			}
			changed := prev != issuer
			if changed {
				g.warn("warning: %s\n", approvals.IssuerChangeWarning)
			}
			if g.json {
				return g.printJSON(map[string]any{"issuer": issuer, "previous": prev, "changed": changed})
			}
			if !changed {
				g.say("issuer is already %s\n", issuer)
				return nil
			}
			g.say("issuer changed from %s to %s\n", orNone(prev), issuer)
			return nil
		},
	}
	cmd.AddCommand(show, set)
	return cmd
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

func nonNilS(v []string) []string {
	if v == nil {
		return []string{}
	}
	return v
}

// changed reports whether the named flag was given on the command line.
func changed(cmd *cobra.Command, name string) bool { return cmd.Flags().Changed(name) }
