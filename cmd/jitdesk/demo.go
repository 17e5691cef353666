package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/jitdesk/jitdesk/demo"
	"github.com/jitdesk/jitdesk/pgstore"
	"github.com/jitdesk/jitdesk/store"
)

// The demo's trickle interval bounds: above zero (a ticker panics on 0)
// and slow enough not to flood the queue.
const (
	minTrickle = 100 * time.Millisecond
	maxTrickle = 24 * time.Hour
)

func newDemoCmd(g *globals) *cobra.Command {
	var quiet, noTrickle bool
	var every time.Duration
	cmd := &cobra.Command{
		Use:   "demo [--db PATH|URL] [--no-trickle] [--quiet]",
		Short: "Open the console on a fresh demo database (needs nothing else)",
		Long: `Builds a demo database (in a temporary folder, removed on exit, unless --db is
given), opens the console as the demo approver "` + demo.Approver + `" (` + demo.ApproverName + `),
and keeps submitting a realistic request every few seconds so you see the queue
update live (--no-trickle stops that). --quiet silences the bell and desktop
notifications, as everywhere.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			// Every flag is checked before anything is made: nothing to
			// clean up, and no goroutine panicking on a bad ticker later.
			if every < minTrickle || every > maxTrickle {
				return usagef(cmd, "--every %s: give a duration between %s and %s", every, minTrickle, maxTrickle)
			}
			if err := needTerminal(cmd); err != nil {
				return err
			}
			ctx, cancel := consoleContext(cmd.Context())
			defer cancel()
			db, keys, cleanup, err := g.openDemoDatabase()
			if err != nil {
				return err
			}
			defer cleanup()
			svc, _, err := keys.openSealed(ctx, db, true)
			if err != nil {
				return err
			}
			if _, err := svc.SetIssuer(ctx, operator(), g.issuerValue()); err != nil {
				return err
			}
			if _, err := demo.Seed(ctx, svc, 12); err != nil {
				return fmt.Errorf("seed demo data: %w", err)
			}
			if !noTrickle {
				go demo.Trickle(ctx, svc, every, uint64(time.Now().UnixNano()))
			}
			return runConsole(ctx, svc, demo.Approver, !quiet)
		},
	}
	cmd.Flags().BoolVar(&noTrickle, "no-trickle", false, "do not submit new requests while the demo runs")
	registerQuiet(cmd, &quiet)
	cmd.Flags().DurationVar(&every, "every", 8*time.Second, "how often the demo submits a new request")

	var n int
	seed := &cobra.Command{
		Use:   "seed [--requests N]",
		Short: "Fill the database (--db) with demo applications, approvers, templates and N pending requests",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if n < 0 || n > 10_000_000 {
				return usagef(cmd, "--requests %d must be between 0 and 10000000", n)
			}
			svc, db, err := g.open(true)
			if err != nil {
				return err
			}
			defer db.Close()
			start := time.Now()
			apps, err := demo.Seed(cmd.Context(), svc, min(n, 40))
			if err != nil {
				return err
			}
			if n > 40 {
				if err := demo.Bulk(cmd.Context(), svc, db, n-40, func(done int) {
					if !g.json {
						g.warn("\rseeded %d/%d requests", done+40, n)
					}
				}); err != nil {
					return err
				}
				if !g.json {
					g.warn("\n")
				}
			}
			if g.json {
				out := map[string]any{"db": db.Name(), "requests": n, "approver": demo.Approver, "seconds": time.Since(start).Seconds()}
				appOut := map[string]any{}
				for name, a := range apps {
					appOut[name] = map[string]any{"id": a.ID, "audience": a.Audience}
				}
				out["applications"] = appOut
				return g.printJSON(out)
			}
			g.say("seeded %s with %d requests in %s; open the console with: jitdesk --db %s --as %s\n",
				db.Name(), n, time.Since(start).Round(time.Millisecond), db.Name(), demo.Approver)
			return nil
		},
	}
	seed.Flags().IntVar(&n, "requests", 40, "number of requests (beyond 40, mostly decided history plus some thousands pending)")
	cmd.AddCommand(seed)
	return cmd
}

// openDemoDatabase opens the fresh database the demo builds: a SQLite file
// in a temporary folder removed by cleanup (with a throwaway master key
// beside it, whatever key the shell names), or the --db given, which must
// not hold a jitdesk database yet (the demo adds its made-up applications
// and approvers to nothing real). keys are the globals to seal it with.
func (g *globals) openDemoDatabase() (db database, keys *globals, cleanup func(), err error) {
	if g.db != "" && isPostgres(g.db) {
		pg, err := openPostgres(g.db)
		if err != nil {
			return nil, nil, nil, err
		}
		if empty, err := pgstore.IsEmpty(context.Background(), pg); err != nil || !empty {
			pg.Close()
			if err == nil {
				err = fmt.Errorf("%s already holds a jitdesk database: the demo builds a fresh one; give an empty database", pg.Name())
			}
			return nil, nil, nil, err
		}
		return pg, g, func() { pg.Close() }, nil
	}
	path, keys := g.db, g
	var dir string
	if path == "" {
		if dir, err = os.MkdirTemp("", "jitdesk-demo-"); err != nil {
			return nil, nil, nil, err
		}
		path = filepath.Join(dir, "demo.db")
		k := *g
		k.keyFile = path + masterKeySuffix
		keys = &k
	}
	removeDir := func() {
		if dir != "" {
			os.RemoveAll(dir)
		}
	}
	if _, err := os.Stat(path); err == nil {
		removeDir()
		return nil, nil, nil, fmt.Errorf("%s already exists: the demo builds a fresh database; pass a new --db path", path)
	}
	s, err := store.Open(path)
	if err != nil {
		removeDir()
		return nil, nil, nil, err
	}
	return sqliteDB{s}, keys, func() { s.Close(); removeDir() }, nil
}
