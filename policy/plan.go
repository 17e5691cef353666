package policy

import (
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"
)

// Action is what a change does to its object.
type Action string

// Actions of a plan. Nothing is ever deleted: objects are disabled (a
// webhook or rotation "disabled" is removed, as jitdesk removes them: its
// history stays).
const (
	Create  Action = "create"
	Update  Action = "update"
	Disable Action = "disable"
)

// Kind names the type of object a change is about.
type Kind string

// Object kinds, in the order a plan lists them.
const (
	KindApplication Kind = "application"
	KindApprover    Kind = "approver"
	KindRotation    Kind = "rotation"
	KindTemplate    Kind = "template"
	KindWebhook     Kind = "webhook"
)

// FieldChange is one field of a change: From is nil for a create.
type FieldChange struct {
	Field string `json:"field"`
	From  any    `json:"from,omitempty"`
	To    any    `json:"to"`
}

// Change is one object's change, field by field.
type Change struct {
	Action Action        `json:"action"`
	Kind   Kind          `json:"kind"`
	Key    string        `json:"key"`
	Fields []FieldChange `json:"fields,omitempty"`
	// Notes say what else happens (a webhook re-created with a new secret,
	// tokens keeping an old audience).
	Notes []string `json:"notes,omitempty"`

	line  int    // where the object is declared (0: not in the file)
	steps []step // what Apply runs, each in its phase
}

// Plan is the ordered list of changes Apply makes (or, dry, would make).
type Plan struct {
	Changes []Change `json:"changes"`
}

// Empty reports whether the plan changes nothing.
func (p Plan) Empty() bool { return len(p.Changes) == 0 }

// Counts returns how many changes create, update and disable.
func (p Plan) Counts() (create, update, disable int) {
	for _, c := range p.Changes {
		switch c.Action {
		case Create:
			create++
		case Update:
			update++
		case Disable:
			disable++
		}
	}
	return create, update, disable
}

// Render writes the plan for people, one change and its fields a line
// each, in plan order; "No changes." when there are none. Every value is
// quoted, so nothing in a file or the database can forge a line.
func (p Plan) Render(w io.Writer) error {
	var b strings.Builder
	if p.Empty() {
		b.WriteString("No changes.\n")
	}
	for _, c := range p.Changes {
		fmt.Fprintf(&b, "%s %s %s\n", c.Action, c.Kind, strconv.Quote(c.Key))
		for _, f := range c.Fields {
			if f.From == nil {
				fmt.Fprintf(&b, "    %s: %s\n", f.Field, renderValue(f.To))
			} else {
				fmt.Fprintf(&b, "    %s: %s → %s\n", f.Field, renderValue(f.From), renderValue(f.To))
			}
		}
		for _, n := range c.Notes {
			fmt.Fprintf(&b, "    note: %s\n", n)
		}
	}
	if !p.Empty() {
		cr, up, di := p.Counts()
		fmt.Fprintf(&b, "\nPlan: %d to create, %d to update, %d to disable.\n", cr, up, di)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func renderValue(v any) string {
	switch v := v.(type) {
	case string:
		return strconv.Quote(v)
	case []string:
		q := make([]string, len(v))
		for i, s := range v {
			q[i] = strconv.Quote(s)
		}
		return "[" + strings.Join(q, ", ") + "]"
	case []Field:
		q := make([]string, len(v))
		for i, f := range v {
			q[i] = strconv.Quote(f.Name)
			if f.Default != "" {
				q[i] += " = " + strconv.Quote(f.Default)
			}
			if f.Required {
				q[i] += " (required)"
			}
		}
		return "[" + strings.Join(q, ", ") + "]"
	case float64:
		return strconv.FormatFloat(v, 'g', -1, 64)
	case int, bool:
		return fmt.Sprint(v)
	}
	return strconv.Quote(fmt.Sprint(v))
}

// kv is one field of an object as a plan shows it.
type kv struct {
	name string
	v    any
}

// createFields lists the fields a new object gets, leaving out empty ones.
func createFields(to []kv) []FieldChange {
	var out []FieldChange
	for _, f := range to {
		if !isZero(f.v) {
			out = append(out, FieldChange{Field: f.name, To: f.v})
		}
	}
	return out
}

// diffFields lists the fields that differ, in the order of to.
func diffFields(from, to []kv) []FieldChange {
	old := map[string]any{}
	for _, f := range from {
		old[f.name] = f.v
	}
	var out []FieldChange
	for _, f := range to {
		if o := old[f.name]; !reflect.DeepEqual(o, f.v) {
			out = append(out, FieldChange{Field: f.name, From: o, To: f.v})
		}
	}
	return out
}

func isZero(v any) bool {
	if v == nil {
		return true
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() == reflect.Slice {
		return rv.Len() == 0
	}
	return rv.IsZero()
}

// list keeps an empty list as [] (not nil), so fields compare and marshal alike.
func list(v []string) []string {
	if v == nil {
		return []string{}
	}
	return v
}
