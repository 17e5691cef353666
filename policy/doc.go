// Package policy is jitdesk's administration as code: a versioned YAML (or
// JSON) document declares applications, approvers, rotations, templates and
// webhooks; Apply compares it with the state the Service holds and makes
// the difference (create, update, disable) in one audited transaction, or
// only shows it (a dry run); Export writes the current state in the same
// format, so exporting and applying the result changes nothing.
//
// Secrets are never part of a document: new applications' and webhooks'
// secrets come back once in the Result of Apply.
package policy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"sort"

	"go.yaml.in/yaml/v3"
)

// Version is the document format this package reads and writes.
const Version = 1

// MaxFileSize bounds what Parse reads: a policy is hand-written text, and a
// larger input is a mistake (or an attack on the parser).
const MaxFileSize = 8 << 20

// Document is a policy file. Each section is keyed by the objects' natural
// key: application name, approver login, rotation name, template key,
// webhook URL.
type Document struct {
	Version      int                    `yaml:"version"`
	Applications map[string]Application `yaml:"applications,omitempty"`
	Approvers    map[string]Approver    `yaml:"approvers,omitempty"`
	Rotations    map[string]Rotation    `yaml:"rotations,omitempty"`
	Templates    map[string]Template    `yaml:"templates,omitempty"`
	Webhooks     map[string]Webhook     `yaml:"webhooks,omitempty"`

	// file and lines locate objects and fields for problems found after
	// parsing (references checked against the database); both are empty
	// for documents built in code or by Export.
	file  string
	lines map[string]int
}

// Application declares a client of jitdesk. Its intake secret is never
// declared: jitdesk makes one when it creates the application.
type Application struct {
	// Audience is the aud of access tokens issued for the application (required).
	Audience string `yaml:"audience"`
	Limits   Limits `yaml:"limits,omitempty"`
	Disabled bool   `yaml:"disabled,omitempty"`
}

// Limits mirror approvals.AppLimits; 0 (or leaving a field out) means the
// product's default.
type Limits struct {
	MaxPending    int     `yaml:"max_pending,omitempty"`
	RatePerSecond float64 `yaml:"rate_per_second,omitempty"`
	Burst         int     `yaml:"burst,omitempty"`
	MaxLongPolls  int     `yaml:"max_long_polls,omitempty"`
}

// Approver declares a person who may review requests.
type Approver struct {
	Name   string   `yaml:"name"`
	Email  string   `yaml:"email,omitempty"`
	Groups []string `yaml:"groups,omitempty"`
	// Keys are the approver's SSH public keys as authorized_keys lines; a
	// key left out of the list is removed.
	Keys     []string `yaml:"keys,omitempty"`
	Auditor  bool     `yaml:"auditor,omitempty"`
	Disabled bool     `yaml:"disabled,omitempty"`
}

// Rotation declares an on-call schedule.
type Rotation struct {
	// Members are approver logins in hand-over order.
	Members []string `yaml:"members"`
	// Shift is how long each member holds the pager ("12h", "7d").
	Shift string `yaml:"shift"`
	// Start is when the first shift begins (RFC 3339).
	Start string `yaml:"start"`
	// Disabled removes the rotation (it cannot come back under its name).
	Disabled bool `yaml:"disabled,omitempty"`
}

// Template declares a kind of access an application may ask for.
type Template struct {
	App   string `yaml:"app"`
	Title string `yaml:"title"`
	// Name defaults to Title.
	Name string `yaml:"name,omitempty"`
	// Type is approve (the default) or sign_and_approve.
	Type      string   `yaml:"type,omitempty"`
	Approvers []string `yaml:"approvers,omitempty"`
	Groups    []string `yaml:"groups,omitempty"`
	OnCall    []string `yaml:"oncall,omitempty"`
	// Quorum defaults to 1.
	Quorum int `yaml:"quorum,omitempty"`
	// Durations default to the product's (1h, max(8h, default_ttl), 24h).
	DefaultTTL       string   `yaml:"default_ttl,omitempty"`
	MaxTTL           string   `yaml:"max_ttl,omitempty"`
	PendingTimeout   string   `yaml:"pending_timeout,omitempty"`
	MinReason        int      `yaml:"min_reason,omitempty"`
	Fields           []Field  `yaml:"fields,omitempty"`
	BreakGlassMaxTTL string   `yaml:"break_glass_max_ttl,omitempty"`
	BreakGlassGroups []string `yaml:"break_glass_groups,omitempty"`
	EscalateAfter    string   `yaml:"escalate_after,omitempty"`
	EscalateGroup    string   `yaml:"escalate_group,omitempty"`
	// RequireKeySignature refuses decisions not signed with the approver's
	// own SSH key.
	RequireKeySignature bool `yaml:"require_key_signature,omitempty"`
	Disabled            bool `yaml:"disabled,omitempty"`
}

