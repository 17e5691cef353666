// Command jitload proves jitdesk's load and scale targets with bounded runs
// on loopback:
//
//	jitload http      intake at several concurrencies beside a bare net/http
//	                  baseline, 1,000 long-poll waiters woken by decisions, and
//	                  a count of what was stored (no request lost or doubled,
//	                  one request.created audit event per row, chain intact)
//	jitload ssh       concurrent SSH console sessions with PTYs receiving live
//	                  updates while requests arrive and are approved; update
//	                  latency per session, bytes per session, server memory
//	jitload console   the console on a (big) database, driven with the same
//	                  messages a terminal sends: first full frame, cursor move,
//	                  page down, filter keystroke, tab switch; the first page
//	                  of each list; the process's memory
//
// Every run is bounded by a count and a time limit, prints a table, and with
// --json prints the same figures as JSON. Figures are for BENCHMARKS.md; the
// smoke test (go test ./cmd/jitload) runs each mode at a small size and
// fails on any lost, doubled or misdelivered result.
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"

	"github.com/spf13/cobra"
)

func main() {
	if err := newRootCmd(os.Stdout).Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "jitload:", err)
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			os.Exit(ee.ExitCode())
		}
		os.Exit(1)
	}
}

// output is where a run prints its table or JSON.
type output struct {
	w    io.Writer
	json bool
}

// print writes the report as JSON or runs its table printer.
func (o output) print(v any, table func(io.Writer)) error {
	if o.json {
		enc := json.NewEncoder(o.w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	table(o.w)
	return nil
}

func newRootCmd(stdout io.Writer) *cobra.Command {
	out := &output{w: stdout}
	root := &cobra.Command{
		Use:           "jitload",
		Short:         "Load and scale proofs for jitdesk (HTTP, SSH, console)",
		SilenceErrors: true,
		SilenceUsage:  true,
	}
	root.PersistentFlags().BoolVar(&out.json, "json", false, "print the report as JSON")
	root.AddCommand(newHTTPCmd(out), newSSHCmd(out), newSSHTargetCmd(), newConsoleCmd(out))
	return root
}
