// Package serveconfig layers a command's settings: flags given on the
// command line, then JITDESK_* environment variables, then an optional
// config file (TOML or YAML), then the flags' defaults.
//
// The flags stay the one definition of every setting: a config key is a
// flag's name (kebab-case, snake_case accepted) and an environment variable
// is JITDESK_ plus the flag's name in upper snake case, so a new flag is
// configurable everywhere without a second list to keep in step.
package serveconfig

import (
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/spf13/pflag"
)

// Source says which layer a setting's value came from.
type Source string

// The layers, highest precedence first.
const (
	SourceFlag    Source = "flag"
	SourceEnv     Source = "env"
	SourceFile    Source = "file"
	SourceDefault Source = "default"
)

// EnvPrefix starts the name of every environment variable Apply reads.
const EnvPrefix = "JITDESK_"

// Redacted stands in for a secret's value wherever it would be shown.
const Redacted = "<redacted>"

// maxFileSize bounds what Apply reads: a settings file is a few kilobytes,
// and a path pointing at something huge (a device, a log) should fail fast
// instead of filling memory.
const maxFileSize = 1 << 20

// Pflag annotation keys; the annotations live on the flags themselves, so
// marking a persistent flag once marks it in every command that inherits it.
const (
	annSecret = "serveconfig/secret"
	annNoEnv  = "serveconfig/noenv"
	annSkip   = "serveconfig/skip"
)

// Setting is one flag's effective value and where it came from.
type Setting struct {
	// Name is the flag's name, which is also its key in a config file.
	Name string
	// Value is the value as the flag shows it (pflag's Value.String);
	// empty for a secret, which Apply never copies out of the flag.
	Value string
	// List holds a list flag's elements: non-nil (possibly empty) for
	// every list flag (pflag's SliceValue), nil for the others and for a
	// secret.
	List []string
	// Type is pflag's type name of the flag ("string", "bool",
	// "duration", "stringSlice", ...); Print writes the value accordingly.
	Type string
	// Usage is the flag's help text, without pflag's `NAME` quotes.
	Usage string
	// Source is the layer the value came from.
	Source Source
	// Secret says the value must never be shown (see MarkSecret).
	Secret bool
	// Env is the environment variable read for the setting; "" for a
	// flag marked NoEnv.
	Env string
	// Origin says where exactly: "flag --db", "env JITDESK_DB",
	// "file /etc/jitdesk/jitdesk.toml:12" or "default".
	Origin string
}

// Sentinels a FileError or EnvError wraps, for callers to branch on with
// errors.Is.
var (
	// ErrSyntax: the file is not valid TOML or YAML.
	ErrSyntax = errors.New("config file syntax error")
	// ErrUnknownSetting: a key names no configurable flag.
	ErrUnknownSetting = errors.New("unknown setting")
	// ErrDuplicate: a setting appears twice (maybe once as kebab-case and
	// once as snake_case).
	ErrDuplicate = errors.New("setting given twice")
	// ErrNested: a table, map or dotted key where only flat key = value
	// lines belong.
	ErrNested = errors.New("nested setting")
	// ErrWrongType: a value of the wrong type for its flag (a string for a
	// bool, a scalar for a list, ...).
	ErrWrongType = errors.New("wrong type for setting")
	// ErrInvalidValue: the flag refused the value (an unparsable
	// duration, an integer out of range, ...).
	ErrInvalidValue = errors.New("invalid value for setting")
	// ErrUnsupportedFormat: a config file extension or a Print format
	// other than TOML or YAML.
	ErrUnsupportedFormat = errors.New("unsupported config format")
)

// FileError is a problem with the config file, at a line when one is known.
type FileError struct {
	// Path is the config file as given to Apply.
	Path string
	// Line is the 1-based line of the problem; 0 when not known.
	Line int
	// Key is the key as written in the file; "" when the problem is not
	// about one key.
	Key string
	// Suggestion is the nearest known setting for an unknown Key; "" when
	// none is near.
	Suggestion string
	// Kind is the sentinel this error wraps (ErrUnknownSetting, ...).
	Kind error
	// Detail says what is wrong, made safe to print.
	Detail string
}

