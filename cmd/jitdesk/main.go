// Command jitdesk is the just-in-time access approval console and its
// administration CLI. This package is wiring only: each command parses its
// flags, calls approvals.Service (or the ui/server packages) and prints.
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/jitdesk/jitdesk/policy"
	"github.com/jitdesk/jitdesk/ui"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

// run executes one command line and returns the process exit code: 0 on
// success, 1 when the command failed, 2 when it was used wrongly.
func run(args []string) int {
	root, g := newRoot()
	root.SetArgs(args)
	err := root.Execute()
	if err == nil {
		return 0
	}
	// A flag error stops parsing before --json may have been read.
	asJSON := g.json || jsonRequested(args)
	code, msg, hint := 1, err.Error(), ""
	var ue usageError
	var ex exitError
	var pe *policy.Error
	switch {
	case errors.As(err, &pe):
		reportProblems(g.errOut, asJSON, pe)
		return 1
	case errors.As(err, &ue):
		code, hint = 2, "jitdesk"+ue.cmd+" --help"
	case errors.As(err, &ex):
		code, msg = ex.code, ex.msg
	}
	reportError(g.errOut, asJSON, code, sayOnce(msg), hint)
	return code
}

// sayOnce drops a context segment repeated at once ("template "x":
// template "x": not found" reads "template "x": not found"): layers that each add the same context make an error say a thing
// twice. Only the display changes; nothing branches on the text.
func sayOnce(msg string) string {
	parts := strings.Split(msg, ": ")
	out := parts[:0]
	for _, p := range parts {
		if len(out) > 0 && out[len(out)-1] == p {
			continue
		}
		out = append(out, p)
	}
	return strings.Join(out, ": ")
}

// reportError writes a failed command's error to stderr: one inert line
// (errors quote request data, names and titles), or under --json one JSON
// object {"error", "exit_code"[, "help"]}.
func reportError(w io.Writer, asJSON bool, code int, msg, hint string) {
	if asJSON {
		v := map[string]any{"error": msg, "exit_code": code}
		if hint != "" {
			v["help"] = hint
		}
		b, _ := json.Marshal(v)
		w.Write(append(inertJSON(b), '\n'))
		return
	}
	if msg != "" {
		fmt.Fprintf(w, "jitdesk: %s\n", ui.Inert(msg))
	}
	if hint != "" {
		fmt.Fprintf(w, "(see: %s)\n", hint)
	}
}

// reportProblems writes a refused policy file's problems to stderr, each
// on its own inert line as `jitdesk: file:line: object: message — hint`,
// or under --json one object {"error", "exit_code", "problems"}.
func reportProblems(w io.Writer, asJSON bool, pe *policy.Error) {
	if asJSON {
		b, _ := json.Marshal(map[string]any{
			"error":     fmt.Sprintf("the policy has %s", plural(len(pe.Problems), "problem")),
			"exit_code": 1,
			"problems":  pe.Problems,
		})
		w.Write(append(inertJSON(b), '\n'))
		return
	}
	for _, p := range pe.Problems {
		fmt.Fprintf(w, "jitdesk: %s\n", ui.Inert(p.String()))
	}
}

// jsonRequested reports whether --json appears among the flags (before a
// bare --), for errors raised before flags were parsed.
func jsonRequested(args []string) bool {
	for _, a := range args {
		if a == "--" {
			return false
		}
		if a == "--json" || a == "--json=true" || a == "--json=1" {
			return true
		}
	}
	return false
}

// usageError marks a wrong invocation (exit 2).
type usageError struct {
	cmd string
	err error
}

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// exitError carries an explicit exit code (verify uses 1 with a reason).
type exitError struct {
	code int
	msg  string
}

func (e exitError) Error() string { return e.msg }
