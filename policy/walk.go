package policy

import (
	"reflect"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

var docType = reflect.TypeFor[Document]()

// noun names one object of a document section.
func noun(section string) string {
	switch section {
	case "applications":
		return "application"
	case "approvers":
		return "approver"
	case "rotations":
		return "rotation"
	case "templates":
		return "template"
	case "webhooks":
		return "webhook"
	}
	return "object"
}

// keyName says what keys the objects of a section.
func keyName(section string) string {
	switch section {
	case "applications", "rotations":
		return "name"
	case "approvers":
		return "login"
	case "templates":
		return "key"
	case "webhooks":
		return "URL"
	}
	return "key"
}

// Paths name a node of the document for the line index: segments joined by
// NUL (keys may hold any other character), list items as "[i]".
func join(path, seg string) string {
	if path == "" {
		return seg
	}
	return path + "\x00" + seg
}

func item(path string, i int) string { return path + "[" + strconv.Itoa(i) + "]" }

// walker checks the node tree against the document's Go types, recording
// each node's line, every unknown field, duplicate key and wrong type, and
// which paths held a wrong value (bad), so later checks skip them.
type walker struct {
	ps    *problems
	lines map[string]int
	bad   map[string]bool
}

// yamlFields returns the yaml names of a struct's fields and their types.
func yamlFields(t reflect.Type) (names []string, types map[string]reflect.Type) {
	types = map[string]reflect.Type{}
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		names = append(names, name)
		types[name] = f.Type
	}
	return names, types
}

// walk checks n against t. obj names the object for messages (`template
// "db"`), where the field inside it ("fields[1].name").
func (w *walker) walk(n *yaml.Node, t reflect.Type, path, obj, where string) {
	for depth := 0; n.Kind == yaml.AliasNode && n.Alias != nil && depth < 16; depth++ {
		n = n.Alias
	}
	if _, seen := w.lines[path]; !seen || path == "" {
		w.lines[path] = n.Line
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return // left empty: the zero value, checked later where it is required
	}
	switch t.Kind() {
	case reflect.Struct:
		if !w.want(n, yaml.MappingNode, path, obj, where, "a mapping of fields (name: value)") {
			return
		}
		names, types := yamlFields(t)
		seen := map[string]int{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			key := k.Value
			if prev, dup := seen[key]; dup {
				w.ps.add(k.Line, obj, "give each field once", "%sfield %s given twice (first at line %d)", in(where), strconv.Quote(key), prev)
				continue
			}
			seen[key] = k.Line
			ft, ok := types[key]
			if !ok {
				w.unknownField(k, t, names, obj, where)
				w.markBad(join(path, key))
				continue
			}
			p := join(path, key)
			w.lines[p] = k.Line
			if t == docType {
				w.walk(v, ft, p, "", key)
				continue
			}
			w.walk(v, ft, p, obj, joinWhere(where, key))
		}
	case reflect.Map:
		if !w.want(n, yaml.MappingNode, path, obj, where, "a mapping of objects by their key") {
			return
		}
		what := noun(where)
		seen := map[string]int{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			o := what + " " + strconv.Quote(k.Value)
			if k.Kind != yaml.ScalarNode || k.Tag == "!!null" || k.Value == "" {
				w.ps.add(k.Line, "", "write the "+what+"'s "+keyName(where)+", then a colon", "%s: each key must be a non-empty string", where)
				w.markBad(join(path, k.Value))
				continue
			}
			if prev, dup := seen[k.Value]; dup {
				w.ps.add(k.Line, o, "declare each "+what+" once", "declared twice (first at line %d)", prev)
				w.markBad(join(path, k.Value))
				continue
			}
			seen[k.Value] = k.Line
			p := join(path, k.Value)
			w.lines[p] = k.Line
			w.walk(v, t.Elem(), p, o, "")
		}
	case reflect.Slice:
		if !w.want(n, yaml.SequenceNode, path, obj, where, "a list ([a, b] or one \"- item\" a line)") {
			return
		}
		for i, c := range n.Content {
			w.walk(c, t.Elem(), item(path, i), obj, where+"["+strconv.Itoa(i)+"]")
		}
	default:
		if !w.want(n, yaml.ScalarNode, path, obj, where, describe(t)) {
			return
		}
		if err := n.Decode(reflect.New(t).Interface()); err != nil {
			w.ps.add(n.Line, obj, "write "+describe(t), "%s%s is not %s", in(where), strconv.Quote(n.Value), describe(t))
			w.markBad(path)
		}
	}
}

// want reports whether n is of kind k, recording the problem when not.
func (w *walker) want(n *yaml.Node, k yaml.Kind, path, obj, where, what string) bool {
	if n.Kind == k {
		return true
	}
	got := map[yaml.Kind]string{yaml.MappingNode: "a mapping", yaml.SequenceNode: "a list", yaml.ScalarNode: "a single value"}[n.Kind]
	if got == "" {
		got = "something else"
	}
	w.ps.add(n.Line, obj, "write "+what, "%sfound %s", in(where), got)
	w.markBad(path)
	return false
}

func (w *walker) markBad(path string) {
	if w.bad == nil {
		w.bad = map[string]bool{}
	}
	w.bad[path] = true
}

// secretHint explains why a field that looks like it belongs has none.
func secretHint(field string) (string, bool) {
	switch field {
	case "secret":
		return "secrets are never declared: jitdesk makes one when it creates the application and prints it once (rotate it with `jitdesk app secret rotate`)", true
	case "secret_format":
		return "secrets are never declared: jitdesk makes one when it creates the object and prints it once", true
	case "id":
		return "objects are named by their key in the file; jitdesk gives them ids itself", true
	case "previous_until":
		return "secret rotation is not declared: use `jitdesk app secret rotate`", true
	}
	return "", false
}

func (w *walker) unknownField(k *yaml.Node, t reflect.Type, names []string, obj, where string) {
	if k.Value == "secret" && strings.HasPrefix(obj, "webhook ") {
		w.ps.add(k.Line, obj, "secrets are never declared: jitdesk makes the signing secret when it adds the hook and prints it once", "%sfield %s is not part of a policy", in(where), strconv.Quote(k.Value))
		return
	}
	if h, ok := secretHint(k.Value); ok && t != docType {
		w.ps.add(k.Line, obj, h, "%sfield %s is not part of a policy", in(where), strconv.Quote(k.Value))
		return
	}
	msg := in(where) + "unknown field " + strconv.Quote(k.Value)
	if t == docType {
		msg = "unknown section " + strconv.Quote(k.Value)
	}
	if c, ok := closest(k.Value, names); ok {
		w.ps.add(k.Line, obj, "", "%s (did you mean %s?)", msg, strconv.Quote(c))
		return
	}
	sorted := slices.Clone(names)
	slices.Sort(sorted)
	w.ps.add(k.Line, obj, "use one of: "+strings.Join(sorted, ", "), "%s", msg)
}

func in(where string) string {
	if where == "" {
		return ""
	}
	return where + ": "
}

func joinWhere(where, key string) string {
	if where == "" {
		return key
	}
	return where + "." + key
}

// describe says what a value of type t is written as.
func describe(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Int:
		return "a whole number"
	case reflect.Float64:
		return "a number"
	case reflect.Bool:
		return "true or false"
	}
	return t.String()
}
