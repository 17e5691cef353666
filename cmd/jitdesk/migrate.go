package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/jitdesk/jitdesk/approvals"
	"github.com/jitdesk/jitdesk/pgstore"
)

// sqliteScheme prefixes a --from SQLite file.
const sqliteScheme = "sqlite:"

func newMigrateCmd(g *globals) *cobra.Command {
	var from, to string
	cmd := &cobra.Command{
		Use:   "migrate --from sqlite:PATH --to postgres://…",
		Short: "Copy a SQLite database into an empty PostgreSQL database, verifying both",
		Long: `Copies every row of a SQLite database into a PostgreSQL database, as stored
(the audit chain, signatures and sealed secrets stay byte-identical), in one
transaction on the target: all of it lands or nothing does. The target must be
empty (never initialised); it is refused otherwise.

Before copying, the source's audit chain is verified; after, the target's is,
and both must have the same number of events and the same head hash, and every
table the same number of rows. Stop every jitdesk process using the source
first: what they write meanwhile is not copied (the check then fails).

Sealed secrets are copied sealed: the target uses the same master key as the
source (--master-key-file, else $` + masterKeyEnv + `, else the key file beside the
source). Every node on PostgreSQL then needs that key in $` + masterKeyEnv + ` or
--master-key-file.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			path, ok := strings.CutPrefix(from, sqliteScheme)
			if !ok || path == "" {
				return usagef(cmd, "--from must be sqlite:PATH (the SQLite database file)")
			}
			if !isPostgres(to) {
				return usagef(cmd, "--to must be a postgres:// or postgresql:// URL (only PostgreSQL targets are supported)")
			}
			return g.migrate(cmd.Context(), path, to)
		},
	}
	cmd.Flags().StringVar(&from, "from", "", "the source: sqlite:PATH")
	cmd.Flags().StringVar(&to, "to", "", "the target: a postgres:// URL of an empty database")
	return cmd
}

// migrationSummary is what migrate prints.
type migrationSummary struct {
	From   string               `json:"from"`
	To     string               `json:"to"`
	Events int64                `json:"audit_events"`
	Head   string               `json:"head"`
	Rows   int64                `json:"rows"`
	Tables []pgstore.TableCount `json:"-"`
	Counts map[string]int64     `json:"tables"`
	Key    string               `json:"master_key_id"`
}

// errMigrationMismatch: the copy does not match its source.
var errMigrationMismatch = errors.New("the copy does not match the source")

func (g *globals) migrate(ctx context.Context, path, to string) error {
	if ctx == nil {
		ctx = context.Background()
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	// The source opened as every command opens it (its schema brought up
	// to date, its secrets sealed, the master key checked), and its chain
	// verified before anything is copied.
	srcG := *g
	srcG.db = abs
	srcSvc, srcDB, key, err := srcG.openStoreKey(false)
	if err != nil {
		return fmt.Errorf("source: %w", err)
	}
	g.announce(key)
	srcRep, err := srcSvc.VerifyAudit(ctx)
	srcDB.Close()
	if err != nil {
		return fmt.Errorf("source %s: %w", abs, err)
	}

	target, err := openPostgres(to)
	if err != nil {
		return fmt.Errorf("target: %w", err)
	}
	defer target.Close()
	if empty, err := pgstore.IsEmpty(ctx, target); err != nil {
		return err
	} else if !empty {
		return fmt.Errorf("target %s: %w: migrate copies only into a database no jitdesk has used (create a new database, or drop this one's tables)", target.Name(), pgstore.ErrNotEmpty)
	}
	src, err := sql.Open("sqlite", (&url.URL{Scheme: "file", Path: abs, RawQuery: "mode=ro"}).String())
	if err != nil {
		return fmt.Errorf("source %s: %w", abs, err)
	}
	defer src.Close()
	rep, err := pgstore.ImportSQLite(ctx, target, src)
	if err != nil {
		return err
	}

	// The target verified on its own: its chain, the same events and head,
	// and every table's count against the source's.
	tsvc := approvals.New(target, g.serviceOptions(target, key))
	tRep, err := tsvc.VerifyAudit(ctx)
	if err != nil {
		return fmt.Errorf("target %s after the copy: %w", target.Name(), err)
	}
	if tRep.Events != srcRep.Events || tRep.HeadHash != srcRep.HeadHash {
		return fmt.Errorf("%w: the source's audit chain has %d events (head %s), the target's %d (head %s); was a jitdesk process still writing to the source? The target now holds the copy: drop and recreate it before trying again",
			errMigrationMismatch, srcRep.Events, srcRep.HeadHash, tRep.Events, tRep.HeadHash)
	}
	want, err := pgstore.CountSQLiteRows(ctx, target, src)
	if err != nil {
		return err
	}
	have, err := pgstore.CountRows(ctx, target)
	if err != nil {
		return err
	}
	counts := map[string]int64{}
	for i, w := range want {
		if i >= len(have) || have[i] != w {
			return fmt.Errorf("%w: table %s has %d rows in the source and %v in the target; the target now holds the copy: drop and recreate it before trying again", errMigrationMismatch, w.Table, w.Rows, rowsOf(have, w.Table))
		}
		counts[w.Table] = w.Rows
	}
	sum := migrationSummary{From: abs, To: target.Name(), Events: tRep.Events, Head: tRep.HeadHash, Rows: rep.Rows(), Tables: have, Counts: counts, Key: key.sealer.KeyID()}
	if g.json {
		return g.printJSON(sum)
	}
	g.say("copied %s to %s: %d rows in %d tables, in one transaction\n", abs, target.Name(), sum.Rows, len(have))
	l := g.newListing("TABLE", "ROWS")
	for _, t := range have {
		l.add(nil, t.Table, fmt.Sprint(t.Rows))
	}
	if err := l.print(); err != nil {
		return err
	}
	g.say("audit chain ok on both: %d events, head %s; every table's row count matches\n", sum.Events, sum.Head)
	g.say("the secrets stay sealed with master key %s (%s): give every node that key in $%s or --master-key-file, and the target's connection string (--db or $JITDESK_DB; %s)\n",
		sum.Key, key.source(), masterKeyEnv, target.Name())
	return nil
}

// rowsOf is the count of table in counts, "no such table" when absent.
func rowsOf(counts []pgstore.TableCount, table string) string {
	for _, c := range counts {
		if c.Table == table {
			return fmt.Sprint(c.Rows)
		}
	}
	return "no such table"
}
