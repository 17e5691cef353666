package pgtest_test

import (
	"context"
	"net/url"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/jitdesk/jitdesk/pgstore/pgtest"
)

func TestEachOpenGetsItsOwnDatabaseDroppedWhenTheTestEnds(t *testing.T) {
	cluster := pgtest.ClusterDSN(t)
	var names []string
	t.Run("two databases", func(t *testing.T) {
		a, b := pgtest.Open(t), pgtest.Open(t)
		if a.Name() == b.Name() {
			t.Fatalf("both opens got %s", a.Name())
		}
		pgtest.Exec(t, a, `CREATE TABLE only_in_a (x INT); INSERT INTO only_in_a VALUES (7)`)
		var x int
		pgtest.QueryRow(t, a, `SELECT x FROM only_in_a`, &x)
		if x != 7 {
			t.Fatalf("read back %d, want 7", x)
		}
		var seen bool
		pgtest.QueryRow(t, b, `SELECT EXISTS (SELECT 1 FROM pg_tables WHERE tablename = 'only_in_a')`, &seen)
		if seen {
			t.Fatal("a table made in one test database shows in the other")
		}
		for _, db := range []string{a.Name(), b.Name()} {
			u, _ := url.Parse(db)
			names = append(names, strings.Trim(u.Path, "/"))
		}
	})
	c, err := pgx.Connect(context.Background(), cluster)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	for _, n := range names {
		var left bool
		if err := c.QueryRow(context.Background(), `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, n).Scan(&left); err != nil {
			t.Fatal(err)
		}
		if left {
			t.Errorf("database %s still exists after its test ended", n)
		}
	}
	if len(names) != 2 {
		t.Fatalf("subtest recorded %d databases", len(names))
	}
}
