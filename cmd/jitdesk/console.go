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

// consoleFlags are shared by `jitdesk` and `jitdesk console`.
type consoleFlags struct {
	as    string
	quiet bool
}

func (f *consoleFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.as, "as", "", "approver login to act as (default: the OS user, if an approver)")
	registerQuiet(cmd, &f.quiet)
}

// registerQuiet adds --quiet, which silences the bell and the desktop
// notifications (OSC 9 and OSC 777) that a request starting to need you
// sends, and --no-bell, its deprecated older name (it silenced both too).
func registerQuiet(cmd *cobra.Command, quiet *bool) {
	cmd.Flags().BoolVar(quiet, "quiet", false, "no bell and no desktop notification when a request starts needing you")
	cmd.Flags().BoolVar(quiet, "no-bell", false, "same as --quiet")
	_ = cmd.Flags().MarkDeprecated("no-bell", "use --quiet (it silences the bell and desktop notifications)")
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
			return runConsole(svc, login, !f.quiet)
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

// runConsole runs the console until it quits; alert rings the bell and
// sends desktop notifications when a request starts needing login.
func runConsole(svc *approvals.Service, login string, alert bool) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// Every console sweeps too, so a desk without `serve` still sees
	// overdue requests become expired; racing sweepers are safe.
	go svc.RunSweeper(ctx, sweepEvery, nil)
	m := ui.New(ui.Options{Service: svc, Login: login, Bell: alert, Notify: alert})
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
