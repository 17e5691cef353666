package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
)

// newManCmd writes man pages for every command, generated from the same
// command definitions --help shows, so they cannot drift from the binary.
func newManCmd(root *cobra.Command) *cobra.Command {
	return &cobra.Command{
		Use:   "man DIR",
		Short: "Write man pages for every command into DIR (section 1)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := os.MkdirAll(args[0], 0o755); err != nil {
				return err
			}
			version, _, _ := buildVersion()
			header := &doc.GenManHeader{Title: "JITDESK", Section: "1", Source: "jitdesk " + version, Manual: "jitdesk manual"}
			root.DisableAutoGenTag = true // reproducible pages: no generation date
			if err := doc.GenManTree(root, header, args[0]); err != nil {
				return fmt.Errorf("man pages: %w", err)
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "man pages written to %s (try: man -l %s/jitdesk.1)\n", args[0], args[0])
			return nil
		},
	}
}
