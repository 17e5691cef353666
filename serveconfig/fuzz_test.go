package serveconfig

import (
	"bytes"
	"slices"
	"testing"
)

// FuzzApplyFile feeds arbitrary bytes to Apply as a TOML or a YAML file: it
// must never panic, and a file it accepts must print to one it reads back
// to the same values.
func FuzzApplyFile(f *testing.F) {
	for _, seed := range []string{
		"http = \"a\"\nquiet = true\nlong-polls = 3\nidle-timeout = \"1m\"\ntrusted-proxy = [\"10.0.0.0/8\"]\n",
		"[t]\nx = 1\n", "a.b = 1\n", "ssh_addr = \"x\"\nssh-addr = \"y\"\n", "ratio = inf\nports = [1, 2]\n",
		"http = \"\\u0000\\u202e\"\nheader = [\"a,b\", \"\"]\n", "x = 1979-05-27T07:32:00Z\n",
	} {
		f.Add([]byte(seed), false)
	}
	for _, seed := range []string{
		"http: a\nquiet: true\nlong-polls: 3\nidle-timeout: 1m\ntrusted-proxy: [10.0.0.0/8]\n",
		"a: &x [1]\nports: *x\n", "http: {a: b}\n", "? [a]\n: b\n", "---\n---\n", "ratio: .nan\nport-offset: 0x10\n",
		"http: !!binary aGVsbG8=\n", "<<: {http: a}\n",
	} {
		f.Add([]byte(seed), true)
	}
	f.Fuzz(func(t *testing.T, data []byte, isYAML bool) {
		name := "fuzz.toml"
		format := "toml"
		if isYAML {
			name, format = "fuzz.yaml", "yaml"
		}
		settings, err := apply(testFlags(t), name, data, noEnv)
		if err != nil {
			return
		}
		var out bytes.Buffer
		if err := Print(&out, settings, format); err != nil {
			t.Fatal(err)
		}
		again, err := apply(testFlags(t), name, out.Bytes(), noEnv)
		if err != nil {
			t.Fatalf("printed file not read back: %v\n%s", err, out.String())
		}
		for i, s := range settings {
			if again[i].Value != s.Value || !slices.Equal(again[i].List, s.List) {
				t.Fatalf("%s: read back %q %q, printed %q %q\n%s", s.Name, again[i].Value, again[i].List, s.Value, s.List, out.String())
			}
		}
	})
}
