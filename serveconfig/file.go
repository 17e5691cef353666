package serveconfig

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"strconv"
	"strings"
	"unicode"

	"github.com/pelletier/go-toml/v2"
	"github.com/pelletier/go-toml/v2/unstable"
	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"
)

// kind is the type of a value as the file wrote it, whichever format.
type kind int

const (
	kString kind = iota
	kBool
	kInt
	kFloat
	kList
	kTable
	kNull
	kOther // a date, a YAML tag of its own: described by value.desc
)

// value is one value from the file. text is a scalar as the flag parses
// it (an integer in decimal, a bool as true or false).
type value struct {
	kind kind
	text string
	list []value // kList
	desc string  // kOther
}

// entry is one top-level key of the file.
type entry struct {
	key  string // as written
	line int
	val  value
}

func (v value) describe() string {
	switch v.kind {
	case kString:
		return "a string"
	case kBool:
		return "a boolean"
	case kInt:
		return "an integer"
	case kFloat:
		return "a number with a fraction"
	case kList:
		return "a list"
	case kTable:
		return "a table (settings are flat: key = value)"
	case kNull:
		return "an empty value (write \"\" for an empty string)"
	default:
		return v.desc
	}
}

// parseFile reads the file's top-level entries in order, refusing what is
// not flat key = value.
func parseFile(path string, data []byte) ([]entry, error) {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".toml":
		return parseTOML(path, data)
	case ".yaml", ".yml":
		return parseYAML(path, data)
	default:
		return nil, &FileError{Path: path, Kind: ErrUnsupportedFormat,
			Detail: "unsupported config file type: name it .toml, .yaml or .yml"}
	}
}

func parseTOML(path string, data []byte) ([]entry, error) {
	// The decoder gives typed values and checks all of TOML (duplicate
	// keys included); the parser underneath gives each key's line.
	var doc map[string]any
	if err := toml.Unmarshal(data, &doc); err != nil {
		fe := &FileError{Path: path, Kind: ErrSyntax, Detail: inert(err.Error())}
		var de *toml.DecodeError
		if errors.As(err, &de) {
			fe.Line, _ = de.Position()
		}
		return nil, fe
	}
	var p unstable.Parser
	p.Reset(data)
	lines := lineCounter{data: data, line: 1}
	var out []entry
	for p.NextExpression() {
		e := p.Expression()
		switch e.Kind {
		case unstable.Table, unstable.ArrayTable:
			it := e.Key()
			it.Next()
			k := it.Node()
			return nil, &FileError{Path: path, Line: lines.at(k.Raw.Offset), Key: string(k.Data), Kind: ErrNested,
				Detail: fmt.Sprintf("table %q: settings are flat key = value lines, without tables", string(k.Data))}
		case unstable.KeyValue:
			it := e.Key()
			it.Next()
			k := it.Node()
			key, line := string(k.Data), lines.at(k.Raw.Offset)
			if it.Next() {
				return nil, &FileError{Path: path, Line: line, Key: key, Kind: ErrNested,
					Detail: fmt.Sprintf("dotted key %q: settings are flat key = value lines", key)}
			}
			out = append(out, entry{key: key, line: line, val: tomlValue(doc[key], true)})
		}
	}
	if err := p.Error(); err != nil {
		// Unmarshal accepted the document, so the parser should too.
		return nil, &FileError{Path: path, Kind: ErrSyntax, Detail: inert(err.Error())}
	}
	return out, nil
}

// lineCounter turns increasing byte offsets into 1-based lines, counting
// each newline once (the parser's Shape counts from the start every time,
// which is quadratic over a file of many keys).
type lineCounter struct {
	data []byte
	off  int
	line int
}

func (c *lineCounter) at(offset uint32) int {
	o := min(int(offset), len(c.data))
	if o > c.off {
		c.line += bytes.Count(c.data[c.off:o], []byte{'\n'})
		c.off = o
	}
	return c.line
}

