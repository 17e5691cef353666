package server

import (
	"encoding/json"
	"fmt"
	"mime"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Every response the HTTP tests receive (env.do) is also checked against
// the response documented in openapi.yaml for its operation and status: the
// media type must be one the document lists, and a JSON body must satisfy
// the schema (types, required fields, enums, additionalProperties: false,
// maxLength, date-time formats), with $refs resolved. The document is read
// by a small parser of the YAML subset it uses (block mappings and
// sequences, flow sequences of scalars, quoted and plain scalars, literal
// block scalars), since no YAML module is in go.mod.

var oneDateTimeForm = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$`)

var spec = struct {
	once sync.Once
	doc  map[string]any
	err  error
}{}

func openAPIDoc() (map[string]any, error) {
	spec.once.Do(func() {
		b, err := os.ReadFile("openapi.yaml")
		if err != nil {
			spec.err = err
			return
		}
		v, err := parseYAMLSubset(string(b))
		if err != nil {
			spec.err = err
			return
		}
		m, ok := v.(map[string]any)
		if !ok {
			spec.err = fmt.Errorf("openapi.yaml: top level is not a mapping")
			return
		}
		spec.doc = m
	})
	return spec.doc, spec.err
}

// checkResponseSchema reports, on t, how a response departs from the document.
func checkResponseSchema(t *testing.T, method, route string, status int, contentType string, body []byte) {
	t.Helper()
	doc, err := openAPIDoc()
	if err != nil {
		t.Errorf("openapi.yaml: %v", err)
		return
	}
	op, ok := dig(doc, "paths", route, strings.ToLower(method)).(map[string]any)
	if !ok {
		return // undocumented path or method: the 404/405 contract check covers it
	}
	responses, _ := op["responses"].(map[string]any)
	r, ok := responses[strconv.Itoa(status)]
	if !ok {
		r, ok = responses["default"]
	}
	if !ok {
		return // the status contract check reports it
	}
	resp, _ := resolve(doc, r).(map[string]any)
	content, _ := resp["content"].(map[string]any)
	where := fmt.Sprintf("%s %s → %d", method, route, status)
	if len(content) == 0 {
		if len(strings.TrimSpace(string(body))) != 0 {
			t.Errorf("%s: the document describes no body, got %q", where, body)
		}
		return
	}
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		t.Errorf("%s: Content-Type %q: %v", where, contentType, err)
		return
	}
	media, ok := content[mt].(map[string]any)
	if !ok {
		t.Errorf("%s: Content-Type %s is not documented (documented: %v)", where, mt, keys(content))
		return
	}
	schema, ok := media["schema"]
	if !ok || !strings.HasSuffix(mt, "json") {
		return
	}
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		t.Errorf("%s: body is not JSON: %v", where, err)
		return
	}
	for _, p := range validate(doc, schema, v, "$") {
		t.Errorf("%s: %s", where, p)
	}
}

func keys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func dig(v any, path ...string) any {
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[p]
	}
	return v
}

// resolve follows local $refs ("#/components/...").
func resolve(doc map[string]any, v any) any {
	for range 10 {
		m, ok := v.(map[string]any)
		if !ok {
			return v
		}
		ref, ok := m["$ref"].(string)
		if !ok {
			return v
		}
		v = dig(doc, strings.Split(strings.TrimPrefix(ref, "#/"), "/")...)
	}
	return v
}

// validate checks v against an OpenAPI 3.0 schema (the keywords the document uses).
func validate(doc map[string]any, schema, v any, at string) []string {
	s, _ := resolve(doc, schema).(map[string]any)
	if s == nil {
		return []string{at + ": schema not found"}
	}
	var out []string
	if enum, ok := s["enum"].([]any); ok && !slices.Contains(enum, any(fmt.Sprint(v))) {
		out = append(out, fmt.Sprintf("%s: %v is not one of %v", at, v, enum))
	}
	switch s["type"] {
	case "object":
		m, ok := v.(map[string]any)
		if !ok {
			return append(out, fmt.Sprintf("%s: want an object, got %T", at, v))
		}
		if req, ok := s["required"].([]any); ok {
			for _, k := range req {
				if _, ok := m[k.(string)]; !ok {
					out = append(out, fmt.Sprintf("%s: required %q is missing", at, k))
				}
			}
		}
		props, _ := s["properties"].(map[string]any)
		for k, fv := range m {
			if ps, ok := props[k]; ok {
				out = append(out, validate(doc, ps, fv, at+"."+k)...)
				continue
			}
			switch ap := s["additionalProperties"].(type) {
			case bool:
				if !ap {
					out = append(out, fmt.Sprintf("%s: property %q is not in the schema", at, k))
				}
			case map[string]any:
				out = append(out, validate(doc, ap, fv, at+"."+k)...)
			}
		}
	case "array":
		a, ok := v.([]any)
		if !ok {
			return append(out, fmt.Sprintf("%s: want an array, got %T", at, v))
		}
		if items, ok := s["items"]; ok {
			for i, e := range a {
				out = append(out, validate(doc, items, e, fmt.Sprintf("%s[%d]", at, i))...)
			}
		}
	case "string":
		str, ok := v.(string)
		if !ok {
			return append(out, fmt.Sprintf("%s: want a string, got %T", at, v))
		}
		if n, ok := s["maxLength"].(int); ok && len(str) > n {
			out = append(out, fmt.Sprintf("%s: %d bytes, over maxLength %d", at, len(str), n))
		}
		if s["format"] == "date-time" {
			// The API's one precision: RFC 3339, UTC, whole seconds.
			if _, err := time.Parse(time.RFC3339, str); err != nil || !oneDateTimeForm.MatchString(str) {
				out = append(out, fmt.Sprintf("%s: %q is not an RFC 3339 date-time in UTC to the second (2026-01-02T15:04:05Z)", at, str))
			}
		}
	case "integer":
		f, ok := v.(float64)
		if !ok || f != float64(int64(f)) {
			out = append(out, fmt.Sprintf("%s: want an integer, got %v", at, v))
		}
	case "number":
		if _, ok := v.(float64); !ok {
			out = append(out, fmt.Sprintf("%s: want a number, got %T", at, v))
		}
	case "boolean":
		if _, ok := v.(bool); !ok {
			out = append(out, fmt.Sprintf("%s: want a boolean, got %T", at, v))
		}
	}
	return out
}

// --- a parser of the YAML subset openapi.yaml is written in ---

type yamlLine struct {
	indent int
	text   string // without indentation
	n      int    // 1-based line number
}

func parseYAMLSubset(src string) (any, error) {
	var lines []yamlLine
	for i, raw := range strings.Split(src, "\n") {
		raw = strings.TrimRight(raw, " \t\r")
		trimmed := strings.TrimLeft(raw, " ")
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			// Blank lines matter only inside block scalars; keep them there.
			lines = append(lines, yamlLine{indent: -1, n: i + 1})
			continue
		}
		if strings.HasPrefix(trimmed, "\t") {
			return nil, fmt.Errorf("line %d: tab indentation", i+1)
		}
		lines = append(lines, yamlLine{indent: len(raw) - len(trimmed), text: trimmed, n: i + 1})
	}
	p := &yamlParser{lines: lines}
	p.skipBlank()
	if p.i >= len(p.lines) {
		return nil, fmt.Errorf("empty document")
	}
	v, err := p.block(p.lines[p.i].indent)
	if err != nil {
		return nil, err
	}
	p.skipBlank()
	if p.i < len(p.lines) {
		return nil, fmt.Errorf("line %d: unexpected indentation", p.lines[p.i].n)
	}
	return v, nil
}

type yamlParser struct {
	lines []yamlLine
	i     int
}

func (p *yamlParser) skipBlank() {
	for p.i < len(p.lines) && p.lines[p.i].indent < 0 {
		p.i++
	}
}

// block parses the mapping or sequence whose entries sit at indent.
func (p *yamlParser) block(indent int) (any, error) {
	p.skipBlank()
	if strings.HasPrefix(p.lines[p.i].text, "- ") || p.lines[p.i].text == "-" {
		return p.sequence(indent)
	}
	return p.mapping(indent)
}

func (p *yamlParser) sequence(indent int) (any, error) {
	var out []any
	for {
		p.skipBlank()
		if p.i >= len(p.lines) || p.lines[p.i].indent != indent || !strings.HasPrefix(p.lines[p.i].text+" ", "- ") {
			return out, nil
		}
		l := p.lines[p.i]
		rest := strings.TrimSpace(strings.TrimPrefix(l.text, "-"))
		if rest == "" {
			p.i++
			p.skipBlank()
			v, err := p.block(p.lines[p.i].indent)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
			continue
		}
		if _, _, isMap := splitKey(rest); isMap {
			// "- key: value": a mapping whose entries sit two columns in.
			p.lines[p.i] = yamlLine{indent: indent + 2, text: rest, n: l.n}
			v, err := p.mapping(indent + 2)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
			continue
		}
		v, err := scalar(rest, l.n)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
		p.i++
	}
}

func (p *yamlParser) mapping(indent int) (any, error) {
	out := map[string]any{}
	for {
		p.skipBlank()
		if p.i >= len(p.lines) || p.lines[p.i].indent < indent {
			return out, nil
		}
		l := p.lines[p.i]
		if l.indent > indent {
			return nil, fmt.Errorf("line %d: unexpected indentation", l.n)
		}
		key, val, ok := splitKey(l.text)
		if !ok {
			return nil, fmt.Errorf("line %d: want key: value, got %q", l.n, l.text)
		}
		if _, dup := out[key]; dup {
			return nil, fmt.Errorf("line %d: duplicate key %q", l.n, key)
		}
		p.i++
		switch {
		case val == "|" || val == "|-" || val == ">" || val == ">-":
			out[key] = p.blockScalar(indent)
		case val == "":
			p.skipBlank()
			if p.i < len(p.lines) && (p.lines[p.i].indent > indent ||
				(p.lines[p.i].indent == indent && strings.HasPrefix(p.lines[p.i].text+" ", "- "))) {
				v, err := p.block(p.lines[p.i].indent)
				if err != nil {
					return nil, err
				}
				out[key] = v
			} else {
				out[key] = nil
			}
		default:
			v, err := scalar(val, l.n)
			if err != nil {
				return nil, err
			}
			out[key] = v
		}
	}
}

// blockScalar collects the lines indented deeper than the key.
func (p *yamlParser) blockScalar(indent int) string {
	var b strings.Builder
	for p.i < len(p.lines) && (p.lines[p.i].indent < 0 || p.lines[p.i].indent > indent) {
		b.WriteString(p.lines[p.i].text)
		b.WriteByte('\n')
		p.i++
	}
	return b.String()
}

// splitKey splits "key: value" (key possibly quoted) at the first ": ".
func splitKey(s string) (key, val string, ok bool) {
	if strings.HasPrefix(s, "'") || strings.HasPrefix(s, `"`) {
		q := s[:1]
		end := strings.Index(s[1:], q)
		if end < 0 {
			return "", "", false
		}
		key, rest := s[1:1+end], s[2+end:]
		if rest == ":" {
			return key, "", true
		}
		if strings.HasPrefix(rest, ": ") {
			return key, strings.TrimSpace(rest[2:]), true
		}
		return "", "", false
	}
	if strings.HasSuffix(s, ":") && !strings.Contains(s, ": ") {
		return s[:len(s)-1], "", true
	}
	k, v, found := strings.Cut(s, ": ")
	if !found || strings.ContainsAny(k, "[]{}") {
		return "", "", false
	}
	return k, strings.TrimSpace(v), true
}

