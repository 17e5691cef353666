package server

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// The API's behaviour is checked against openapi.yaml: every (method, path,
// status) the HTTP tests observe (recorded by env.do) must be documented,
// a method the document does not list for a path must have been answered 405,
// an undocumented path 404, and every documented operation must have been
// exercised with at least one success. The YAML is read with a small parser
// of the document's regular layout (paths at 2 spaces, methods at 4, status
// codes at 8), since no YAML module is in go.mod.

// specOps maps "METHOD /path" to its documented status codes.
func specOps(path string) (map[string][]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var (
		pathRe   = regexp.MustCompile(`^  (/\S*):\s*$`)
		methodRe = regexp.MustCompile(`^    (get|put|post|delete|patch|head|options):\s*$`)
		codeRe   = regexp.MustCompile(`^        '(\d{3})':\s*$`)
		ops      = map[string][]string{}
		inPaths  bool
		curPath  string
		curOp    string
		inResp   bool
	)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.TrimSpace(line) == "" {
			continue
		}
		if !strings.HasPrefix(line, " ") {
			inPaths = line == "paths:"
			curPath, curOp, inResp = "", "", false
			continue
		}
		if !inPaths {
			continue
		}
		if m := pathRe.FindStringSubmatch(line); m != nil {
			curPath, curOp, inResp = m[1], "", false
			continue
		}
		if m := methodRe.FindStringSubmatch(line); m != nil && curPath != "" {
			curOp, inResp = strings.ToUpper(m[1])+" "+curPath, false
			ops[curOp] = nil
			continue
		}
		if line == "      responses:" {
			inResp = curOp != ""
			continue
		}
		if strings.HasPrefix(line, "      ") && !strings.HasPrefix(line, "       ") {
			inResp = false // another key of the operation
		}
		if m := codeRe.FindStringSubmatch(line); m != nil && inResp {
			ops[curOp] = append(ops[curOp], m[1])
		}
	}
	return ops, sc.Err()
}

func TestOpenAPIDocumentParses(t *testing.T) {
	ops, err := specOps("openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{
		"GET /healthz": {"200"},
		"GET /readyz":  {"200", "503"},
		"GET /.well-known/oauth-authorization-server": {"200", "404"},
		"GET /.well-known/jwks.json":                  {"200", "304"},
		"GET /metrics":                                {"200", "404"},
		"POST /v1/requests":                           {"201", "400", "401", "403", "404", "413", "422", "429", "431"},
		"GET /v1/requests/{id}":                       {"200", "401", "403", "404", "429"},
		"GET /v1/requests/{id}/token":                 {"200", "401", "403", "404", "409", "410", "429"},
		"POST /v1/requests/{id}/cancel":               {"200", "401", "403", "404", "409", "429"},
		"POST /v1/introspect":                         {"200", "401", "403", "429"},
		"POST /v1/revoke":                             {"200", "401", "403", "429"},
	}
	if len(ops) != len(want) {
		t.Errorf("document has %d operations, want %d: %v", len(ops), len(want), ops)
	}
	for op, codes := range want {
		for _, c := range codes {
			if !slices.Contains(ops[op], c) {
				t.Errorf("%s: status %s is not documented (documented: %v)", op, c, ops[op])
			}
		}
	}
}

// checkContract runs after the tests (from TestMain) over what they observed.
func checkContract(full bool) []string {
	ops, err := specOps("openapi.yaml")
	if err != nil {
		return []string{err.Error()}
	}
	paths := map[string]bool{}
	for op := range ops {
		_, p, _ := strings.Cut(op, " ")
		paths[p] = true
	}
	var problems []string
	observed.Lock()
	defer observed.Unlock()
	exercised := map[string]bool{}
	for seen := range observed.m {
		parts := strings.Fields(seen) // METHOD PATH STATUS
		op, status := parts[0]+" "+parts[1], parts[2]
		switch {
		case !paths[parts[1]]:
			if status != "404" {
				problems = append(problems, fmt.Sprintf("%s: undocumented path answered %s, want 404", op, status))
			}
		case !documented(ops, op):
			if status != "405" {
				problems = append(problems, fmt.Sprintf("%s: method not documented for the path, answered %s, want 405", op, status))
			}
		case !slices.Contains(ops[op], status):
			problems = append(problems, fmt.Sprintf("%s answered %s, which openapi.yaml does not document (documented: %v)", op, status, ops[op]))
		}
		if strings.HasPrefix(status, "2") {
			exercised[op] = true
		}
	}
	if full {
		for op := range ops {
			if !exercised[op] {
				problems = append(problems, fmt.Sprintf("%s is documented but no test got a success from it", op))
			}
		}
	}
	slices.Sort(problems)
	return problems
}

func documented(ops map[string][]string, op string) bool {
	_, ok := ops[op]
	return ok
}

func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	if code == 0 {
		run := flag.Lookup("test.run")
		full := run == nil || run.Value.String() == ""
		if problems := checkContract(full); len(problems) > 0 {
			fmt.Fprintln(os.Stderr, "FAIL: the API does not match server/openapi.yaml:")
			for _, p := range problems {
				fmt.Fprintln(os.Stderr, "  "+p)
			}
			code = 1
		}
	}
	os.Exit(code)
}
