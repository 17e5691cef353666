package main

import (
	"io"
	"testing"

	"github.com/spf13/cobra"
)

func TestQuietAndItsDeprecatedNoBellNameBothSilence(t *testing.T) {
	for _, c := range []struct {
		args []string
		want bool
	}{{nil, false}, {[]string{"--quiet"}, true}, {[]string{"--no-bell"}, true}} {
		var quiet bool
		cmd := &cobra.Command{Use: "x", RunE: func(*cobra.Command, []string) error { return nil }}
		cmd.SetOut(io.Discard)
		cmd.SetErr(io.Discard)
		registerQuiet(cmd, &quiet)
		cmd.SetArgs(c.args)
		if err := cmd.Execute(); err != nil {
			t.Fatal(err)
		}
		if quiet != c.want {
			t.Errorf("%v: quiet %v, want %v", c.args, quiet, c.want)
		}
	}
}

func TestDemoTrickleSwitchIsNoTrickleAndQuietMeansSilent(t *testing.T) {
	cmd := newDemoCmd(&globals{})
	if cmd.Flags().Lookup("no-trickle") == nil {
		t.Fatal("demo has no --no-trickle")
	}
	q := cmd.Flags().Lookup("quiet")
	if q == nil || q.Usage != "no bell and no desktop notification when a request starts needing you" {
		t.Fatalf("demo --quiet: %+v", q)
	}
}
