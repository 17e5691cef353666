package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/mod/sumdb/note"

	"github.com/jitdesk/jitdesk/approvals"
)

func newAuditCmd(g *globals) *cobra.Command {
	cmd := newGroup("audit", "Verify, checkpoint and read the tamper-evident audit log")
	var checkpoint, keyFile, verifierKey string
	verify := &cobra.Command{
		Use:   "verify [--checkpoint FILE]",
		Short: "Walk the hash chain; with --checkpoint, also prove the log still extends that checkpoint",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return g.withService(func(ctx context.Context, svc *approvals.Service, db database) error {
				var rep approvals.AuditReport
				var err error
				if checkpoint != "" {
					msg, rerr := os.ReadFile(checkpoint)
					if rerr != nil {
						return fmt.Errorf("--checkpoint: %w", rerr)
					}
					v, verr := checkpointVerifier(ctx, svc, db, keyFile, verifierKey)
					if verr != nil {
						return verr
					}
					rep, err = svc.VerifyCheckpoint(ctx, msg, v)
				} else {
					rep, err = svc.VerifyAudit(ctx)
				}
				if err != nil {
					if errors.Is(err, approvals.ErrAuditBroken) {
						return exitError{code: 1, msg: err.Error()}
					}
					return err
				}
				if g.json {
					return g.printJSON(map[string]any{"ok": true, "events": rep.Events, "head": rep.HeadHash})
				}
				g.say("audit chain ok: %d events, head %s\n", rep.Events, rep.HeadHash)
				if checkpoint != "" {
					g.say("the log extends checkpoint %s\n", checkpoint)
				}
				return nil
			})
		},
	}
	verify.Flags().StringVar(&checkpoint, "checkpoint", "", "a checkpoint printed earlier by `audit checkpoint`")
	verify.Flags().StringVar(&keyFile, "key", "", "checkpoint signing key file (default: audit-checkpoint.key beside a SQLite database; on PostgreSQL the key kept sealed in the database, shared by every node)")
	verify.Flags().StringVar(&verifierKey, "verifier", "", "checkpoint verifier key (as printed by `audit checkpoint --print-verifier`); default: derived from --key")

	var printVerifier bool
	cp := &cobra.Command{
		Use:   "checkpoint",
		Short: "Print a signed checkpoint (size and head hash) to keep somewhere else",
		Long: `Prints a signed note naming the audit log's size and head hash. Keep it outside
this machine: a later ` + "`audit verify --checkpoint FILE`" + ` proves the log still extends it,
which reveals cut-off or rewritten events that the hash chain alone cannot.
The signing key is kept apart from the token keys, in a file created on first use
(mode 0600).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return g.withService(func(ctx context.Context, svc *approvals.Service, db database) error {
				signer, vkey, err := checkpointSigner(ctx, svc, db, keyFile)
				if err != nil {
					return err
				}
				if printVerifier {
					if g.json {
						return g.printJSON(map[string]any{"verifier": vkey})
					}
					fmt.Fprintln(g.out, vkey)
					return nil
				}
				msg, err := svc.Checkpoint(ctx, signer)
				if err != nil {
					return err
				}
				if g.json {
					// The note whole, exactly as `audit verify --checkpoint`
					// reads it back.
					return g.printJSON(map[string]any{"checkpoint": string(msg), "verifier": vkey})
				}
				_, err = g.out.Write(msg)
				return err
			})
		},
	}
	cp.Flags().StringVar(&keyFile, "key", "", "checkpoint signing key file (default: audit-checkpoint.key beside a SQLite database; on PostgreSQL the key kept sealed in the database, shared by every node)")
	cp.Flags().BoolVar(&printVerifier, "print-verifier", false, "print the verifier (public) key instead of a checkpoint")

	var limit int
	log := &cobra.Command{
		Use:   "log [--limit N]",
		Short: "Show the newest audit events",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if limit < 1 || limit > 10000 {
				return usagef(cmd, "--limit %d must be between 1 and 10000", limit)
			}
			return g.withService(func(ctx context.Context, svc *approvals.Service, _ database) error {
				evs, err := svc.AuditLog(ctx, 0, limit)
				if err != nil {
					return err
				}
				if g.json {
					out := []map[string]any{}
					for _, e := range evs {
						out = append(out, map[string]any{"seq": e.Seq, "at": ts(e.At), "actor": e.Actor, "action": e.Action, "subject": e.Subject, "payload": e.Payload, "prev_hash": e.PrevHash, "hash": e.Hash})
					}
					return g.printJSON(out)
				}
				l := g.newListing("SEQ", "TIME", "ACTOR", "ACTION", "SUBJECT", "DETAILS")
				for _, e := range evs {
					l.add(nil, fmt.Sprint(e.Seq), ts(e.At), e.Actor, string(e.Action), e.Subject, string(e.Payload))
				}
				return l.print()
			})
		},
	}
	log.Flags().IntVar(&limit, "limit", 20, "how many events")
	cmd.AddCommand(verify, cp, log)
	return cmd
}

// loadOrCreateSigner reads a note signing key, creating one (0600) on first use.
func loadOrCreateSigner(path string) (note.Signer, string, error) {
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		fresh, gerr := newCheckpointKey()
		if gerr != nil {
			return nil, "", gerr
		}
		f, ferr := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if ferr != nil {
			return nil, "", fmt.Errorf("create checkpoint key %s: %w", path, ferr)
		}
		if _, werr := f.Write(fresh); werr != nil {
			f.Close()
			return nil, "", werr
		}
		if cerr := f.Close(); cerr != nil {
			return nil, "", cerr
		}
		b = fresh
	} else if err != nil {
		return nil, "", fmt.Errorf("read checkpoint key: %w", err)
	}
	return parseCheckpointKey(b, path)
}

func loadVerifier(explicit, keyFile string) (note.Verifier, error) {
	vkey := explicit
	if vkey == "" {
		b, err := os.ReadFile(keyFile)
		if err != nil {
			return nil, fmt.Errorf("no --verifier given and cannot read the checkpoint key %s: %w", keyFile, err)
		}
		lines := strings.Fields(string(b))
		if len(lines) != 2 {
			return nil, fmt.Errorf("checkpoint key %s: expected a signer key and a verifier key line", keyFile)
		}
		vkey = lines[1]
	}
	v, err := note.NewVerifier(strings.TrimSpace(vkey))
	if err != nil {
		return nil, fmt.Errorf("verifier key: %w", err)
	}
	return v, nil
}
