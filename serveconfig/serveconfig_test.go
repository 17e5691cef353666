package serveconfig

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

// testFlags is a flag set shaped like serve's: every kind of flag Apply
// handles, a deprecated alias sharing a variable, a secret and a skipped
// --config.
func testFlags(t testing.TB) *pflag.FlagSet {
	t.Helper()
	fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	fs.SetOutput(&bytes.Buffer{})
	fs.String("http", "127.0.0.1:8080", "HTTP listen address (empty: no HTTP)")
	fs.String("ssh-addr", "127.0.0.1:2222", "SSH listen address (empty: no SSH)")
	fs.String("db", "", "the database `PATH`")
	fs.Duration("idle-timeout", 15*time.Minute, "end idle SSH sessions after this long")
	var quiet bool
	fs.BoolVar(&quiet, "quiet", false, "no bell")
	fs.BoolVar(&quiet, "no-bell", false, "same as --quiet")
	_ = fs.MarkDeprecated("no-bell", "use --quiet")
	fs.Int("long-polls", 100, "most parked long-polls")
	fs.Uint("port-offset", 0, "an unsigned number")
	fs.Float64("ratio", 0.5, "a fraction")
	fs.StringSlice("trusted-proxy", nil, "trusted proxy `CIDR`s")
	fs.StringArray("header", []string{"X-A: 1"}, "extra response headers")
	fs.IntSlice("ports", nil, "some ports")
	fs.String("master-key", "", "the master key itself")
	fs.String("config", "", "the config file")
	fs.Bool("help", false, "help")
	MarkSecret(fs, "master-key")
	Skip(fs, "config")
	return fs
}

// noEnv is an environment with nothing set.
func noEnv(string) string { return "" }

