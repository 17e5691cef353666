package store

import (
	"context"
	"database/sql"
	"slices"
	"strings"
	"testing"

	"github.com/jitdesk/jitdesk/approvals"
)

// Requesters and reasons with what a character index can get wrong: ASCII
// case (LIKE folds it), non-ASCII case (LIKE does not), multi-byte and
// four-byte characters, LIKE's own metacharacters, one-character and empty
// fields, spaces and tabs.
var (
	shortFilterRequesters = []string{"alice", "Bob", "ZOË", "émile", "日本語", "x", "a_b", "p%q", `back\slash`, "MiXeD", "user42"}
	shortFilterReasons    = []string{"", "rotate the cert", "Ünïcödé ß", "🙂 smile", "100% sure", "snake_case", "tab\tsep", "  spaced  ", "é", "ZZtop", "q"}
)

// seedShortFilterRows stores requests over every requester and reason,
// through each way rows arrive: a bulk load (some decided), Update with
// InsertRequest, one inserted and decided in the same transaction, and
// some decided afterwards. It returns how many it stored.
func seedShortFilterRows(t *testing.T, db *DB) int {
	t.Helper()
	ctx := context.Background()
	var bulk []approvals.Request
	i := 0
	next := func(requester, reason string, status approvals.Status) approvals.Request {
		r := req(i, []string{"k8s", "db"}[i%2], requester, status)
		r.Reason = reason
		i++
		return r
	}
	for _, who := range shortFilterRequesters {
		for k, why := range shortFilterReasons {
			status := approvals.StatusPending
			if k%4 == 3 {
				status = approvals.StatusDenied
			}
			bulk = append(bulk, next(who, why, status))
		}
	}
	if err := db.BulkInsertRequests(ctx, bulk, nil); err != nil {
		t.Fatal(err)
	}
	var later []string
	err := db.Update(ctx, func(tx approvals.Tx) error {
		for k, who := range shortFilterRequesters {
			r := next(who, shortFilterReasons[(k+5)%len(shortFilterReasons)]+" later", approvals.StatusPending)
			if err := tx.InsertRequest(r); err != nil {
				return err
			}
			if k%3 == 0 {
				later = append(later, r.ID)
			}
		}
		gone := next("zqgone", "decided at once", approvals.StatusPending)
		if err := tx.InsertRequest(gone); err != nil {
			return err
		}
		return tx.SetRequestStatus(gone.ID, approvals.StatusDenied, base, "bob", "")
	})
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(ctx, func(tx approvals.Tx) error {
		for _, id := range append(later, bulk[0].ID, bulk[13].ID) {
			if err := tx.SetRequestStatus(id, approvals.StatusApproved, base, "bob", ""); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return i
}

// shortFilters are every one- and two-character piece of the corpus, as
// written, upper-cased and lower-cased, and some that match nothing.
func shortFilters() []string {
	set := map[string]bool{}
	for _, f := range append(slices.Clone(shortFilterRequesters), append(shortFilterReasons, "zqgone")...) {
		rs := []rune(f)
		for i := range rs {
			for n := 1; n <= 2 && i+n <= len(rs); n++ {
				p := string(rs[i : i+n])
				set[p], set[strings.ToUpper(p)], set[strings.ToLower(p)] = true, true, true
			}
		}
	}
	return sortedFilters(set, "zq", "~", "☃", "%", "_", `\`, "%_", "ë", "Ë", "\U0001F642", "🙂 ", "K8", "wr")
}

// sortedFilters is set's filters and extra, sorted, without blank ones
// (the console does not search for those).
func sortedFilters(set map[string]bool, extra ...string) []string {
	for _, f := range extra {
		set[f] = true
	}
	out := make([]string, 0, len(set))
	for f := range set {
		if strings.TrimSpace(f) != "" {
			out = append(out, f)
		}
	}
	slices.Sort(out)
	return out
}

// likePending is what a filter over the pending scope must find: the rows
// SQLite's LIKE matches on requester or reason, or whose template's key or
// title it matches, in the scope's order.
func likePending(t *testing.T, db *DB, filter string) []string {
	t.Helper()
	pat := "%" + likeEscape(strings.TrimSpace(filter)) + "%"
	rows, err := db.read.Query(`SELECT r.id FROM requests r JOIN templates tm ON tm.key = r.template_key WHERE r.status = 'pending'
		AND (r.requester LIKE ?1 ESCAPE '\' OR r.reason LIKE ?1 ESCAPE '\' OR tm.key LIKE ?1 ESCAPE '\' OR tm.title LIKE ?1 ESCAPE '\')
		ORDER BY r.created_at, r.id`, pat)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		out = append(out, id)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// checkShortFilters compares every short filter's page and count with
// likePending, and returns how many of them the character-pair index
// answered (rather than the scan).
func checkShortFilters(t *testing.T, db *DB) (indexed int) {
	t.Helper()
	return checkPendingFilters(t, db, shortFilters())
}

// checkPendingFilters compares each filter's page and count over the
// pending scope with likePending, and returns how many of them a search
// index answered (rather than the scan).
func checkPendingFilters(t *testing.T, db *DB, filters []string) (indexed int) {
	t.Helper()
	ctx := context.Background()
	for _, f := range filters {
		want := likePending(t, db, f)
		err := db.View(ctx, func(rtx approvals.ReadTx) error {
			q := approvals.RequestQuery{Scope: approvals.ScopePending, Filter: f, Limit: 500}
			narrow, err := rtx.(*tx).narrowFilter(q)
			if err != nil {
				return err
			}
			if narrow != "" {
				indexed++
			}
			rs, err := rtx.Requests(q)
			if err != nil {
				return err
			}
			if got := idsOf(rs); !slices.Equal(got, want) {
				t.Errorf("filter %q (indexed: %v): %v, want %v", f, narrow != "", got, want)
			}
			n, err := rtx.CountRequests(q)
			if err != nil {
				return err
			}
			if n != len(want) {
				t.Errorf("filter %q: count %d, want %d", f, n, len(want))
			}
			return nil
		})
		if err != nil {
			t.Fatalf("filter %q: %v", f, err)
		}
	}
	return indexed
}

func TestShortPendingFiltersFindExactlyWhatLikeFinds(t *testing.T) {
	db := openTemp(t)
	seedBasics(t, db)
	seedShortFilterRows(t, db)
	indexed := checkShortFilters(t, db)
	// Most filters must have gone through the index, or this proves nothing
	// about it (those matching a template title take the scan).
	if total := len(shortFilters()); indexed < total*3/4 {
		t.Fatalf("only %d of %d short filters used the character-pair index", indexed, total)
	}
	var stale int
	if err := db.read.QueryRow(`SELECT COUNT(*) FROM requests_pending_grams g JOIN requests r ON r.rowid = g.rowid WHERE r.status <> 'pending'`).Scan(&stale); err != nil {
		t.Fatal(err)
	}
	if stale != 0 {
		t.Fatalf("%d decided requests are still in the pending index", stale)
	}
}

// A database that had pending requests before migration 0014 gets them
// indexed by the migration's SQL exactly as new rows are by pendingGrams.
func TestMigrationIndexesExistingPendingRowsAsNewOnesAre(t *testing.T) {
	db := openTemp(t)
	seedBasics(t, db)
	seedShortFilterRows(t, db)
	db = reopenAsOlder(t, db, `DROP TRIGGER requests_pending_grams_decide`, `DROP TABLE requests_pending_grams`, `PRAGMA user_version = 13`)
	if indexed := checkShortFilters(t, db); indexed == 0 {
		t.Fatal("no short filter used the index the migration built")
	}
}

func TestPendingGramsNameEachCharacterAndTheNext(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"", ""},
		{"a", "61x"},
		{"Ab", "6162 62x"},
		{"é", "c3a9x"},
		{"Zé", "7ac3a9 c3a9x"},
	} {
		if got := pendingGrams(c.in); got != c.want {
			t.Errorf("pendingGrams(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	if got := pendingGrams("ab", "c"); got != "6162 62x 63x" {
		t.Errorf("two fields: %q (a pair must not span fields)", got)
	}
	if got, want := pendingGramQuery("Z"), `"7a"*`; got != want {
		t.Errorf("one character: %s, want %s", got, want)
	}
	if got, want := pendingGramQuery("Zé"), `"7ac3a9"`; got != want {
		t.Errorf("two characters: %s, want %s", got, want)
	}
}

// reopenAsOlder closes db, runs stmts on its file outside the store (to
// make it look like an older schema, ending with the user_version it
// had), and opens it again, running the migrations since; the reopened
// store is closed when the test ends.
func reopenAsOlder(t *testing.T, db *DB, stmts ...string) *DB {
	t.Helper()
	path := db.Path()
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	raw, err := sql.Open("sqlite", writeDSN(path))
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range stmts {
		if _, err := raw.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if err := raw.Close(); err != nil {
		t.Fatal(err)
	}
	db, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}
