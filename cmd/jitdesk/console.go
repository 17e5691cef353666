package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"os/user"
	"syscall"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/term"
	"github.com/spf13/cobra"

	"github.com/jitdesk/jitdesk/approvals"
	"github.com/jitdesk/jitdesk/keysign"
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
			if err := needTerminal(cmd); err != nil {
				return err
			}
			svc, db, err := g.open(false)
			if err != nil {
				return err
			}
			defer db.Close()
			login, err := resolveLogin(cmd.Context(), svc, f.as)
			if err != nil {
				return err
			}
			ctx, stop := consoleContext(cmd.Context())
			defer stop()
			return runConsole(ctx, svc, login, !f.quiet)
		},
	}
	f.register(cmd)
	return cmd
}

// needTerminal refuses to start the console without a terminal on stdin
// and stdout (a pipe, a cron job, CI), saying what to use instead, rather
// than failing inside the terminal set-up.
func needTerminal(cmd *cobra.Command) error {
	if term.IsTerminal(os.Stdin.Fd()) && term.IsTerminal(os.Stdout.Fd()) {
		return nil
	}
	return usagef(cmd, "the console needs a terminal (stdin and stdout are not a TTY): run it in a terminal or over `ssh` to `jitdesk serve`; scripts use the commands instead (jitdesk request list, approve, deny …; see jitdesk --help)")
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
func runConsole(ctx context.Context, svc *approvals.Service, login string, alert bool) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Every console sweeps too, so a desk without `serve` still sees
	// overdue requests become expired; racing sweepers are safe.
	go svc.RunSweeper(ctx, sweepEvery, nil)
	// The local agent ($SSH_AUTH_SOCK) signs decisions with the approver's
	// own key when it holds one they registered; without one the console
	// says so on the review, before anything is drawn or typed.
	var agentSource keysign.Source
	if os.Getenv("SSH_AUTH_SOCK") != "" {
		agentSource = keysign.LocalSource(os.Getenv)
	}
	m := ui.New(ui.Options{Service: svc, Login: login, Bell: alert, Notify: alert, KeySource: agentSource})
	final, err := tea.NewProgram(m, tea.WithContext(ctx)).Run()
	// The console holds a change-feed subscription; end it however the
	// program ended.
	for _, v := range []tea.Model{final, m} {
		if c, ok := v.(io.Closer); ok {
			c.Close()
		}
	}
	if errors.Is(err, tea.ErrProgramKilled) && ctx.Err() != nil {
		return nil // ended by a signal: the terminal is restored, defers run
	}
	return err
}

// consoleContext ends with SIGINT, SIGTERM or SIGHUP, so a console (and
// the demo, before and while it runs) returns through its defers — the
// terminal restored, the demo folder removed — instead of dying mid-way.
func consoleContext(parent context.Context) (context.Context, context.CancelFunc) {
	if parent == nil {
		parent = context.Background()
	}
	return signal.NotifyContext(parent, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
}