// tomlValue converts a decoded TOML value; only the top level descends
// into a list, since a setting's list holds scalars.
func tomlValue(v any, top bool) value {
	switch v := v.(type) {
	case string:
		return value{kind: kString, text: v}
	case bool:
		return value{kind: kBool, text: strconv.FormatBool(v)}
	case int64:
		return value{kind: kInt, text: strconv.FormatInt(v, 10)}
	case float64:
		return value{kind: kFloat, text: strconv.FormatFloat(v, 'g', -1, 64)}
	case []any:
		l := value{kind: kList}
		if top {
			for _, x := range v {
				l.list = append(l.list, tomlValue(x, false))
			}
		}
		return l
	case map[string]any:
		return value{kind: kTable}
	default:
		return value{kind: kOther, desc: "a date or time (write durations as strings such as \"30s\")"}
	}
}

func parseYAML(path string, data []byte) ([]entry, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		// yaml.v3 puts the line in its message only.
		return nil, &FileError{Path: path, Kind: ErrSyntax, Detail: inert(err.Error())}
	}
	var next yaml.Node
	if err := dec.Decode(&next); !errors.Is(err, io.EOF) {
		if err != nil {
			return nil, &FileError{Path: path, Kind: ErrSyntax, Detail: inert(err.Error())}
		}
		return nil, &FileError{Path: path, Line: next.Line, Kind: ErrSyntax,
			Detail: "a second YAML document: the settings belong in one"}
	}
	if len(doc.Content) == 0 {
		return nil, nil
	}
	root := deref(doc.Content[0])
	if root.Kind == yaml.ScalarNode && root.ShortTag() == "!!null" {
		return nil, nil // only comments, or an explicit empty document
	}
	if root.Kind != yaml.MappingNode {
		return nil, &FileError{Path: path, Line: root.Line, Kind: ErrSyntax,
			Detail: "the file must be a mapping of settings (key: value lines)"}
	}
	var out []entry
	for i := 0; i+1 < len(root.Content); i += 2 {
		k := deref(root.Content[i])
		if k.Kind != yaml.ScalarNode {
			return nil, &FileError{Path: path, Line: k.Line, Kind: ErrNested,
				Detail: "a key that is not a plain name: settings are flat key: value lines"}
		}
		out = append(out, entry{key: k.Value, line: k.Line, val: yamlValue(root.Content[i+1], true)})
	}
	return out, nil
}

// deref follows an alias to its anchor. Aliases to aliases do not exist
// in yaml.v3's tree (an alias names an anchored node), so one step is all.
func deref(n *yaml.Node) *yaml.Node {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		return n.Alias
	}
	return n
}

// yamlValue converts a YAML node; only the top level descends into a
// sequence, so an alias can never make the walk grow.
func yamlValue(n *yaml.Node, top bool) value {
	n = deref(n)
	switch n.Kind {
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!str":
			return value{kind: kString, text: n.Value}
		case "!!bool":
			var b bool
			if n.Decode(&b) == nil {
				return value{kind: kBool, text: strconv.FormatBool(b)}
			}
		case "!!int":
			var i int64
			if n.Decode(&i) == nil {
				return value{kind: kInt, text: strconv.FormatInt(i, 10)}
			}
			var u uint64
			if n.Decode(&u) == nil {
				return value{kind: kInt, text: strconv.FormatUint(u, 10)}
			}
			return value{kind: kOther, desc: "an integer out of range"}
		case "!!float":
			var f float64
			if n.Decode(&f) == nil {
				return value{kind: kFloat, text: strconv.FormatFloat(f, 'g', -1, 64)}
			}
		case "!!null":
			return value{kind: kNull}
		}
		return value{kind: kOther, desc: fmt.Sprintf("a value tagged %q", n.ShortTag())}
	case yaml.SequenceNode:
		l := value{kind: kList}
		if top {
			for _, c := range n.Content {
				l.list = append(l.list, yamlValue(c, false))
			}
		}
		return l
	case yaml.MappingNode:
		return value{kind: kTable}
	default:
		return value{kind: kOther, desc: "an unresolved alias"}
	}
}

