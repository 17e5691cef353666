package policy

import (
	"fmt"
	"strconv"
	"strings"
)

// Problem is one thing wrong with a policy file: where it is, what is
// wrong and, when there is one, what to write instead.
type Problem struct {
	File string `json:"file"`
	// Line is 1-based; 0 when the problem has no place in the file (an
	// object of the database that the file leaves out).
	Line int `json:"line,omitempty"`
	// Object names what the problem is about (`template "db-write"`); empty
	// for the document as a whole.
	Object  string `json:"object,omitempty"`
	Message string `json:"message"`
	// Hint says what to write instead; empty when the message says it.
	Hint string `json:"hint,omitempty"`
	// Err is the underlying error when the Service refused a change.
	Err error `json:"-"`
}

// String renders the problem as `file:line: object: message — hint`.
func (p Problem) String() string {
	var b strings.Builder
	b.WriteString(p.File)
	if p.Line > 0 {
		b.WriteString(":")
		b.WriteString(strconv.Itoa(p.Line))
	}
	if b.Len() > 0 {
		b.WriteString(": ")
	}
	if p.Object != "" {
		b.WriteString(p.Object)
		b.WriteString(": ")
	}
	b.WriteString(p.Message)
	if p.Hint != "" {
		b.WriteString(" — ")
		b.WriteString(p.Hint)
	}
	return b.String()
}

// Error lists every problem found in a policy file. Parse and Apply return
// it (as *Error) when they refuse a file; nothing has been written then.
type Error struct {
	Problems []Problem
}

// Error renders every problem, one a line, in file order.
func (e *Error) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// Unwrap gives the Service's errors behind the problems, so a caller can
// still branch on approvals.ErrInvalid, ErrConflict and the like.
func (e *Error) Unwrap() []error {
	var out []error
	for _, p := range e.Problems {
		if p.Err != nil {
			out = append(out, p.Err)
		}
	}
	return out
}

// problems collects Problems for one file.
type problems struct {
	file string
	list []Problem
}

func (ps *problems) add(line int, object, hint, format string, args ...any) {
	ps.list = append(ps.list, Problem{File: ps.file, Line: line, Object: object, Message: fmt.Sprintf(format, args...), Hint: hint})
}

func (ps *problems) err() error {
	if len(ps.list) == 0 {
		return nil
	}
	return &Error{Problems: ps.list}
}

// closest returns the candidate nearest to s when it is a plausible typo.
func closest(s string, candidates []string) (string, bool) {
	best, bestD := "", len(s)+1
	for _, c := range candidates {
		if d := editDistance(s, c); d < bestD {
			best, bestD = c, d
		}
	}
	return best, bestD <= max(1, min(3, len(s)/3))
}

// editDistance is the Levenshtein distance between a and b (bytes: field
// names are ASCII).
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