func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func find(t *testing.T, settings []Setting, name string) Setting {
	t.Helper()
	for _, s := range settings {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("no setting %q in %v", name, settings)
	return Setting{}
}

func TestPrecedenceIsFlagThenEnvThenFileThenDefault(t *testing.T) {
	for _, format := range []string{"toml", "yaml"} {
		for mask := 0; mask < 8; mask++ {
			flag, env, file := mask&4 != 0, mask&2 != 0, mask&1 != 0
			name := format
			var args []string
			environ := map[string]string{}
			content := ""
			want, wantSrc, wantOrigin := "127.0.0.1:8080", SourceDefault, "default"
			if file {
				name += "/file"
				if format == "toml" {
					content = "# a comment\nhttp = \"file:1\"\n"
				} else {
					content = "# a comment\nhttp: file:1\n"
				}
				want, wantSrc = "file:1", SourceFile
			}
			if env {
				name += "/env"
				environ["JITDESK_HTTP"] = "env:1"
				want, wantSrc, wantOrigin = "env:1", SourceEnv, "env JITDESK_HTTP"
			}
			if flag {
				name += "/flag"
				args = []string{"--http", "flag:1"}
				want, wantSrc, wantOrigin = "flag:1", SourceFlag, "flag --http"
			}
			t.Run(name, func(t *testing.T) {
				fs := testFlags(t)
				if err := fs.Parse(args); err != nil {
					t.Fatal(err)
				}
				path := writeFile(t, "jitdesk."+format, content)
				if wantSrc == SourceFile {
					wantOrigin = "file " + path + ":2"
				}
				settings, err := Apply(fs, path, envOf(environ))
				if err != nil {
					t.Fatal(err)
				}
				got, _ := fs.GetString("http")
				s := find(t, settings, "http")
				if got != want || s.Value != want || s.Source != wantSrc || s.Origin != wantOrigin {
					t.Errorf("http = %q, setting %+v; want %q from %s (%s)", got, s, want, wantSrc, wantOrigin)
				}
			})
		}
	}
}

func TestApplySetsEveryKindOfFlagFromAFile(t *testing.T) {
	toml := `http = ""
ssh_addr = "0.0.0.0:22"
idle-timeout = "30s"
quiet = true
long-polls = 7
port-offset = 3
ratio = 2
trusted-proxy = ["10.0.0.0/8", "a,b"]
header = []
ports = [1, 2]
`
	yaml := `http: ""
ssh_addr: 0.0.0.0:22
idle-timeout: 30s
quiet: true
long-polls: 7
port-offset: 3
ratio: 2
trusted-proxy: [10.0.0.0/8, "a,b"]
header: []
ports:
  - 1
  - 2
`
	for name, content := range map[string]string{"jitdesk.toml": toml, "jitdesk.yaml": yaml} {
		t.Run(name, func(t *testing.T) {
			fs := testFlags(t)
			if _, err := Apply(fs, writeFile(t, name, content), noEnv); err != nil {
				t.Fatal(err)
			}
			check := func(flag, want string) {
				t.Helper()
				if got := fs.Lookup(flag).Value.String(); got != want {
					t.Errorf("--%s = %q, want %q", flag, got, want)
				}
			}
			check("http", "")
			check("ssh-addr", "0.0.0.0:22")
			check("idle-timeout", "30s")
			check("quiet", "true")
			check("long-polls", "7")
			check("port-offset", "3")
			check("ratio", "2")
			check("ports", "[1,2]")
			// An element with a comma stays one element: a file's list is
			// not split as --trusted-proxy a,b would be.
			if got, _ := fs.GetStringSlice("trusted-proxy"); !slices.Equal(got, []string{"10.0.0.0/8", "a,b"}) {
				t.Errorf("trusted-proxy = %q", got)
			}
			if got, _ := fs.GetStringArray("header"); len(got) != 0 {
				t.Errorf("header = %q, want the file's empty list to replace the default", got)
			}
			if !fs.Changed("trusted-proxy") || !fs.Changed("http") {
				t.Error("flags set from the file should report Changed, as Set makes them")
			}
		})
	}
}

func TestEnvironmentSetsListsAsTheCommandLineWould(t *testing.T) {
	fs := testFlags(t)
	settings, err := Apply(fs, "", envOf(map[string]string{
		"JITDESK_TRUSTED_PROXY": "10.0.0.0/8,192.168.0.0/16",
		"JITDESK_HEADER":        "X-B: 1,2",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if s := find(t, settings, "trusted-proxy"); !slices.Equal(s.List, []string{"10.0.0.0/8", "192.168.0.0/16"}) {
		t.Errorf("trusted-proxy list = %q", s.List)
	}
	if s := find(t, settings, "header"); !slices.Equal(s.List, []string{"X-B: 1,2"}) {
		t.Errorf("header (a StringArray: one element per value) = %q", s.List)
	}
	if s := find(t, settings, "ports"); s.List == nil || len(s.List) != 0 {
		t.Errorf("an empty list flag should have an empty, non-nil List: %#v", s.List)
	}
	if s := find(t, settings, "http"); s.List != nil {
		t.Errorf("a scalar flag should have no List: %#v", s.List)
	}
}

func TestEmptyEnvironmentVariableCountsAsUnset(t *testing.T) {
	fs := testFlags(t)
	settings, err := Apply(fs, writeFile(t, "c.toml", `http = "file:1"`), envOf(map[string]string{"JITDESK_HTTP": ""}))
	if err != nil {
		t.Fatal(err)
	}
	if s := find(t, settings, "http"); s.Source != SourceFile || s.Value != "file:1" {
		t.Errorf("http = %+v, want the file's value", s)
	}
}

func TestUnknownKeyNamesFileLineAndSuggestion(t *testing.T) {
	cases := map[string]string{
		"jitdesk.toml": "# jitdesk\n\nhttp = \"x\"\n\n\n\nssh-adr = \"127.0.0.1:2222\"\n",
		"jitdesk.yaml": "# jitdesk\n\nhttp: x\n\n\n\nssh-adr: 127.0.0.1:2222\n",
	}
	for name, content := range cases {
		t.Run(name, func(t *testing.T) {
			path := writeFile(t, name, content)
			_, err := Apply(testFlags(t), path, noEnv)
			var fe *FileError
			if !errors.As(err, &fe) || !errors.Is(err, ErrUnknownSetting) {
				t.Fatalf("err = %v, want an unknown-setting FileError", err)
			}
			if fe.Line != 7 || fe.Key != "ssh-adr" || fe.Suggestion != "ssh-addr" {
				t.Errorf("error = %+v, want line 7, key ssh-adr, suggestion ssh-addr", fe)
			}
			want := path + `:7: unknown setting "ssh-adr" (did you mean "ssh-addr"?)`
			if err.Error() != want {
				t.Errorf("message\n %s\nwant\n %s", err, want)
			}
		})
	}
}

func TestUnknownKeyFarFromEverySettingHasNoSuggestion(t *testing.T) {
	_, err := Apply(testFlags(t), writeFile(t, "c.toml", "frobnicate-widgets = 1\n"), noEnv)
	var fe *FileError
	if !errors.As(err, &fe) || fe.Suggestion != "" || strings.Contains(err.Error(), "did you mean") {
		t.Fatalf("err = %v (%+v), want no suggestion", err, fe)
	}
}

func TestEveryUnknownKeyIsReported(t *testing.T) {
	_, err := Apply(testFlags(t), writeFile(t, "c.toml", "htp = \"a\"\nqiet = true\n"), noEnv)
	for _, want := range []string{`:1: unknown setting "htp" (did you mean "http"?)`, `:2: unknown setting "qiet" (did you mean "quiet"?)`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("err = %v, want it to contain %s", err, want)
		}
	}
}

func TestSkippedDeprecatedAndHelpFlagsAreNotSettings(t *testing.T) {
	settings, err := Apply(testFlags(t), "", envOf(map[string]string{"JITDESK_CONFIG": "x.toml", "JITDESK_NO_BELL": "true"}))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range settings {
		if s.Name == "config" || s.Name == "no-bell" || s.Name == "help" {
			t.Errorf("setting %q should not be listed", s.Name)
		}
	}
	for _, content := range []string{`config = "other.toml"`, `no-bell = true`, `help = true`} {
		_, err := Apply(testFlags(t), writeFile(t, "c.toml", content), noEnv)
		if !errors.Is(err, ErrUnknownSetting) {
			t.Errorf("%s: err = %v, want unknown setting", content, err)
		}
	}
}

func TestSettingsAreSortedByName(t *testing.T) {
	settings, err := Apply(testFlags(t), "", noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.IsSortedFunc(settings, func(a, b Setting) int { return strings.Compare(a.Name, b.Name) }) {
		t.Errorf("not sorted: %v", settings)
	}
	if len(settings) != 12 {
		t.Errorf("got %d settings, want the 12 configurable flags", len(settings))
	}
}

func TestWrongTypeNamesTheLine(t *testing.T) {
	cases := []struct {
		name, content, want string
	}{
		{"bool.toml", "http = \"a\"\nquiet = \"yes\"\n", `:2: setting "quiet" wants true or false, not a string`},
		{"bool.yaml", "http: a\nquiet: yes\n", `:2: setting "quiet" wants true or false, not a string`},
		{"int.toml", "\n\nlong-polls = \"abc\"\n", `:3: setting "long-polls" wants an integer, not a string`},
		{"int.yaml", "\n\nlong-polls: abc\n", `:3: setting "long-polls" wants an integer, not a string`},
		{"intfloat.toml", "long-polls = 1.5\n", `:1: setting "long-polls" wants an integer, not a number with a fraction`},
		{"duration.toml", "idle-timeout = 30\n", `:1: setting "idle-timeout" wants a duration string such as "30s", not an integer`},
		{"string.yaml", "http: 8080\n", `:1: setting "http" wants a string, not an integer`},
		{"null.yaml", "http:\n", `:1: setting "http" wants a string, not an empty value (write "" for an empty string)`},
		{"date.toml", "http = 1979-05-27\n", `:1: setting "http" wants a string, not a date or time (write durations as strings such as "30s")`},
		{"scalar-for-list.toml", "trusted-proxy = \"10.0.0.0/8\"\n", `:1: setting "trusted-proxy" wants a list of strings, not a string`},
		{"list-for-scalar.yaml", "http: [a]\n", `:1: setting "http" wants a string, not a list`},
		{"element.toml", "\nports = [1, \"2\"]\n", `:2: setting "ports": element 2 wants an integer, not a string`},
		{"nested-element.yaml", "trusted-proxy:\n  - [a]\n", `:1: setting "trusted-proxy": element 1 wants a string, not a list`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Apply(testFlags(t), writeFile(t, c.name, c.content), noEnv)
			if !errors.Is(err, ErrWrongType) || !strings.HasSuffix(err.Error(), c.want) {
				t.Errorf("err = %v, want ErrWrongType ending %s", err, c.want)
			}
		})
	}
}

func TestFileEntryOverriddenByAFlagIsStillChecked(t *testing.T) {
	fs := testFlags(t)
	if err := fs.Parse([]string{"--quiet"}); err != nil {
		t.Fatal(err)
	}
	_, err := Apply(fs, writeFile(t, "c.toml", `quiet = "yes"`), noEnv)
	if !errors.Is(err, ErrWrongType) {
		t.Errorf("err = %v, want the file's wrong type reported though --quiet wins", err)
	}
}

func TestValueTheFlagRefusesNamesTheLine(t *testing.T) {
	for name, content := range map[string]string{
		"c.toml": "\nidle-timeout = \"soon\"\n",
		"c.yaml": "\nidle-timeout: soon\n",
	} {
		_, err := Apply(testFlags(t), writeFile(t, name, content), noEnv)
		var fe *FileError
		if !errors.As(err, &fe) || !errors.Is(err, ErrInvalidValue) || fe.Line != 2 || !strings.Contains(err.Error(), `"soon"`) {
			t.Errorf("%s: err = %v, want ErrInvalidValue at line 2 quoting the value", name, err)
		}
	}
}

func TestNestedSettingsAreRefusedWithTheLine(t *testing.T) {
	cases := []struct{ name, content string }{
		{"table.toml", "http = \"a\"\n\n[ssh]\naddr = \"b\"\n"},
		{"array-table.toml", "http = \"a\"\n\n[[ssh]]\naddr = \"b\"\n"},
		{"dotted.toml", "http = \"a\"\n\nssh.addr = \"b\"\n"},
		{"inline.toml", "http = \"a\"\n\nssh-addr = { host = \"b\" }\n"},
		{"map.yaml", "http: a\n\nssh-addr:\n  host: b\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Apply(testFlags(t), writeFile(t, c.name, c.content), noEnv)
			var fe *FileError
			if !errors.As(err, &fe) || fe.Line != 3 {
				t.Fatalf("err = %v, want a FileError at line 3", err)
			}
			if !errors.Is(err, ErrNested) && !errors.Is(err, ErrWrongType) {
				t.Errorf("err = %v, want ErrNested or ErrWrongType", err)
			}
		})
	}
}

func TestTwoSpellingsOfOneSettingAreAnError(t *testing.T) {
	cases := []struct{ name, content, want string }{
		{"c.toml", "ssh-addr = \"a\"\nhttp = \"b\"\nssh_addr = \"c\"\n", `:3: "ssh_addr" and "ssh-addr" (line 1) are the same setting: keep one`},
		{"c.yaml", "ssh_addr: a\nhttp: b\nssh-addr: c\n", `:3: "ssh-addr" and "ssh_addr" (line 1) are the same setting: keep one`},
		{"twice.yaml", "http: a\nhttp: b\n", `:2: setting "http" given twice (first on line 1)`},
	}
	for _, c := range cases {
		_, err := Apply(testFlags(t), writeFile(t, c.name, c.content), noEnv)
		if !errors.Is(err, ErrDuplicate) || !strings.HasSuffix(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want ErrDuplicate ending %s", c.name, err, c.want)
		}
	}
	// TOML itself forbids the same key twice: its decoder says so, at the line.
	_, err := Apply(testFlags(t), writeFile(t, "twice.toml", "http = \"a\"\nhttp = \"b\"\n"), noEnv)
	var fe *FileError
	if !errors.As(err, &fe) || !errors.Is(err, ErrSyntax) || fe.Line != 2 {
		t.Errorf("twice.toml: err = %v, want a syntax error at line 2", err)
	}
}

func TestSyntaxErrorsNameTheFile(t *testing.T) {
	path := writeFile(t, "c.toml", "http = \"a\"\nssh-addr = \n")
	_, err := Apply(testFlags(t), path, noEnv)
	var fe *FileError
	if !errors.As(err, &fe) || !errors.Is(err, ErrSyntax) || fe.Line != 2 || !strings.HasPrefix(err.Error(), path+":2: ") {
		t.Errorf("err = %v, want a syntax error at %s:2", err, path)
	}
	_, err = Apply(testFlags(t), writeFile(t, "c.yaml", "http: [a\n"), noEnv)
	if !errors.Is(err, ErrSyntax) {
		t.Errorf("yaml: err = %v, want ErrSyntax", err)
	}
	_, err = Apply(testFlags(t), writeFile(t, "two.yaml", "http: a\n---\nhttp: b\n"), noEnv)
	if !errors.As(err, &fe) || !errors.Is(err, ErrSyntax) || fe.Line != 2 {
		t.Errorf("two documents: err = %v, want ErrSyntax at line 2 (the ---)", err)
	}
	_, err = Apply(testFlags(t), writeFile(t, "list.yaml", "- http\n"), noEnv)
	if !errors.Is(err, ErrSyntax) {
		t.Errorf("a list as the document: err = %v, want ErrSyntax", err)
	}
}

func TestEmptyFilesSetNothing(t *testing.T) {
	for _, name := range []string{"c.toml", "c.yaml", "comments.yaml"} {
		content := ""
		if name == "comments.yaml" {
			content = "# nothing here\n"
		}
		settings, err := Apply(testFlags(t), writeFile(t, name, content), noEnv)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if s := find(t, settings, "http"); s.Source != SourceDefault {
			t.Errorf("%s: http from %s", name, s.Source)
		}
	}
}

func TestUnsupportedExtensionSaysWhichAreSupported(t *testing.T) {
	_, err := Apply(testFlags(t), writeFile(t, "jitdesk.json", "{}"), noEnv)
	if !errors.Is(err, ErrUnsupportedFormat) || !strings.Contains(err.Error(), ".toml, .yaml or .yml") {
		t.Errorf("err = %v", err)
	}
}

func TestMissingFileIsAnError(t *testing.T) {
	_, err := Apply(testFlags(t), filepath.Join(t.TempDir(), "none.toml"), noEnv)
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("err = %v, want not-exist", err)
	}
}

func TestEnvValueTheFlagRefusesNamesTheVariable(t *testing.T) {
	_, err := Apply(testFlags(t), "", envOf(map[string]string{"JITDESK_LONG_POLLS": "abc", "JITDESK_HTTP": "fine:1"}))
	var ee *EnvError
	if !errors.As(err, &ee) || ee.Var != "JITDESK_LONG_POLLS" || ee.Flag != "long-polls" || !errors.Is(err, ErrInvalidValue) {
		t.Fatalf("err = %v, want an EnvError for JITDESK_LONG_POLLS", err)
	}
	if !strings.Contains(err.Error(), "JITDESK_LONG_POLLS") {
		t.Errorf("message %q does not name the variable", err)
	}
}

func TestEnvVariableMatchingNoFlagIsIgnored(t *testing.T) {
	if _, err := Apply(testFlags(t), "", envOf(map[string]string{"JITDESK_TEST_POSTGRES": "postgres://x"})); err != nil {
		t.Fatal(err)
	}
}

func TestNoEnvFlagIgnoresItsVariable(t *testing.T) {
	fs := testFlags(t)
	NoEnv(fs, "master-key")
	settings, err := Apply(fs, "", envOf(map[string]string{"JITDESK_MASTER_KEY": "means-something-else"}))
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := fs.GetString("master-key"); got != "" || find(t, settings, "master-key").Source != SourceDefault {
		t.Errorf("--master-key = %q, want the variable ignored", got)
	}
}

func TestSecretNeverLeavesTheFlag(t *testing.T) {
	const secret = "s3cr3t-master-key-value"
	fs := testFlags(t)
	settings, err := Apply(fs, "", envOf(map[string]string{"JITDESK_MASTER_KEY": secret}))
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := fs.GetString("master-key"); got != secret {
		t.Fatalf("the flag should hold the secret, has %q", got)
	}
	s := find(t, settings, "master-key")
	if !s.Secret || s.Value != "" || s.List != nil || s.Origin != "env JITDESK_MASTER_KEY" {
		t.Errorf("secret setting = %+v, want marked, empty, with its origin", s)
	}
	for _, format := range []string{"toml", "yaml"} {
		var out bytes.Buffer
		if err := Print(&out, settings, format); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(out.String(), secret) {
			t.Errorf("%s output shows the secret:\n%s", format, out.String())
		}
		if !strings.Contains(out.String(), `# master-key`+map[string]string{"toml": " = ", "yaml": ": "}[format]+`"<redacted>"  # secret, env JITDESK_MASTER_KEY`) {
			t.Errorf("%s output does not show the secret redacted with its origin:\n%s", format, out.String())
		}
	}
}

func TestSecretRefusedValueIsNotInTheError(t *testing.T) {
	const secret = "not-a-number-but-secret"
	fs := pflag.NewFlagSet("x", pflag.ContinueOnError)
	fs.Int("pin", 0, "a secret number")
	MarkSecret(fs, "pin")
	_, err := Apply(fs, "", envOf(map[string]string{"JITDESK_PIN": secret}))
	if err == nil || strings.Contains(err.Error(), secret) {
		t.Errorf("env: err = %v, want an error without the value", err)
	}
	fs = pflag.NewFlagSet("x", pflag.ContinueOnError)
	fs.Duration("pin", 0, "a secret duration")
	MarkSecret(fs, "pin")
	_, err = Apply(fs, writeFile(t, "c.toml", `pin = "`+secret+`"`), noEnv)
	if !errors.Is(err, ErrInvalidValue) || strings.Contains(err.Error(), secret) {
		t.Errorf("file: err = %v, want an error without the value", err)
	}
}

func TestMarkingAFlagThatDoesNotExistPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("MarkSecret of a missing flag should panic: an unmarked secret would be printed")
		}
	}()
	MarkSecret(testFlags(t), "no-such-flag")
}

