package main

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/charmbracelet/x/term"
	"github.com/spf13/cobra"

	"github.com/jitdesk/jitdesk/approvals"
	"github.com/jitdesk/jitdesk/approvals/signature"
)

func newSignatureCmd(g *globals) *cobra.Command {
	cmd := newGroup("signature", "Export the signatures recorded on requests")
	var approver, format, output string
	var scale int
	export := &cobra.Command{
		Use:   "export REQUEST [--approver LOGIN] --format svg|png [-o FILE]",
		Short: "Write a signature made on a request as an SVG or PNG file (or to stdout)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
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
