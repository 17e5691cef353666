// Command jitdesk is the just-in-time access approval console and its
// administration CLI. This package is wiring only: each command parses its
// flags, calls approvals.Service (or the ui/server packages) and prints.
package main

import (
	"errors"
	"fmt"
	"os"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

// run executes one command line and returns the process exit code: 0 on
// success, 1 when the command failed, 2 when it was used wrongly.
func run(args []string) int {
	root := newRootCmd()
	root.SetArgs(args)
	err := root.Execute()
	if err == nil {
		return 0
	}
	var ue usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(os.Stderr, "jitdesk: %v\n(see: jitdesk %s --help)\n", err, ue.cmd)
		return 2
	}
	var ex exitError
	if errors.As(err, &ex) {
		if ex.msg != "" {
			fmt.Fprintf(os.Stderr, "jitdesk: %s\n", ex.msg)
		}
		return ex.code
	}
	fmt.Fprintf(os.Stderr, "jitdesk: %v\n", err)
	return 1
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
