package main

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/jitdesk/jitdesk/serveconfig"
)

var updateExample = flag.Bool("update-example", false, "rewrite dist/jitdesk.toml.example from serve's flags")

// exampleHeader opens dist/jitdesk.toml.example, above what Print writes.
const exampleHeader = `# jitdesk serve settings: copy to /etc/jitdesk/jitdesk.toml, which the
# systemd unit beside this file reads (jitdesk serve --config FILE).
#
# Generated from serve's flags; after changing a flag run
#   go test ./cmd/jitdesk -run TestConfigExample -update-example
#
# Keys are the flags' names (snake_case also works). Under the systemd unit
# the database, its master key file and the SSH host key are kept in
# /var/lib/jitdesk (the unit sets XDG_DATA_HOME=/var/lib); set db to a
# postgres:// URL to use PostgreSQL instead.
#
`

// TestConfigExampleIsServesSettings proves the example config in dist/
// documents exactly serve's settings, with their defaults and help.
func TestConfigExampleIsServesSettings(t *testing.T) {
	root, _ := newRoot()
	serve, _, err := root.Find([]string{"serve"})
	if err != nil {
		t.Fatal(err)
	}
	if err := serve.ParseFlags(nil); err != nil { // merges the inherited flags in
		t.Fatal(err)
	}
	serveSettings(serve.Flags())
	settings, err := serveconfig.Apply(serve.Flags(), "", func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	got.WriteString(exampleHeader)
	if err := serveconfig.Print(&got, settings, "toml"); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("..", "..", "dist", "jitdesk.toml.example")
	if *updateExample {
		if err := os.WriteFile(path, got.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), want) {
		t.Errorf("%s is not serve's settings; run go test ./cmd/jitdesk -run TestConfigExample -update-example\ngot:\n%s", path, got.String())
	}
}