// scalar converts a plain, quoted or flow-sequence value.
func scalar(s string, n int) (any, error) {
	switch {
	case strings.HasPrefix(s, "'"):
		if !strings.HasSuffix(s, "'") || len(s) < 2 {
			return nil, fmt.Errorf("line %d: unterminated quote", n)
		}
		return strings.ReplaceAll(s[1:len(s)-1], "''", "'"), nil
	case strings.HasPrefix(s, `"`):
		var out string
		if err := json.Unmarshal([]byte(s), &out); err != nil {
			return nil, fmt.Errorf("line %d: %v", n, err)
		}
		return out, nil
	case strings.HasPrefix(s, "["):
		if !strings.HasSuffix(s, "]") {
			return nil, fmt.Errorf("line %d: flow sequence must end on its line", n)
		}
		inner := strings.TrimSpace(s[1 : len(s)-1])
		out := []any{}
		if inner == "" {
			return out, nil
		}
		for _, part := range strings.Split(inner, ",") {
			v, err := scalar(strings.TrimSpace(part), n)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	case s == "{}":
		return map[string]any{}, nil
	case strings.HasPrefix(s, "{"):
		return nil, fmt.Errorf("line %d: flow mappings are not supported by this parser", n)
	case s == "true":
		return true, nil
	case s == "false":
		return false, nil
	case s == "null" || s == "~":
		return nil, nil
	}
	if i, err := strconv.Atoi(s); err == nil {
		return i, nil
	}
	if i := strings.Index(s, " #"); i >= 0 {
		s = strings.TrimSpace(s[:i]) // trailing comment
	}
	return s, nil
}

func TestOpenAPISubsetParserReadsTheDocument(t *testing.T) {
	doc, err := openAPIDoc()
	if err != nil {
		t.Fatal(err)
	}
	if v := dig(doc, "openapi"); v != "3.0.3" {
		t.Fatalf("openapi: %v", v)
	}
	req, _ := dig(doc, "components", "schemas", "Request", "required").([]any)
	if !slices.Contains(req, any("id")) || !slices.Contains(req, any("expires_at")) {
		t.Fatalf("Request.required: %v", req)
	}
	if dig(doc, "components", "schemas", "NewRequest", "additionalProperties") != false {
		t.Fatal("NewRequest.additionalProperties is not false")
	}
	created := resolve(doc, dig(doc, "paths", "/v1/requests", "post", "responses", "201"))
	if dig(created, "content", "application/json", "schema", "$ref") != "#/components/schemas/Request" {
		t.Fatalf("201 of POST /v1/requests: %v", created)
	}
	// The validator itself: a missing field, a wrong type, an extra property.
	bad := map[string]any{"active": "yes"}
	if p := validate(doc, dig(doc, "components", "schemas", "Introspection"), bad, "$"); len(p) == 0 {
		t.Fatal("a string active passed as boolean")
	}
	if p := validate(doc, map[string]any{"$ref": "#/components/schemas/Problem"}, map[string]any{"type": "about:blank"}, "$"); len(p) != 3 {
		t.Fatalf("problem missing title, status, detail: %v", p)
	}
	if p := validate(doc, dig(doc, "components", "schemas", "NewRequest"), map[string]any{"template": "t", "reason": "r", "admin": true}, "$"); len(p) != 1 {
		t.Fatalf("extra property: %v", p)
	}
}