// want is what a flag of pflag type typ takes from a file, and how to say so.
func want(typ string) (accept func(kind) bool, desc string) {
	switch typ {
	case "bool":
		return func(k kind) bool { return k == kBool }, "true or false"
	case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64", "count":
		return func(k kind) bool { return k == kInt }, "an integer"
	case "float32", "float64":
		return func(k kind) bool { return k == kInt || k == kFloat }, "a number"
	case "string":
		return func(k kind) bool { return k == kString }, "a string"
	case "duration":
		return func(k kind) bool { return k == kString }, "a duration string such as \"30s\""
	default:
		// A flag type of the program's own (an address, a level): any
		// scalar, and the flag's Set judges it.
		return func(k kind) bool { return k <= kFloat }, "a value"
	}
}

// elemType is the pflag type of a list flag's elements: pflag names list
// types after them ("stringSlice", "intSlice", "stringArray").
func elemType(typ string) string {
	for _, suffix := range []string{"Slice", "Array"} {
		if t, ok := strings.CutSuffix(typ, suffix); ok {
			return t
		}
	}
	return typ
}

func isList(f *pflag.Flag) bool {
	_, ok := f.Value.(pflag.SliceValue)
	return ok
}

// checkType says whether e's value has a type f takes.
func checkType(path string, f *pflag.Flag, e entry) error {
	wrong := func(line int, detail string) error {
		return &FileError{Path: path, Line: line, Key: e.key, Kind: ErrWrongType, Detail: detail}
	}
	if isList(f) {
		accept, desc := want(elemType(f.Value.Type()))
		if e.val.kind != kList {
			return wrong(e.line, fmt.Sprintf("setting %q wants a list of %s, not %s", e.key, plural(desc), e.val.describe()))
		}
		for i, el := range e.val.list {
			if !accept(el.kind) {
				return wrong(e.line, fmt.Sprintf("setting %q: element %d wants %s, not %s", e.key, i+1, desc, el.describe()))
			}
		}
		return nil
	}
	accept, desc := want(f.Value.Type())
	if !accept(e.val.kind) {
		return wrong(e.line, fmt.Sprintf("setting %q wants %s, not %s", e.key, desc, e.val.describe()))
	}
	return nil
}

// plural is want's description of one element made the description of many.
func plural(desc string) string {
	switch desc {
	case "true or false":
		return "booleans (true or false)"
	case "an integer":
		return "integers"
	case "a number":
		return "numbers"
	case "a string":
		return "strings"
	case "a value":
		return "values"
	}
	if d, ok := strings.CutPrefix(desc, "a duration string"); ok {
		return "duration strings" + d
	}
	return desc
}

// setFromFile sets f from a checked entry. A list is replaced element by
// element: passing it through Set would split each element at commas, as
// --flag a,b does.
func setFromFile(fs *pflag.FlagSet, f *pflag.Flag, e entry) error {
	sv, ok := f.Value.(pflag.SliceValue)
	if !ok {
		return fs.Set(f.Name, e.val.text)
	}
	elems := make([]string, len(e.val.list))
	for i, el := range e.val.list {
		elems[i] = el.text
	}
	if err := sv.Replace(elems); err != nil {
		return err
	}
	f.Changed = true // as Set would
	return nil
}

// inert makes text from outside safe to print: every rune that is not
// printable (controls, bidi overrides, zero-width characters) becomes an
// escape, so a key or path cannot drive the terminal or hide text.
func inert(s string) string {
	var b strings.Builder
	for _, r := range s {
		if unicode.IsPrint(r) {
			b.WriteRune(r)
		} else if r <= 0xffff {
			fmt.Fprintf(&b, `\u%04x`, r)
		} else {
			fmt.Fprintf(&b, `\U%08x`, r)
		}
	}
	return b.String()
}

// suggest is the known name nearest to name, if it is near enough to be
// a likely typo.
func suggest(name string, names []string) string {
	if len(name) > 64 {
		return ""
	}
	name = strings.ToLower(name)
	best, bestD := "", math.MaxInt
	for _, n := range names {
		if d := distance(name, n); d < bestD {
			best, bestD = n, d
		}
	}
	if bestD <= max(2, len(name)/3) {
		return best
	}
	return ""
}

// distance is the Levenshtein edit distance between a and b, by rune.
func distance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}
