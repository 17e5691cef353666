package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/jitdesk/jitdesk/approvals"
)

func newApproverCmd(g *globals) *cobra.Command {
	cmd := newGroup("approver", "Manage approvers, their SSH keys and whether they may act")
	var name, email string
	var groups, keyFiles []string
	var auditor bool
	add := &cobra.Command{
		Use:   `add LOGIN --name "Full Name" [--email E] [--group G]... [--ssh-key FILE]... [--auditor]`,
		Short: "Register an approver",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if strings.TrimSpace(name) == "" {
				return usagef(cmd, `--name "Full Name" is required (approvers sign with it)`)
			}
			a := approvals.Approver{Login: args[0], Name: name, Email: email, Groups: groups, Auditor: auditor}
			for _, f := range keyFiles {
				lines, err := readKeyFile(f)
				if err != nil {
					return fmt.Errorf("--ssh-key: %w", err)
				}
				for _, line := range lines {
					k, err := approvals.ParseSSHKey(line)
					if err != nil {
						return fmt.Errorf("--ssh-key %s: %w", f, err)
					}
					a.SSHKeys = append(a.SSHKeys, k)
				}
			}
			return g.withService(func(ctx context.Context, svc *approvals.Service, _ database) error {
				if err := svc.AddApprover(ctx, operator(), a); err != nil {
					return err
				}
				saved, err := svc.Approver(ctx, a.Login)
				if err != nil {
					return err
				}
				if g.json {
					return g.printJSON(approverJSON(saved))
				}
				g.say("approver %s (%s) added", saved.Login, saved.Name)
				if len(saved.SSHKeys) > 0 {
					g.say(" with %d ssh key(s)", len(saved.SSHKeys))
				}
				if saved.Auditor {
					g.say(", auditor (sees every request)")
				}
				g.say("\n")
				return nil
			})
		},
	}
	add.Flags().StringVar(&name, "name", "", "full name, as the approver signs it (required)")
	add.Flags().StringVar(&email, "email", "", "email address")
	add.Flags().StringArrayVar(&groups, "group", nil, "approver group (repeatable)")
	add.Flags().StringArrayVar(&keyFiles, "ssh-key", nil, "file with OpenSSH public key(s) for the SSH console (repeatable)")
	add.Flags().BoolVar(&auditor, "auditor", false, "sees every request, read-only unless otherwise eligible")

	list := &cobra.Command{
		Use:   "list",
		Short: "List approvers with their state, auditor flag and SSH keys (removed keys marked)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return g.withService(func(ctx context.Context, svc *approvals.Service, _ database) error {
				l := g.newListing("LOGIN", "NAME", "GROUPS", "STATE", "AUDITOR", "SSH KEYS")
				err := eachPage(func(after string, n int) ([]approvals.Approver, error) { return svc.Approvers(ctx, after, n) },
					func(a approvals.Approver) string { return a.Login },
					func(a approvals.Approver) {
						l.add(approverJSON(a), a.Login, a.Name, strings.Join(a.Groups, ","), approverState(a), yesNo(a.Auditor), keysText(a.SSHKeys))
					})
				if err != nil {
					return err
				}
				return l.print()
			})
		},
	}

	var uName, uEmail string
	var addGroups, removeGroups []string
	var uAuditor bool
	update := &cobra.Command{
		Use:   "update LOGIN [--name N] [--email E] [--add-group G]... [--remove-group G]... [--auditor=true|false]",
		Short: "Change an approver's name, email, groups or auditor flag (only the flags given)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			u := approvals.ApproverUpdate{AddGroups: addGroups, RemoveGroups: removeGroups}
			if changed(cmd, "name") {
				u.Name = &uName
			}
			if changed(cmd, "email") {
				u.Email = &uEmail
			}
			if changed(cmd, "auditor") {
				u.Auditor = &uAuditor
			}
			if u.Name == nil && u.Email == nil && u.Auditor == nil && len(addGroups)+len(removeGroups) == 0 {
				return usagef(cmd, "nothing to change: give --name, --email, --add-group, --remove-group or --auditor")
			}
			return g.withService(func(ctx context.Context, svc *approvals.Service, _ database) error {
				a, err := svc.UpdateApprover(ctx, operator(), args[0], u)
				if err != nil {
					return err
				}
				if g.json {
					return g.printJSON(approverJSON(a))
				}
				g.say("approver %s (%s) updated: groups %s, auditor %s\n", a.Login, a.Name, orNone(strings.Join(a.Groups, ",")), yesNo(a.Auditor))
				return nil
			})
		},
	}
	update.Flags().StringVar(&uName, "name", "", "new full name")
	update.Flags().StringVar(&uEmail, "email", "", `new email address ("" for none)`)
	update.Flags().StringArrayVar(&addGroups, "add-group", nil, "join a group (repeatable)")
	update.Flags().StringArrayVar(&removeGroups, "remove-group", nil, "leave a group (repeatable)")
	update.Flags().BoolVar(&uAuditor, "auditor", false, "--auditor=true: sees every request; --auditor=false: no longer")

	key := newGroup("key", "Add or remove an approver's SSH public keys")
	keyAdd := &cobra.Command{
		Use:   "add LOGIN KEY",
		Short: "Register an SSH public key: KEY is a public-key file or a public-key line",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			lines, err := keyLines(args[1])
			if err != nil {
				return usagef(cmd, "%v", err)
			}
			return g.withService(func(ctx context.Context, svc *approvals.Service, _ database) error {
				var added []approvals.SSHKey
				for _, line := range lines {
					k, err := svc.AddApproverKey(ctx, operator(), args[0], line)
					if err != nil {
						return err
					}
					added = append(added, k)
				}
				if g.json {
					return g.printJSON(map[string]any{"login": args[0], "added": keysJSON(added)})
				}
				for _, k := range added {
					g.say("key %s added to %s\n", k.Fingerprint, args[0])
				}
				return nil
			})
		},
	}
	keyRemove := &cobra.Command{
		Use:   "remove LOGIN KEY",
		Short: "Remove an SSH key: KEY is a public-key file, a public-key line or its SHA256:… fingerprint (live SSH sessions with it end)",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			lines := []string{strings.TrimSpace(args[1])}
			if !strings.HasPrefix(lines[0], "SHA256:") {
				var err error
				if lines, err = keyLines(args[1]); err != nil {
					return usagef(cmd, "%v (or give the SHA256:… fingerprint `jitdesk approver list` shows)", err)
				}
			}
			return g.withService(func(ctx context.Context, svc *approvals.Service, _ database) error {
				var removed []approvals.SSHKey
				for _, line := range lines {
					k, err := svc.RemoveApproverKey(ctx, operator(), args[0], line)
					if err != nil {
						return err
					}
					removed = append(removed, k)
				}
				if g.json {
					return g.printJSON(map[string]any{"login": args[0], "removed": keysJSON(removed)})
				}
				for _, k := range removed {
					g.say("key %s of %s removed\n", k.Fingerprint, args[0])
				}
				return nil
			})
		},
	}
	key.AddCommand(keyAdd, keyRemove)

	setEnabled := func(enabled bool) *cobra.Command {
		verb, short := "disable", "Disable (offboard) an approver: they decide nothing and their live SSH sessions end; history keeps them"
		if enabled {
			verb, short = "enable", "Enable a disabled approver again"
		}
		return &cobra.Command{
			Use:   verb + " LOGIN",
			Short: short,
			Args:  cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				return g.withService(func(ctx context.Context, svc *approvals.Service, _ database) error {
					a, err := svc.SetApproverEnabled(ctx, operator(), args[0], enabled)
					if err != nil {
						return err
					}
					if g.json {
						return g.printJSON(approverJSON(a))
					}
					g.say("approver %s is %s\n", a.Login, approverState(a))
					return nil
				})
			},
		}
	}
	cmd.AddCommand(add, list, update, key, setEnabled(false), setEnabled(true))
	return cmd
}