// Error is "path:line: detail", or "path: detail" without a line.
func (e *FileError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", inert(e.Path), e.Line, e.Detail)
	}
	return fmt.Sprintf("%s: %s", inert(e.Path), e.Detail)
}

// Unwrap returns Kind.
func (e *FileError) Unwrap() error { return e.Kind }

// EnvError is an environment variable whose value its flag refused.
type EnvError struct {
	// Var is the variable's name (JITDESK_...).
	Var string
	// Flag is the flag it sets.
	Flag string
	// Detail says why the value was refused, made safe to print and
	// without the value when the flag is secret.
	Detail string
}

// Error names the variable and the flag it was for.
func (e *EnvError) Error() string {
	return fmt.Sprintf("environment variable %s (for --%s): %s", e.Var, e.Flag, e.Detail)
}

// Unwrap returns ErrInvalidValue.
func (e *EnvError) Unwrap() error { return ErrInvalidValue }

// EnvName is the environment variable Apply reads for the flag named
// flag: JITDESK_ and the name in upper snake case (--ssh-addr:
// JITDESK_SSH_ADDR).
func EnvName(flag string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// MarkSecret marks the named flags as holding secrets: Apply never copies
// their values into a Setting and Print shows them as Redacted. It panics
// if a name is not a flag of fs, since an unmarked secret would be printed.
func MarkSecret(fs *pflag.FlagSet, names ...string) { annotate(fs, annSecret, names) }

// NoEnv marks the named flags as never read from the environment: their
// JITDESK_* name already means something else to the program. It panics if
// a name is not a flag of fs.
func NoEnv(fs *pflag.FlagSet, names ...string) { annotate(fs, annNoEnv, names) }

// Skip marks the named flags as not settings at all (--config itself,
// --print-config): Apply neither reads them from the environment nor
// accepts them in a file, and returns no Setting for them. Cobra's --help
// and deprecated flags are always skipped. It panics if a name is not a
// flag of fs.
func Skip(fs *pflag.FlagSet, names ...string) { annotate(fs, annSkip, names) }

func annotate(fs *pflag.FlagSet, key string, names []string) {
	for _, n := range names {
		if err := fs.SetAnnotation(n, key, []string{"true"}); err != nil {
			panic(fmt.Sprintf("serveconfig: %s: %v", key, err))
		}
	}
}

func hasAnnotation(f *pflag.Flag, key string) bool {
	_, ok := f.Annotations[key]
	return ok
}

// configurable reports whether f is a setting. A deprecated flag is not:
// config files and these variables are new, so nothing old needs it, and a
// deprecated alias often shares its variable with the flag replacing it
// (--no-bell and --quiet), which would show one value twice.
func configurable(f *pflag.Flag) bool {
	return f.Name != "help" && f.Deprecated == "" && !hasAnnotation(f, annSkip)
}

// Apply sets every setting of fs that was not given on the command line
// (pflag's Changed) from its environment variable (see EnvName), else from
// the config file at path, and returns the effective settings sorted by
// name. path "" means no file; its extension picks the format (.toml,
// .yaml, .yml). env looks a variable up (os.Getenv; nil means none); an
// empty value counts as unset.
//
// Every file entry is checked, even one a flag or variable overrides, so
// a broken file is found before the day it matters. All problems found
// are returned together; on error some flags may already be set, and the
// caller must not go on. Call Apply once per FlagSet: a flag it sets
// reports Changed afterwards, as pflag's Set makes it.
func Apply(fs *pflag.FlagSet, path string, env func(string) string) ([]Setting, error) {
	var data []byte
	if path != "" {
		var err error
		if data, err = readFile(path); err != nil {
			return nil, err
		}
	}
	return apply(fs, path, data, env)
}

func readFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("config file: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("config file %s: %w", inert(path), err)
	}
	if len(data) > maxFileSize {
		return nil, fmt.Errorf("config file %s: larger than %d bytes", inert(path), maxFileSize)
	}
	return data, nil
}

