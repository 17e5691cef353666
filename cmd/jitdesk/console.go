package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/spf13/cobra"

	"github.com/jitdesk/jitdesk/approvals"
	"github.com/jitdesk/jitdesk/ui"
)

// consoleFlags are shared by `jitdesk`, `jitdesk console` and `jitdesk demo`.
type consoleFlags struct {
	as     string
	noBell bool
}

func (f *consoleFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.as, "as", "", "approver login to act as (default: the OS user, if an approver)")
	cmd.Flags().BoolVar(&f.noBell, "no-bell", false, "do not ring the bell when a request starts needing you")
}

func newConsoleCmd(g *globals) *cobra.Command {
	f := &consoleFlags{}
	cmd := &cobra.Command{
		Use:   "console [--as LOGIN]",
		Short: "Open the approval console (the default command)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			svc, db, err := g.open(false)
			if err != nil {
				return err
			}
			defer db.Close()
			login, err := resolveLogin(cmd.Context(), svc, f.as)
			if err != nil {
				return err
			}
			return runConsole(svc, login, !f.noBell)
		},
	}
	f.register(cmd)
	return cmd
}

// resolveLogin picks the approver the console acts as: --as, else the OS
// user when that user is an approver.
func resolveLogin(ctx context.Context, svc *approvals.Service, as string) (string, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	if as != "" {
		if _, err := svc.Approver(ctx, as); err != nil {
			if errors.Is(err, approvals.ErrNotFound) {
				return "", fmt.Errorf("--as %s: no such approver (list them with `jitdesk approver list`)", as)
			}
			return "", err
		}
		return as, nil
	}
	name := os.Getenv("USER")
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	if _, err := svc.Approver(ctx, name); err == nil {
		return name, nil
	}
	return "", fmt.Errorf("the OS user %q is not an approver: pass --as LOGIN (see `jitdesk approver list`), or add yourself with `jitdesk approver add %s --name \"Your Name\"`", name, name)
}

// sweepEvery is how often a console or server marks overdue requests expired.
const sweepEvery = 5 * time.Second

func runConsole(svc *approvals.Service, login string, bell bool) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// Every console sweeps too, so a desk without `serve` still sees
	// overdue requests become expired; racing sweepers are safe.
	go svc.RunSweeper(ctx, sweepEvery, nil)
	m := ui.New(ui.Options{Service: svc, Login: login, Bell: bell, Notify: bell})
	final, err := tea.NewProgram(m).Run()
	// The console holds a change-feed subscription; end it however the
	// program ended.
	for _, v := range []tea.Model{final, m} {
		if c, ok := v.(io.Closer); ok {
			c.Close()
		}
	}
	return err
}
