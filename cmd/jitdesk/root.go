package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"os/user"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/jitdesk/jitdesk/approvals"
	"github.com/jitdesk/jitdesk/store"
)

// globals are the flags every command shares.
type globals struct {
	db     string
	issuer string
	json   bool
	out    io.Writer
}

func newRootCmd() *cobra.Command {
	g := &globals{out: os.Stdout}
	root := &cobra.Command{
		Use:   "jitdesk",
		Short: "Just-in-time access approvals, reviewed in a terminal console",
		Long: `jitdesk lets applications ask for temporary elevated access for their users,
lets approvers review, sign and decide in a terminal console (locally or over SSH),
and issues signed access tokens (JWT) that any service verifies offline.

Run with no command to open the console (same as "jitdesk console").`,
		SilenceErrors: true,
		SilenceUsage:  true,
		Args:          cobra.NoArgs,
	}
	root.PersistentFlags().StringVar(&g.db, "db", "", "database file (default $JITDESK_DB, else $XDG_DATA_HOME/jitdesk/jitdesk.db)")
	root.PersistentFlags().StringVar(&g.issuer, "issuer", "", "token issuer (iss) and intake audience (default $JITDESK_ISSUER, else "+approvals.DefaultIssuer+")")
	root.PersistentFlags().BoolVar(&g.json, "json", false, "print machine-readable JSON")
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usageError{cmd: c.CommandPath()[len("jitdesk"):], err: err}
	})
	consoleCmd := newConsoleCmd(g)
	root.RunE = consoleCmd.RunE
	root.Flags().AddFlagSet(consoleCmd.Flags())
	root.AddCommand(
		newInitCmd(g), newAppCmd(g), newApproverCmd(g), newTemplateCmd(g),
		newRequestCmd(g), newApproveCmd(g), newDenyCmd(g), newRevokeCmd(g),
		newTokenCmd(g), newVerifyCmd(g), newKeysCmd(g), newJWKSCmd(g), newAuditCmd(g),
		newDemoCmd(g), consoleCmd, newServeCmd(g), newOnCallCmd(g), newBreakGlassCmd(g),
		newWebhookCmd(g),
	)
	wrapArgs(root)
	return root
}

// wrapArgs turns cobra's argument-count errors into usage errors (exit 2).
func wrapArgs(c *cobra.Command) {
	if c.Args != nil {
		check := c.Args
		c.Args = func(cmd *cobra.Command, args []string) error {
			if err := check(cmd, args); err != nil {
				return usageError{cmd: strings.TrimPrefix(cmd.CommandPath(), "jitdesk"), err: err}
			}
			return nil
		}
	}
	for _, sub := range c.Commands() {
		wrapArgs(sub)
	}
}

func usagef(cmd *cobra.Command, format string, args ...any) error {
	return usageError{cmd: strings.TrimPrefix(cmd.CommandPath(), "jitdesk"), err: fmt.Errorf(format, args...)}
}

// dbPath resolves --db, then $JITDESK_DB, then the XDG data folder.
func (g *globals) dbPath() (string, error) {
	if g.db != "" {
		return g.db, nil
	}
	if p := os.Getenv("JITDESK_DB"); p != "" {
		return p, nil
	}
	return defaultDBPath()
}

func defaultDBPath() (string, error) {
	dir := os.Getenv("XDG_DATA_HOME")
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("no --db given and no home folder to default to: %w", err)
		}
		dir = filepath.Join(home, ".local", "share")
	}
	return filepath.Join(dir, "jitdesk", "jitdesk.db"), nil
}

func (g *globals) issuerValue() string {
	if g.issuer != "" {
		return g.issuer
	}
	if v := os.Getenv("JITDESK_ISSUER"); v != "" {
		return v
	}
	return approvals.DefaultIssuer
}

// open opens the database and a Service over it. Commands other than init
// refuse to create a database silently: a typo in --db would otherwise look
// like an empty system.
func (g *globals) open(create bool) (*approvals.Service, *store.DB, error) {
	path, err := g.dbPath()
	if err != nil {
		return nil, nil, err
	}
	if !create {
		if _, err := os.Stat(path); os.IsNotExist(err) {
			return nil, nil, fmt.Errorf("no database at %s: run `jitdesk init` first (or pass --db PATH)", path)
		}
	}
	db, err := store.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("open %s: %w", path, err)
	}
	return approvals.New(db, approvals.Options{Issuer: g.issuerValue()}), db, nil
}

// withService opens the database, runs fn and closes it.
func (g *globals) withService(fn func(ctx context.Context, svc *approvals.Service, db *store.DB) error) error {
	svc, db, err := g.open(false)
	if err != nil {
		return err
	}
	defer db.Close()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return fn(ctx, svc, db)
}

// printJSON writes v as indented JSON. encoding/json escapes C0 controls but
// passes C1 controls, bidi and zero-width characters through raw; request
// data is hostile and this output often lands on a terminal, so those are
// written as \uXXXX escapes too (the JSON still means the same).
func (g *globals) printJSON(v any) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return err
	}
	_, err := g.out.Write(inertJSON(buf.Bytes()))
	return err
}

// inertJSON escapes the runes a terminal could act on or hide text with.
func inertJSON(b []byte) []byte {
	var out bytes.Buffer
	for _, r := range string(b) {
		switch {
		case r >= 0x80 && r <= 0x9f, r >= 0x200b && r <= 0x200f, r >= 0x202a && r <= 0x202e,
			r >= 0x2060 && r <= 0x2069, r == 0x061c, r == 0xfeff:
			fmt.Fprintf(&out, `\u%04x`, r)
		default:
			out.WriteRune(r)
		}
	}
	return out.Bytes()
}

// operator is the audit actor for administrative commands: the OS user.
func operator() string {
	name := os.Getenv("USER")
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	if name == "" {
		name = "unknown"
	}
	return "operator:" + name
}