// Field is one approval-data field of a template.
type Field struct {
	Name     string `yaml:"name" json:"name"`
	Default  string `yaml:"default,omitempty" json:"default,omitempty"`
	Required bool   `yaml:"required,omitempty" json:"required,omitempty"`
}

// Webhook declares a receiver of events. Its signing secret is never
// declared: jitdesk makes one when it adds the hook.
type Webhook struct {
	// Events filters what the hook receives; empty means every event.
	Events []string `yaml:"events,omitempty"`
	// Disabled removes the hook (as does leaving it out under --prune).
	Disabled bool `yaml:"disabled,omitempty"`
}

// Encode writes the document as YAML, sections and objects in key order,
// in the format Parse reads.
func (d *Document) Encode(w io.Writer) error {
	enc := yaml.NewEncoder(w)
	enc.SetIndent(2)
	if err := enc.Encode(d); err != nil {
		return fmt.Errorf("encode policy: %w", err)
	}
	if err := enc.Close(); err != nil {
		return fmt.Errorf("encode policy: %w", err)
	}
	return nil
}

// Parse reads a policy document (YAML; JSON is accepted, being YAML) from
// data; name is the file name used in problems. Every problem found is
// returned at once in an *Error: unknown fields, wrong types, duplicate
// keys, malformed durations, times, keys and URLs.
func Parse(name string, data []byte) (*Document, error) {
	ps := &problems{file: name}
	if len(data) > MaxFileSize {
		ps.add(0, "", "split it, or check it is the policy file", "file is %d bytes, more than the %d a policy may have", len(data), MaxFileSize)
		return nil, ps.err()
	}
	var root yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&root); err != nil && !errors.Is(err, io.EOF) {
		ps.add(0, "", "", "not valid YAML or JSON: %v", err)
		return nil, ps.err()
	}
	// A second document would be silently ignored by a plain decode.
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		ps.add(extra.Line, "", "put everything in one document (remove the `---` line)", "a policy file holds one document")
		return nil, ps.err()
	}
	if root.Kind != yaml.DocumentNode || len(root.Content) == 0 {
		ps.add(1, "", "start the file with `version: 1`", "the file is empty")
		return nil, ps.err()
	}
	w := &walker{ps: ps, lines: map[string]int{}}
	top := root.Content[0]
	w.walk(top, docType, "", "", "")
	doc := &Document{file: name, lines: w.lines}
	fill(top, doc)
	if len(ps.list) == 0 {
		// The strict decoder is the final word on the format: it agrees
		// with the walk unless the walk has a gap.
		dec := yaml.NewDecoder(bytes.NewReader(data))
		dec.KnownFields(true)
		var strict Document
		if err := dec.Decode(&strict); err != nil {
			ps.add(0, "", "", "%v", err)
		}
	}
	if _, err := doc.desired(w.bad); err != nil {
		if e, ok := err.(*Error); ok {
			ps.list = append(ps.list, e.Problems...)
		}
	}
	sort.SliceStable(ps.list, func(i, j int) bool { return ps.list[i].Line < ps.list[j].Line })
	if err := ps.err(); err != nil {
		return nil, err
	}
	return doc, nil
}

// fill decodes the document's nodes object by object, so that one object's
// mistakes (already reported by the walk, with their lines) leave the other
// objects decoded and checked: a wrong value stays zero, a second
// declaration of a key is skipped.
func fill(top *yaml.Node, doc *Document) {
	if top.Kind != yaml.MappingNode {
		return
	}
	dv := reflect.ValueOf(doc).Elem()
	names, _ := yamlFields(docType)
	for i := 0; i+1 < len(top.Content); i += 2 {
		k, v := top.Content[i], top.Content[i+1]
		idx := slices.Index(names, k.Value)
		if idx < 0 {
			continue
		}
		field := dv.Field(idx)
		if field.Kind() != reflect.Map {
			_ = v.Decode(field.Addr().Interface()) // a wrong type was reported by the walk
			continue
		}
		if v.Kind != yaml.MappingNode {
			continue
		}
		if field.IsNil() {
			field.Set(reflect.MakeMap(field.Type()))
		}
		for j := 0; j+1 < len(v.Content); j += 2 {
			key := reflect.ValueOf(v.Content[j].Value)
			if v.Content[j].Value == "" || field.MapIndex(key).IsValid() {
				continue
			}
			obj := reflect.New(field.Type().Elem())
			_ = v.Content[j+1].Decode(obj.Interface()) // wrong types were reported by the walk
			field.SetMapIndex(key, obj.Elem())
		}
	}
}
