package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"strconv"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"

	"github.com/jitdesk/jitdesk/approvals"
	"github.com/jitdesk/jitdesk/policy"
)

// Administration as code: apply a policy file, export the current state
// as one. The policy package does the work; these commands read the file
// and print.

// stdinName is the file name messages use for a policy read from stdin.
const stdinName = "<stdin>"

func newApplyCmd(g *globals) *cobra.Command {
	var file string
	var dry, prune bool
	cmd := &cobra.Command{
		Use:   "apply -f FILE [--dry-run] [--prune]",
		Short: "Make the applications, approvers, rotations, templates and webhooks match a policy file",
		Long: `Reads a policy file (YAML, or JSON; -f - reads stdin), shows the plan — what
it creates, updates and disables, field by field — and makes it in one audited
transaction: any refusal changes nothing. --dry-run shows the plan and writes
nothing. Objects the file leaves out are left alone, unless --prune: then they
are disabled (webhooks and rotations removed); nothing is ever deleted.

Secrets are never part of a policy: the intake secrets of new applications and
the signing secrets of new webhooks are printed once, after the plan.
Every problem in the file is listed as file:line: what is wrong — what to write.
"jitdesk export" writes the current state in the same format.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if file == "" {
				return usagef(cmd, "give the policy file: -f FILE (-f - reads stdin)")
			}
			name, data, err := readPolicy(cmd.InOrStdin(), file)
			if err != nil {
				return err
			}
			// The file is checked before the database is opened: its
			// mistakes need no database to be reported.
			doc, err := policy.Parse(name, data)
			if err != nil {
				return err
			}
			return g.withService(func(ctx context.Context, svc *approvals.Service, _ database) error {
				res, err := policy.Apply(ctx, svc, doc, policy.Options{Actor: operator(), DryRun: dry, Prune: prune})
				if err != nil {
					return err
				}
				if g.json {
					return g.printJSON(res)
				}
				return g.printApplied(res)
			})
		},
	}
	f := cmd.Flags()
	f.StringVarP(&file, "file", "f", "", "the policy `FILE` (- reads stdin)")
	f.BoolVar(&dry, "dry-run", false, "show the plan and write nothing")
	f.BoolVar(&prune, "prune", false, "disable what the file leaves out (remove webhooks and rotations)")
	return cmd
}

// readPolicy reads the policy file (or stdin for "-") up to one byte past
// what Parse accepts, so an oversized input is reported by Parse rather
// than read whole.
func readPolicy(stdin io.Reader, file string) (name string, data []byte, err error) {
	name, r := file, stdin
	if file == "-" {
		name = stdinName
	} else {
		f, err := os.Open(file)
		if err != nil {
			return "", nil, fmt.Errorf("policy file: %w", err)
		}
		defer f.Close()
		r = f
	}
	data, err = io.ReadAll(io.LimitReader(r, policy.MaxFileSize+1))
	if err != nil {
		return "", nil, fmt.Errorf("read policy %s: %w", name, err)
	}
	return name, data, nil
}

// printApplied writes the plan (already inert: Render quotes every value),
// the new secrets once, and what was done.
func (g *globals) printApplied(res policy.Result) error {
	if err := res.Plan.Render(g.out); err != nil {
		return err
	}
	if len(res.Secrets) > 0 {
		g.say("\nNew secrets, shown this once (jitdesk keeps them sealed and cannot show them again): store them now.\n")
		for _, s := range res.Secrets {
			g.say("  %s %s (%s): %s\n", s.Kind, strconv.Quote(s.Key), s.ID, s.Value)
		}
	}
	switch {
	case res.DryRun:
		g.say("\nDry run: nothing was written (run without --dry-run to apply the plan).\n")
	case !res.Plan.Empty():
		g.say("\nApplied.\n")
	}
	return nil
}

func newExportCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "export [--json]",
		Short: "Write the current applications, approvers, rotations, templates and webhooks as a policy file",
		Long: `Writes the current state as a policy file (YAML; --json writes the same
document as JSON, which apply reads too), without any secret: applying it
changes nothing ("jitdesk export > policy.yaml", edit, "jitdesk apply -f policy.yaml").`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return g.withService(func(ctx context.Context, svc *approvals.Service, _ database) error {
				d, err := policy.Export(ctx, svc)
				if err != nil {
					return err
				}
				var buf bytes.Buffer
				if err := d.Encode(&buf); err != nil {
					return err
				}
				if g.json {
					// The document's own YAML, read back generically, gives
					// JSON with the same keys, which Parse reads.
					var v any
					if err := yaml.Unmarshal(buf.Bytes(), &v); err != nil {
						return fmt.Errorf("export policy as JSON: %w", err)
					}
					return g.printJSON(v)
				}
				out, err := inertYAML(buf.Bytes())
				if err != nil {
					return err
				}
				_, err = g.out.Write(out)
				return err
			})
		},
	}
}

// inertYAML rewrites YAML so that it shows none of the characters a
// terminal could act on or hide text with (bidi overrides, zero-width
// characters) raw, and still means the same. The YAML emitter escapes C0
// and C1 controls itself but writes those as they are; every scalar
// holding one is put in double quotes, where YAML reads \uXXXX, and each
// is written as that escape.
func inertYAML(b []byte) ([]byte, error) {
	if bytes.Equal(inertJSON(b), b) {
		return b, nil
	}
	var root yaml.Node
	if err := yaml.Unmarshal(b, &root); err != nil {
		return nil, fmt.Errorf("export policy: %w", err)
	}
	var quote func(n *yaml.Node)
	quote = func(n *yaml.Node) {
		if n.Kind == yaml.ScalarNode && !bytes.Equal(inertJSON([]byte(n.Value)), []byte(n.Value)) {
			n.Style = yaml.DoubleQuotedStyle
		}
		for _, c := range n.Content {
			quote(c)
		}
	}
	quote(&root)
	var out bytes.Buffer
	enc := yaml.NewEncoder(&out)
	enc.SetIndent(2)
	if err := enc.Encode(&root); err != nil {
		return nil, fmt.Errorf("export policy: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("export policy: %w", err)
	}
	return inertJSON(out.Bytes()), nil
}