// apply is Apply on a file already read (path only names it).
func apply(fs *pflag.FlagSet, path string, data []byte, env func(string) string) ([]Setting, error) {
	if env == nil {
		env = func(string) string { return "" }
	}
	known := map[string]*pflag.Flag{}
	var names []string
	fs.VisitAll(func(f *pflag.Flag) {
		if configurable(f) {
			known[f.Name] = f
			names = append(names, f.Name)
		}
	})
	slices.Sort(names)

	entries := map[string]entry{}
	if path != "" {
		list, err := parseFile(path, data)
		if err != nil {
			return nil, err
		}
		if entries, err = index(path, list, known, names); err != nil {
			return nil, err
		}
	}

	var errs []error
	settings := make([]Setting, 0, len(names))
	for _, name := range names {
		f := known[name]
		s := Setting{Name: name, Type: f.Value.Type(), Secret: hasAnnotation(f, annSecret)}
		_, s.Usage = pflag.UnquoteUsage(f)
		e, inFile := entries[name]
		if inFile {
			// Checked whichever layer wins (see Apply).
			if err := checkType(path, f, e); err != nil {
				errs = append(errs, err)
				inFile = false
			}
		}
		v := ""
		if !hasAnnotation(f, annNoEnv) {
			s.Env = EnvName(name)
			v = env(s.Env)
		}
		switch {
		case f.Changed:
			s.Source, s.Origin = SourceFlag, "flag --"+name
		case v != "":
			s.Source, s.Origin = SourceEnv, "env "+EnvName(name)
			if err := fs.Set(name, v); err != nil {
				errs = append(errs, &EnvError{Var: EnvName(name), Flag: name, Detail: refusal(s.Secret, f, err)})
			}
		case inFile:
			s.Source, s.Origin = SourceFile, fmt.Sprintf("file %s:%d", path, e.line)
			if err := setFromFile(fs, f, e); err != nil {
				errs = append(errs, &FileError{Path: path, Line: e.line, Key: e.key, Kind: ErrInvalidValue,
					Detail: fmt.Sprintf("setting %q: %s", e.key, refusal(s.Secret, f, err))})
			}
		default:
			s.Source, s.Origin = SourceDefault, "default"
		}
		if !s.Secret {
			s.Value = f.Value.String()
			if sv, ok := f.Value.(pflag.SliceValue); ok {
				s.List = append([]string{}, sv.GetSlice()...)
			}
		}
		settings = append(settings, s)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return settings, nil
}

// refusal says why f refused a value; for a secret only its type, since
// parse errors quote the value.
func refusal(secret bool, f *pflag.Flag, err error) string {
	if secret {
		return fmt.Sprintf("not a valid %s (value not shown: the setting is secret)", f.Value.Type())
	}
	return inert(err.Error())
}

// index checks the entries against the known flags: every key must name
// one, once.
func index(path string, list []entry, known map[string]*pflag.Flag, names []string) (map[string]entry, error) {
	byName := map[string]entry{}
	var errs []error
	for _, e := range list {
		name := strings.ReplaceAll(e.key, "_", "-")
		if _, ok := known[name]; !ok {
			fe := &FileError{Path: path, Line: e.line, Key: e.key, Kind: ErrUnknownSetting,
				Detail: fmt.Sprintf("unknown setting %q", e.key)}
			if s := suggest(name, names); s != "" {
				fe.Suggestion = s
				fe.Detail += fmt.Sprintf(" (did you mean %q?)", s)
			}
			errs = append(errs, fe)
			continue
		}
		if first, ok := byName[name]; ok {
			detail := fmt.Sprintf("setting %q given twice (first on line %d)", e.key, first.line)
			if first.key != e.key {
				detail = fmt.Sprintf("%q and %q (line %d) are the same setting: keep one", e.key, first.key, first.line)
			}
			errs = append(errs, &FileError{Path: path, Line: e.line, Key: e.key, Kind: ErrDuplicate, Detail: detail})
			continue
		}
		byName[name] = e
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return byName, nil
}
