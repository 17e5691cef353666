package store

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/jitdesk/jitdesk/approvals"
)

// Rows whose every trigram of a filter is present without the filter
// itself: an index that keeps no positions finds them, and only the LIKE
// check keeps them out.
var scatteredReasons = []string{"abc-bcd", "rotate the cert; serta", "Needle haystack needlE", "x\"y\"z quoted"}

// longFilters are every three-to-twenty-character piece of the corpus, as
// written and upper-cased, and some crafted to fool a positionless index.
func longFilters() []string {
	set := map[string]bool{}
	for _, f := range append(append(slices.Clone(shortFilterRequesters), shortFilterReasons...), scatteredReasons...) {
		rs := []rune(f)
		for i := range rs {
			for n := 3; n <= 20 && i+n <= len(rs); n += 1 + n/4 {
				p := string(rs[i : i+n])
				set[p], set[strings.ToUpper(p)] = true, true
			}
		}
	}
	return sortedFilters(set, "abcd", "abc-bcd", "bcd-abc", "cert; certa", "e the cert; serta", "needle needle",
		`"y"`, `x"y`, "K8s", "k8s exec", "ZOË", "zoë", "🙂 s", "100%", "%_%", "no such text anywhere", "aaaaaaaaaaaaaaaaaaaaaaaa")
}

func TestTrigramFiltersFindExactlyWhatLikeFinds(t *testing.T) {
	db := openTemp(t)
	seedBasics(t, db)
	seedShortFilterRows(t, db)
	ctx := context.Background()
	err := db.Update(ctx, func(tx approvals.Tx) error {
		for i, why := range scatteredReasons {
			r := req(1000+i, "k8s", "scatter", approvals.StatusPending)
			r.Reason = why
			if err := tx.InsertRequest(r); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	indexed := checkPendingFilters(t, db, longFilters())
	// Filters matching a template's key or title take the scan; most of
	// the rest must have used the index, or this proves nothing about it.
	if total := len(longFilters()); indexed < total/2 {
		t.Fatalf("only %d of %d filters used the trigram index", indexed, total)
	}
}

func TestTrigramQueryTakesDistinctTrigramsFromFirstToLastUpToItsBound(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"abc", `"abc"`},
		{"abcd", `"abc" "bcd"`},
		{"aaaaa", `"aaa"`},
		{`a"bc`, `"a""b" """bc"`},
		{"日本語だ", `"日本語" "本語だ"`},
		{"abcdefgh", `"abc" "bcd" "cde" "def" "efg" "fgh"`},
	} {
		if got := trigramQuery(c.in); got != c.want {
			t.Errorf("trigramQuery(%q) = %s, want %s", c.in, got, c.want)
		}
	}
	long := "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ" // 62 runes, 60 distinct trigrams
	terms := strings.Fields(trigramQuery(long))
	if len(terms) != maxQueryTrigrams {
		t.Fatalf("%d terms for a filter of 60 trigrams, want %d", len(terms), maxQueryTrigrams)
	}
	if terms[0] != `"abc"` || terms[len(terms)-1] != `"XYZ"` {
		t.Fatalf("terms must span the filter from its first trigram to its last: %v", terms)
	}
	if len(slices.Compact(slices.Sorted(slices.Values(terms)))) != len(terms) {
		t.Fatalf("duplicate terms: %v", terms)
	}
}

// A database from before migration 0015 (the index with positions and the
// template key) gets every request indexed again by the migration.
func TestMigrationRebuildsTheSearchIndexFromEveryRequest(t *testing.T) {
	db := openTemp(t)
	seedBasics(t, db)
	seedShortFilterRows(t, db)
	db = reopenAsOlder(t, db, `DROP TABLE requests_search`,
		`CREATE VIRTUAL TABLE requests_search USING fts5(requester, template_key, reason, tokenize = 'trigram', content = '', contentless_delete = 1)`,
		`PRAGMA user_version = 14`)
	ctx := context.Background()
	for _, f := range []string{"rotate", "émile", "snake_case", "100% sure", "user42"} {
		want := likePending(t, db, f)
		if len(want) == 0 {
			t.Fatalf("filter %q matches nothing: the corpus changed", f)
		}
		err := db.View(ctx, func(rtx approvals.ReadTx) error {
			q := approvals.RequestQuery{Scope: approvals.ScopePending, Filter: f, Limit: 500}
			narrow, err := rtx.(*tx).narrowFilter(q)
			if err != nil {
				return err
			}
			if narrow == "" {
				t.Errorf("filter %q did not use the rebuilt index", f)
			}
			rs, err := rtx.Requests(q)
			if err != nil {
				return err
			}
			if got := idsOf(rs); !slices.Equal(got, want) {
				t.Errorf("filter %q: %v, want %v", f, got, want)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}