// keyLines reads KEY: a file of public keys (one a line; blank and #
// lines skipped), else the argument itself as one public-key line.
func keyLines(arg string) ([]string, error) {
	if fi, err := os.Stat(arg); err == nil && fi.Mode().IsRegular() {
		return readKeyFile(arg)
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	line := strings.TrimSpace(arg)
	if !strings.Contains(line, " ") {
		return nil, fmt.Errorf("KEY %q is neither a file nor a public-key line (like \"ssh-ed25519 AAAA… comment\")", arg)
	}
	return []string{line}, nil
}

// readKeyFile returns the key lines of a public-key (or authorized_keys) file.
func readKeyFile(path string) ([]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		out = append(out, line)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s holds no public key", path)
	}
	return out, nil
}

func approverState(a approvals.Approver) string {
	if a.Disabled() {
		return "disabled " + ts(a.DisabledAt) + " by " + a.DisabledBy
	}
	return "active"
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// keysText lists fingerprints, removed keys marked: the form
// `approver key remove` takes.
func keysText(keys []approvals.SSHKey) string {
	if len(keys) == 0 {
		return "-"
	}
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		if k.Active() {
			parts = append(parts, k.Fingerprint)
		} else {
			parts = append(parts, k.Fingerprint+" (removed "+ts(k.RemovedAt)+")")
		}
	}
	return strings.Join(parts, ", ")
}

func keysJSON(keys []approvals.SSHKey) []map[string]any {
	out := make([]map[string]any, 0, len(keys))
	for _, k := range keys {
		m := map[string]any{"fingerprint": k.Fingerprint, "active": k.Active(), "added_at": ts(k.AddedAt)}
		if !k.Active() {
			m["removed_at"] = ts(k.RemovedAt)
		}
		out = append(out, m)
	}
	return out
}

func approverJSON(a approvals.Approver) map[string]any {
	m := map[string]any{
		"login": a.Login, "name": a.Name, "email": a.Email, "groups": nonNilS(a.Groups), "auditor": a.Auditor,
		"disabled": a.Disabled(), "ssh_keys": keysJSON(a.SSHKeys), "created_at": ts(a.CreatedAt),
	}
	if a.Disabled() {
		m["disabled_at"], m["disabled_by"] = ts(a.DisabledAt), a.DisabledBy
	}
	return m
}
