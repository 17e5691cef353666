package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/charmbracelet/x/term"
	"github.com/spf13/cobra"

	"github.com/jitdesk/jitdesk/approvals"
	"github.com/jitdesk/jitdesk/approvals/signature"
	"github.com/jitdesk/jitdesk/keysign"
)

func newSignatureCmd(g *globals) *cobra.Command {
	cmd := newGroup("signature", "Export the signatures recorded on requests")
	var approver, format, output, sshsigDir string
	var scale int
	export := &cobra.Command{
		Use:   "export REQUEST [--approver LOGIN] (--format svg|png [-o FILE] | --sshsig DIR)",
		Short: "Write a signature made on a request as an SVG or PNG file, or its SSH key signature for ssh-keygen -Y verify",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if sshsigDir != "" {
				if changed(cmd, "format") || output != "" {
					return usagef(cmd, "--sshsig writes the key signature's files into DIR: drop --format and -o")
				}
				return g.exportSSHSig(cmd, args[0], approver, sshsigDir)
			}
			if format != "svg" && format != "png" {
				return usagef(cmd, "--format %q: use svg or png", format)
			}
			if format == "png" && output == "" && term.IsTerminal(os.Stdout.Fd()) {
				return usagef(cmd, "a PNG is not for a terminal: give -o FILE (or redirect stdout)")
			}
			if g.json && output == "" {
				return usagef(cmd, "--json reports the file written: give -o FILE")
			}
			return g.withService(func(ctx context.Context, svc *approvals.Service, _ database) error {
				sigs, err := svc.Signatures(ctx, args[0])
				if err != nil {
					return err
				}
				sig, err := pickSignature(cmd, args[0], sigs, approver)
				if err != nil {
					return err
				}
				var b []byte
				if format == "svg" {
					b = signature.RenderSVG(sig)
				} else if b, err = signature.RenderPNG(sig, scale); err != nil {
					return err
				}
				if output == "" {
					_, err = g.out.Write(b)
					return err
				}
				if err := os.WriteFile(output, b, 0o644); err != nil {
					return err
				}
				if g.json {
					return g.printJSON(map[string]any{"request": args[0], "approver": sig.Approver, "printed_name": sig.PrintedName,
						"kind": sig.Kind, "signed_at": ts(sig.SignedAt), "format": format, "file": output, "bytes": len(b)})
				}
				g.warn("signature of %s (%s) on request %s written to %s\n", sig.Approver, sig.PrintedName, args[0], output)
				return nil
			})
		},
	}
	f := export.Flags()
	f.StringVar(&approver, "approver", "", "whose signature (needed when several approvers signed)")
	f.StringVar(&format, "format", "svg", "svg | png")
	f.StringVarP(&output, "output", "o", "", "file to write (default: stdout)")
	f.IntVar(&scale, "scale", 4, "PNG pixels per canvas dot (1-64)")
	f.StringVar(&sshsigDir, "sshsig", "", "write the decision's SSH key signature into DIR: statement, statement.sig and allowed_signers, for `ssh-keygen -Y verify`")
	cmd.AddCommand(export)
	return cmd
}

// pickSignature chooses the signature of approver, or the only one.
func pickSignature(cmd *cobra.Command, id string, sigs []signature.Signature, approver string) (signature.Signature, error) {
	var who []string
	for _, s := range sigs {
		if approver != "" && s.Approver == approver {
			return s, nil
		}
		who = append(who, s.Approver)
	}
	switch {
	case len(sigs) == 0:
		return signature.Signature{}, fmt.Errorf("request %s carries no signature: %w", id, approvals.ErrNotFound)
	case approver != "":
		return signature.Signature{}, fmt.Errorf("request %s carries no signature of %s (signed by: %s): %w", id, approver, strings.Join(who, ", "), approvals.ErrNotFound)
	case len(sigs) > 1:
		return signature.Signature{}, usagef(cmd, "request %s carries %d signatures: pick one with --approver (%s)", id, len(sigs), strings.Join(who, ", "))
	}
	return sigs[0], nil
}

// exportSSHSig writes one decision's key signature so that stock OpenSSH
// verifies it: the statement, its SSHSIG, and an allowed_signers line for
// the key that signed (checked here first, as audit verify does).
func (g *globals) exportSSHSig(cmd *cobra.Command, id, approver, dir string) error {
	return g.withService(func(ctx context.Context, svc *approvals.Service, _ database) error {
		sigs, err := svc.KeySignatures(ctx, id)
		if err != nil {
			return err
		}
		var picked []approvals.StoredKeySignature
		var who []string
		for _, ks := range sigs {
			who = append(who, ks.Approver)
			if approver == "" || ks.Approver == approver {
				picked = append(picked, ks)
			}
		}
		switch {
		case len(sigs) == 0:
			return fmt.Errorf("request %s carries no SSH key signature (its decisions were not key-signed): %w", id, approvals.ErrNotFound)
		case len(picked) == 0:
			return fmt.Errorf("request %s carries no SSH key signature of %s (key-signed by: %s): %w", id, approver, strings.Join(who, ", "), approvals.ErrNotFound)
		case len(picked) > 1:
			return usagef(cmd, "request %s carries %d SSH key signatures: pick one with --approver (%s)", id, len(picked), strings.Join(who, ", "))
		}
		ks := picked[0]
		pub, err := keysign.Verify(ks.Armored, ks.Statement)
		if err != nil {
			return fmt.Errorf("the stored key signature of %s on %s does not verify: %w", ks.Approver, id, err)
		}
		line, err := keysign.AllowedSignersLine(ks.Approver, pub)
		if err != nil {
			return fmt.Errorf("login %q cannot be an allowed_signers principal: %w", ks.Approver, err)
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		files := []struct {
			name string
			data []byte
		}{{"statement", ks.Statement}, {"statement.sig", ks.Armored}, {"allowed_signers", []byte(line + "\n")}}
		for _, f := range files {
			if err := os.WriteFile(filepath.Join(dir, f.name), f.data, 0o644); err != nil {
				return err
			}
		}
		verify := fmt.Sprintf("ssh-keygen -Y verify -f %s -I %s -n %s -s %s < %s",
			filepath.Join(dir, "allowed_signers"), ks.Approver, keysign.Namespace, filepath.Join(dir, "statement.sig"), filepath.Join(dir, "statement"))
		if g.json {
			return g.printJSON(map[string]any{"request": id, "approver": ks.Approver, "decision": ks.Decision, "fingerprint": ks.Fingerprint,
				"signed_at": ts(ks.SignedAt), "dir": dir, "namespace": keysign.Namespace, "verify": verify})
		}
		g.warn("%s's %s of %s, signed with %s, written to %s; check it with:\n  %s\n", ks.Approver, ks.Decision, id, ks.Fingerprint, dir, verify)
		return nil
	})
}
