package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/jitdesk/jitdesk/approvals"
	"github.com/jitdesk/jitdesk/store"
)

// errBackupPostgres: jitdesk backs up SQLite itself; PostgreSQL has its
// own tools, which know its replication and point-in-time recovery.
var errBackupPostgres = errors.New("the database is PostgreSQL: back it up with pg_dump (see README, \"Backups\"), which copies it consistently while nodes keep running")

func newBackupCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "backup FILE",
		Short: "Copy the database online to FILE (mode 0600), then check the copy: integrity and the audit chain",
		Long: `Writes a consistent copy of the SQLite database while jitdesk keeps
running (VACUUM INTO on a read snapshot), with mode 0600 — the copy holds every
sealed secret, as the database does — and reports success only once the copy
passes SQLite's integrity check and jitdesk audit verify. FILE must not exist.
Restore by stopping jitdesk and putting the copy in the database's place (see
README, "Backups"); keep the master key (DB.master-key) apart from backups.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.withService(func(ctx context.Context, svc *approvals.Service, db database) error {
				sq, ok := db.(sqliteDB)
				if !ok {
					return errBackupPostgres
				}
				started := time.Now()
				rep, err := sq.Backup(ctx, args[0])
				if err != nil {
					return err
				}
				audit, err := verifyBackup(ctx, svc, rep.Path)
				if err != nil {
					os.Remove(rep.Path)
					return fmt.Errorf("the copy at %s failed its audit check and was removed: %w", rep.Path, err)
				}
				if g.json {
					return g.printJSON(map[string]any{"file": rep.Path, "bytes": rep.Bytes, "schema_version": rep.SchemaVersion,
						"audit_events": audit.Events, "head": audit.HeadHash, "took_ms": time.Since(started).Milliseconds()})
				}
				g.say("backup written to %s (%d bytes, schema %d, mode 0600): integrity ok, audit chain of %d events verified\n",
					rep.Path, rep.Bytes, rep.SchemaVersion, audit.Events)
				return nil
			})
		},
	}
}

// verifyBackup runs audit verify on a backup copy, read-only, with the
// master key that sealed it: the chain and the replay of the state it
// records against the copy's tables.
func verifyBackup(ctx context.Context, svc *approvals.Service, path string) (approvals.AuditReport, error) {
	cp, err := store.OpenReadOnly(path)
	if err != nil {
		return approvals.AuditReport{}, err
	}
	defer cp.Close()
	return svc.Over(cp).VerifyAudit(ctx)
}

func newPruneCmd(g *globals) *cobra.Command {
	var keep time.Duration
	cmd := &cobra.Command{
		Use:   "prune [--webhook-deliveries-older-than D]",
		Short: "Delete finished webhook deliveries and their bodies older than D (serve does this hourly)",
		Long: `Deletes webhook deliveries that were delivered, given up on (dead) or
cancelled more than D ago, and event bodies no delivery needs any more. Pending
deliveries are never pruned, and neither are requests, reviews, grants or the
audit log. Each batch deleted is itself recorded in the audit log.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return g.withService(func(ctx context.Context, svc *approvals.Service, _ database) error {
				rep, err := svc.PruneWebhookDeliveries(ctx, operator(), keep)
				if err != nil {
					return err
				}
				if g.json {
					return g.printJSON(map[string]any{"deliveries": rep.Deliveries, "bodies": rep.Bodies, "finished_before": ts(rep.Before)})
				}
				g.say("pruned %d webhook deliveries and %d event bodies finished before %s\n", rep.Deliveries, rep.Bodies, ts(rep.Before))
				return nil
			})
		},
	}
	cmd.Flags().DurationVar(&keep, "webhook-deliveries-older-than", defaultWebhookRetention, "keep finished webhook deliveries this long")
	return cmd
}

// defaultWebhookRetention is how long finished deliveries are kept for
// `webhook log` before pruning.
const defaultWebhookRetention = 30 * 24 * time.Hour
