package main

import (
	"fmt"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// buildVersion describes this binary from its build information: the
// module version (or "devel"), the commit when the build recorded one,
// and the Go version.
func buildVersion() (version, commit, goVersion string) {
	version, commit, goVersion = "devel", "", "unknown"
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return
	}
	goVersion = info.GoVersion
	if v := info.Main.Version; v != "" && v != "(devel)" {
		version = v
	}
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			commit = s.Value
		case "vcs.modified":
			if s.Value == "true" && commit != "" {
				commit += " (modified)"
			}
		}
	}
	return
}

func versionLine() string {
	v, c, g := buildVersion()
	if c == "" {
		c = "unknown (built without VCS information)"
	}
	return fmt.Sprintf("jitdesk %s, commit %s, %s", v, c, g)
}

func newVersionCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version, commit and Go version of this binary",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if g.json {
				v, c, gv := buildVersion()
				return g.printJSON(map[string]any{"version": v, "commit": c, "go": gv})
			}
			fmt.Fprintln(g.out, versionLine())
			return nil
		},
	}
}