func TestPrintNamesEachSettingsVariable(t *testing.T) {
	fs := testFlags(t)
	NoEnv(fs, "master-key")
	settings, err := Apply(fs, "", noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if s := find(t, settings, "master-key"); s.Env != "" {
		t.Errorf("a NoEnv setting has Env %q", s.Env)
	}
	if s := find(t, settings, "ssh-addr"); s.Env != "JITDESK_SSH_ADDR" {
		t.Errorf("ssh-addr has Env %q", s.Env)
	}
	var out bytes.Buffer
	if err := Print(&out, settings, "toml"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "# environment: JITDESK_SSH_ADDR\n") || strings.Contains(out.String(), "JITDESK_MASTER_KEY") {
		t.Errorf("output should name ssh-addr's variable and not master-key's:\n%s", out.String())
	}
}

func TestEnvName(t *testing.T) {
	for flag, want := range map[string]string{"ssh-addr": "JITDESK_SSH_ADDR", "db": "JITDESK_DB", "master-key-file": "JITDESK_MASTER_KEY_FILE"} {
		if got := EnvName(flag); got != want {
			t.Errorf("EnvName(%q) = %q, want %q", flag, got, want)
		}
	}
}

func TestPrintReadsBackToTheSameValues(t *testing.T) {
	tricky := "a \"quoted\" \\ back\tslash\nnew line \u202e bidi \u200b zw é 🔑 \x01"
	for _, format := range []string{"toml", "yaml"} {
		t.Run(format, func(t *testing.T) {
			fs := testFlags(t)
			if err := fs.Parse([]string{"--http", tricky, "--trusted-proxy", "10.0.0.0/8,::1/128"}); err != nil {
				t.Fatal(err)
			}
			env := envOf(map[string]string{"JITDESK_QUIET": "true", "JITDESK_LONG_POLLS": "-3", "JITDESK_RATIO": "1e-9"})
			file := writeFile(t, "in.toml", "idle-timeout = \"90s\"\nheader = [\"X-A: 1\", \"X-\\\"B\\\": 2\"]\nports = [80, 443]\nport-offset = 4294967295\n")
			settings, err := Apply(fs, file, env)
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			if err := Print(&out, settings, format); err != nil {
				t.Fatal(err)
			}
			for _, r := range out.String() {
				if r == '\u202e' || r == '\u200b' || r == '\x01' {
					t.Fatalf("output carries the raw control %U:\n%s", r, out.String())
				}
			}
			back := testFlags(t)
			again, err := Apply(back, writeFile(t, "out."+format, out.String()), noEnv)
			if err != nil {
				t.Fatalf("reading the output back: %v\n%s", err, out.String())
			}
			for i, s := range settings {
				a := again[i]
				if a.Name != s.Name || a.Value != s.Value || !slices.Equal(a.List, s.List) {
					t.Errorf("%s: read back %q %q, printed %q %q", s.Name, a.Value, a.List, s.Value, s.List)
				}
				// Defaults are written commented out; everything else is live.
				if wantSrc := map[bool]Source{true: SourceDefault, false: SourceFile}[s.Source == SourceDefault || s.Secret]; a.Source != wantSrc {
					t.Errorf("%s: read back from %s, want %s", s.Name, a.Source, wantSrc)
				}
			}
			if !strings.Contains(out.String(), "  # flag --http\n") || !strings.Contains(out.String(), "  # env JITDESK_QUIET\n") ||
				!strings.Contains(out.String(), "  # file "+file+":1\n") || !strings.Contains(out.String(), "  # default\n") {
				t.Errorf("output does not say where each value came from:\n%s", out.String())
			}
		})
	}
}

func TestPrintUnknownFormatIsAnError(t *testing.T) {
	if err := Print(&bytes.Buffer{}, nil, "json"); !errors.Is(err, ErrUnsupportedFormat) {
		t.Errorf("err = %v", err)
	}
}

func TestPrintKeepsHostileOriginsOnTheCommentLine(t *testing.T) {
	var out bytes.Buffer
	settings := []Setting{{Name: "http", Type: "string", Value: "x", Source: SourceFile, Origin: "file evil\nhttp = \"injected\".toml:1", Usage: "line one\nline two"}}
	if err := Print(&out, settings, "toml"); err != nil {
		t.Fatal(err)
	}
	fs := testFlags(t)
	if _, err := Apply(fs, writeFile(t, "c.toml", out.String()), noEnv); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if got, _ := fs.GetString("http"); got != "x" {
		t.Errorf("http = %q, want the printed value, not one injected through the origin:\n%s", got, out.String())
	}
}

func TestSuggest(t *testing.T) {
	names := []string{"http", "idle-timeout", "ssh-addr", "trusted-proxy"}
	for in, want := range map[string]string{"ssh-adr": "ssh-addr", "SSH-ADDR": "ssh-addr", "trusted-proxies": "trusted-proxy", "idle": "", "zzzzzz": ""} {
		if got := suggest(in, names); got != want {
			t.Errorf("suggest(%q) = %q, want %q", in, got, want)
		}
	}
}
