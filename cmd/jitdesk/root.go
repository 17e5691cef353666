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
	"reflect"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/jitdesk/jitdesk/approvals"
	"github.com/jitdesk/jitdesk/ui"
)

// globals are the flags every command shares, and where output goes.
type globals struct {
	db      string
	issuer  string
	keyFile string // --master-key-file
	json    bool
	out     io.Writer // stdout
	errOut  io.Writer // stderr: progress, warnings and errors
	// serviceHooks adjust the Service options of the next open (serve
	// adds its observers and the SSH user CA).
	serviceHooks []func(*approvals.Options)
}

func newRootCmd() *cobra.Command {
	root, _ := newRoot()
	return root
}

// newRoot builds the command tree and returns it with the shared flags, so
// run can tell whether --json asked for JSON errors.
func newRoot() (*cobra.Command, *globals) {
	g := &globals{out: os.Stdout, errOut: os.Stderr}
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
	root.PersistentFlags().StringVar(&g.db, "db", "", "the database: a SQLite file `PATH`, or a postgres:// (postgresql://) URL (default $JITDESK_DB, else $XDG_DATA_HOME/jitdesk/jitdesk.db)")
	root.PersistentFlags().StringVar(&g.issuer, "issuer", "", "the deployment's token issuer `URL` (iss, and the aud of intake tokens): init stores it (default $JITDESK_ISSUER, else "+approvals.DefaultIssuer+"); "+
		"other commands refuse one that disagrees with the stored issuer (change that with: jitdesk config set issuer URL)")
	root.PersistentFlags().StringVar(&g.keyFile, "master-key-file", "", "the master key file (`PATH`) that seals the database's secrets; given, it is used even if $"+masterKeyEnv+" is set (default: $"+masterKeyEnv+" if set, else for SQLite the database file's name with "+masterKeySuffix+" added, beside it; PostgreSQL needs one of the two)")
	root.PersistentFlags().BoolVar(&g.json, "json", false, "print machine-readable JSON (errors too, on stderr)")
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usageError{cmd: strings.TrimPrefix(c.CommandPath(), "jitdesk"), err: err}
	})
	consoleCmd := newConsoleCmd(g)
	root.RunE = consoleCmd.RunE
	root.Flags().AddFlagSet(consoleCmd.Flags())
	root.AddCommand(
		newInitCmd(g), newConfigCmd(g), newAppCmd(g), newApproverCmd(g), newTemplateCmd(g),
		newRequestCmd(g), newApproveCmd(g), newDenyCmd(g), newRevokeCmd(g),
		newTokenCmd(g), newVerifyCmd(g), newKeysCmd(g), newJWKSCmd(g), newAuditCmd(g),
		newDemoCmd(g), consoleCmd, newServeCmd(g), newOnCallCmd(g), newBreakGlassCmd(g),
		newWebhookCmd(g), newSignatureCmd(g), newApplyCmd(g), newExportCmd(g), newMigrateCmd(g),
		newVersionCmd(g), newBackupCmd(g), newPruneCmd(g), newManCmd(root),
	)
	// --version prints the same line as `jitdesk version`.
	root.Version = versionLine()
	root.SetVersionTemplate("{{.Version}}\n")
	wrapArgs(root)
	registerCompletions(g, root)
	return root, g
}

// newGroup is a command that only holds subcommands. Without a RunE cobra
// would print help and exit 0 for a subcommand it does not know (`jitdesk
// approver remove carol`); this makes that a usage error and keeps the
// help for the group alone.
func newGroup(use, short string) *cobra.Command {
	return &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return cmd.Help()
			}
			var names []string
			for _, sub := range cmd.Commands() {
				if sub.IsAvailableCommand() {
					names = append(names, sub.Name())
				}
			}
			return usagef(cmd, "unknown command %q (commands: %s)", args[0], strings.Join(names, ", "))
		},
	}
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

// issuerGiven is the issuer this process was given: --issuer, else
// $JITDESK_ISSUER, else "" (none: use the stored one).
func (g *globals) issuerGiven() string {
	if g.issuer != "" {
		return g.issuer
	}
	return os.Getenv("JITDESK_ISSUER")
}

// issuerValue is the issuer a new database stores: the given one, else
// the default.
func (g *globals) issuerValue() string {
	if v := g.issuerGiven(); v != "" {
		return v
	}
	return approvals.DefaultIssuer
}

// openStore opens (or with create, creates) the database and a Service
// over it, sealed with the master key, without settling the issuer: init
// and config set use it. Commands other than init refuse to create a
// database silently: a typo in --db would otherwise look like an empty
// system.
func (g *globals) openStore(create bool) (*approvals.Service, database, error) {
	svc, db, key, err := g.openStoreKey(create)
	if err != nil {
		return nil, nil, err
	}
	g.announce(key)
	return svc, db, nil
}

// openStoreKey is openStore that also says which master key it used and
// what opening did with it, announcing nothing (init reports it itself).
func (g *globals) openStoreKey(create bool) (*approvals.Service, database, masterKey, error) {
	db, isNew, err := g.openDatabase(create)
	if err != nil {
		return nil, nil, masterKey{}, err
	}
	svc, key, err := g.openSealed(context.Background(), db, isNew)
	if err != nil {
		db.Close()
		return nil, nil, masterKey{}, err
	}
	return svc, db, key, nil
}

// openUnsealed opens the existing database without a master key and
// without writing: shell completion uses it, which reads no secrets and
// must neither create a key file nor print.
func (g *globals) openUnsealed() (*approvals.Service, database, error) {
	db, _, err := g.openDatabase(false)
	if err != nil {
		return nil, nil, err
	}
	return approvals.New(db, g.serviceOptions(db, masterKey{})), db, nil
}

// open opens the database and a Service using the deployment's one
// issuer: the stored one, which a given --issuer or $JITDESK_ISSUER must
// match (a database from before issuers were stored adopts one).
func (g *globals) open(create bool) (*approvals.Service, database, error) {
	svc, db, err := g.openStore(create)
	if err != nil {
		return nil, nil, err
	}
	if _, err := svc.ResolveIssuer(context.Background(), g.issuerGiven()); err != nil {
		db.Close()
		return nil, nil, err
	}
	return svc, db, nil
}

// withService opens the database, runs fn and closes it.
func (g *globals) withService(fn func(ctx context.Context, svc *approvals.Service, db database) error) error {
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

// say prints a line of text output: every string argument (and every
// value of a string type) passes ui.Inert first, because names, reasons
// and titles come from outside and must not drive the terminal. Only the
// format, which is ours, goes out as it is.
func (g *globals) say(format string, args ...any) {
	fmt.Fprintf(g.out, format, inertArgs(args)...)
}

// warn is say on stderr.
func (g *globals) warn(format string, args ...any) {
	fmt.Fprintf(g.errOut, format, inertArgs(args)...)
}

func inertArgs(args []any) []any {
	out := make([]any, len(args))
	for i, a := range args {
		switch v := a.(type) {
		case string:
			out[i] = ui.Inert(v)
		case error:
			out[i] = ui.Inert(v.Error())
		default:
			if rv := reflect.ValueOf(a); rv.IsValid() && rv.Kind() == reflect.String {
				out[i] = ui.Inert(rv.String())
			} else {
				out[i] = a
			}
		}
	}
	return out
}

// ts formats a time for every output, text and JSON alike: RFC 3339 in
// UTC to the second ("2026-11-28T09:00:00Z"); "" for the zero time.
func ts(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// dur formats a duration for every output, text and JSON alike.
func dur(d time.Duration) string { return approvals.FormatDuration(d) }

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
