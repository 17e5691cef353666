package pgstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/jitdesk/jitdesk/approvals"
)

// Moving a deployment from SQLite to PostgreSQL (`jitdesk migrate`): every
// row is copied as it is stored, not replayed through the Service, so the
// audit chain (whose hashes cover the stored payloads), sealed secrets
// (bound to their row ids, same master key) and signatures stay
// byte-identical and verify on the target as they did on the source.

// ErrNotEmpty: the target database already holds jitdesk data; an import
// never merges into it.
var ErrNotEmpty = errors.New("the target database is not empty")

// ErrSchemaMismatch: the SQLite database's schema version is not the one
// this build's PostgreSQL schema has (ErrSchemaTooNew when it is newer).
var ErrSchemaMismatch = errors.New("the source database's schema version differs from this build's")

// TableCount is how many rows one table holds.
type TableCount struct {
	Table string
	Rows  int64
}

// ImportReport is what ImportSQLite copied, table by table in copy order.
type ImportReport struct {
	Tables []TableCount
}

// Rows is the number of rows copied in all.
func (r ImportReport) Rows() int64 {
	var n int64
	for _, t := range r.Tables {
		n += t.Rows
	}
	return n
}

// IsEmpty reports whether db holds no jitdesk data at all: no row in any
// table but the schema version's.
func IsEmpty(ctx context.Context, db *DB) (bool, error) {
	tables, err := db.tables(ctx, db.pool)
	if err != nil {
		return false, err
	}
	for _, t := range tables {
		var any bool
		if err := db.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM `+pgx.Identifier{t.name}.Sanitize()+`)`).Scan(&any); err != nil {
			return false, fmt.Errorf("look into %s.%s: %w", db.name, t.name, err)
		}
		if any {
			return false, nil
		}
	}
	return true, nil
}

// ImportSQLite copies every row of the SQLite database src (opened
// read-only by the caller, e.g. database/sql with modernc.org/sqlite and
// mode=ro) into db, in one write transaction on db: either all of it lands
// or nothing does. It refuses a target holding any row already
// (ErrNotEmpty) and a source whose schema version differs from this
// build's (ErrSchemaMismatch, or approvals.ErrSchemaTooNew), and fails on a
// source table or column the PostgreSQL schema has no place for, rather
// than dropping data. The source is read in one read transaction, so a
// writer still running against it cannot tear the copy (the counts then
// differ from a later look, which a verifying caller notices).
//
// Values are mapped as the PostgreSQL schema types them: INTEGER 0/1 to
// BOOLEAN, BLOB (or TEXT) to BYTEA, INTEGER to BIGINT/INTEGER, REAL to
// DOUBLE PRECISION; identity columns' sequences are moved past the copied
// ids.
func ImportSQLite(ctx context.Context, db *DB, src *sql.DB) (ImportReport, error) {
	var rep ImportReport
	stx, err := src.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return rep, fmt.Errorf("import: read the SQLite database: %w", err)
	}
	defer stx.Rollback()
	var version int
	if err := stx.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&version); err != nil {
		return rep, fmt.Errorf("import: read the SQLite schema version: %w", err)
	}
	switch known := SchemaVersion(); {
	case version > known:
		return rep, fmt.Errorf("import: %w: the SQLite database has schema version %d, this build supports up to %d; upgrade jitdesk", approvals.ErrSchemaTooNew, version, known)
	case version < known:
		return rep, fmt.Errorf("import: %w: the SQLite database has schema version %d, this build's is %d: open it once with this jitdesk (e.g. jitdesk --db PATH audit verify) to upgrade it, then import", ErrSchemaMismatch, version, known)
	}
	srcTables, err := sqliteTables(ctx, stx)
	if err != nil {
		return rep, err
	}
	err = db.Update(ctx, func(atx approvals.Tx) error {
		t := atx.(*tx)
		tables, err := db.tables(ctx, t.conn)
		if err != nil {
			return err
		}
		known := map[string]bool{}
		for _, tb := range tables {
			known[tb.name] = true
			var any bool
			if err := t.conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM `+pgx.Identifier{tb.name}.Sanitize()+`)`).Scan(&any); err != nil {
				return fmt.Errorf("import: look into %s: %w", tb.name, err)
			}
			if any {
				return fmt.Errorf("import into %s: %w: table %s has rows (import only into a database no jitdesk has used; `jitdesk init` must not have run on it)", db.name, ErrNotEmpty, tb.name)
			}
		}
		for _, name := range srcTables {
			if !known[name] {
				return fmt.Errorf("import: the SQLite table %s has no counterpart in the PostgreSQL schema", name)
			}
		}
		for _, tb := range tables {
			n, err := copyTable(ctx, t.conn, stx, tb)
			if err != nil {
				return fmt.Errorf("import table %s: %w", tb.name, err)
			}
			rep.Tables = append(rep.Tables, TableCount{Table: tb.name, Rows: n})
			for _, c := range tb.cols {
				if !c.identity {
					continue
				}
				q := fmt.Sprintf(`SELECT setval(pg_get_serial_sequence('%s', '%s'), COALESCE(MAX(%s), 0) + 1, false) FROM %s`,
					tb.name, c.name, pgx.Identifier{c.name}.Sanitize(), pgx.Identifier{tb.name}.Sanitize())
				if _, err := t.conn.Exec(ctx, q); err != nil {
					return fmt.Errorf("import table %s: move the %s sequence past the copied ids: %w", tb.name, c.name, err)
				}
			}
		}
		return nil
	})
	if err != nil {
		return ImportReport{}, err
	}
	return rep, nil
}

// CountRows counts the rows of every table of db's schema but the schema
// version's, by table name: what an import's caller compares with the
// source's.
func CountRows(ctx context.Context, db *DB) ([]TableCount, error) {
	tables, err := db.tables(ctx, db.pool)
	if err != nil {
		return nil, err
	}
	var out []TableCount
	for _, t := range tables {
		var n int64
		if err := db.pool.QueryRow(ctx, `SELECT COUNT(*) FROM `+pgx.Identifier{t.name}.Sanitize()).Scan(&n); err != nil {
			return nil, fmt.Errorf("count %s.%s: %w", db.name, t.name, err)
		}
		out = append(out, TableCount{Table: t.name, Rows: n})
	}
	return out, nil
}

// CountSQLiteRows counts the rows of the same tables in the SQLite
// database src, for comparison with CountRows.
func CountSQLiteRows(ctx context.Context, db *DB, src *sql.DB) ([]TableCount, error) {
	tables, err := db.tables(ctx, db.pool)
	if err != nil {
		return nil, err
	}
	var out []TableCount
	for _, t := range tables {
		var n int64
		if err := src.QueryRowContext(ctx, `SELECT COUNT(*) FROM "`+t.name+`"`).Scan(&n); err != nil {
			return nil, fmt.Errorf("count SQLite %s: %w", t.name, err)
		}
		out = append(out, TableCount{Table: t.name, Rows: n})
	}
	return out, nil
}

type pgColumn struct {
	name, typ string // typ: information_schema data_type
	identity  bool
}

type pgTable struct {
	name string
	cols []pgColumn
}

type queryer interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// tables lists the schema's tables (but the schema version's) with their
// columns, parents before the tables whose foreign keys refer to them, so
// rows can be inserted in that order.
func (db *DB) tables(ctx context.Context, q queryer) ([]pgTable, error) {
	rows, err := q.Query(ctx, `SELECT c.table_name, c.column_name, c.data_type, c.is_identity = 'YES'
		FROM information_schema.columns c JOIN information_schema.tables t
		  ON t.table_schema = c.table_schema AND t.table_name = c.table_name
		WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE' AND c.table_name <> $1
		ORDER BY c.table_name, c.ordinal_position`, schemaTable)
	if err != nil {
		return nil, fmt.Errorf("list the tables of %s: %w", db.name, err)
	}
	byName := map[string]*pgTable{}
	var names []string
	for rows.Next() {
		var tn string
		var c pgColumn
		if err := rows.Scan(&tn, &c.name, &c.typ, &c.identity); err != nil {
			rows.Close()
			return nil, fmt.Errorf("list the tables of %s: %w", db.name, err)
		}
		t := byName[tn]
		if t == nil {
			t = &pgTable{name: tn}
			byName[tn] = t
			names = append(names, tn)
		}
		t.cols = append(t.cols, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list the tables of %s: %w", db.name, err)
	}
	deps := map[string][]string{}
	rows, err = q.Query(ctx, `SELECT c.conrelid::regclass::text, c.confrelid::regclass::text
		FROM pg_constraint c WHERE c.contype = 'f' AND c.connamespace = current_schema()::regnamespace`)
	if err != nil {
		return nil, fmt.Errorf("list the foreign keys of %s: %w", db.name, err)
	}
	for rows.Next() {
		var child, parent string
		if err := rows.Scan(&child, &parent); err != nil {
			rows.Close()
			return nil, fmt.Errorf("list the foreign keys of %s: %w", db.name, err)
		}
		if child != parent {
			deps[child] = append(deps[child], parent)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list the foreign keys of %s: %w", db.name, err)
	}
	sort.Strings(names)
	var out []pgTable
	state := map[string]int{} // 1 visiting, 2 done
	var visit func(string) error
	visit = func(n string) error {
		switch state[n] {
		case 1:
			return fmt.Errorf("the foreign keys of %s form a cycle through %s", db.name, n)
		case 2:
			return nil
		}
		state[n] = 1
		for _, p := range deps[n] {
			if byName[p] != nil {
				if err := visit(p); err != nil {
					return err
				}
			}
		}
		state[n] = 2
		out = append(out, *byName[n])
		return nil
	}
	for _, n := range names {
		if err := visit(n); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// sqliteTables lists the SQLite database's own tables: not SQLite's
// internal ones, nor virtual tables (the full-text index, which the
// PostgreSQL schema replaces with a pg_trgm index) and their shadow tables.
func sqliteTables(ctx context.Context, stx *sql.Tx) ([]string, error) {
	rows, err := stx.QueryContext(ctx, `SELECT name, COALESCE(sql, '') FROM sqlite_master WHERE type = 'table' ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("import: list the SQLite tables: %w", err)
	}
	defer rows.Close()
	type tbl struct{ name, sql string }
	var all []tbl
	for rows.Next() {
		var t tbl
		if err := rows.Scan(&t.name, &t.sql); err != nil {
			return nil, fmt.Errorf("import: list the SQLite tables: %w", err)
		}
		all = append(all, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("import: list the SQLite tables: %w", err)
	}
	var virtual []string
	for _, t := range all {
		if strings.HasPrefix(strings.ToUpper(strings.TrimSpace(t.sql)), "CREATE VIRTUAL TABLE") {
			virtual = append(virtual, t.name)
		}
	}
	var out []string
next:
	for _, t := range all {
		if strings.HasPrefix(t.name, "sqlite_") {
			continue
		}
		for _, v := range virtual {
			if t.name == v || strings.HasPrefix(t.name, v+"_") {
				continue next
			}
		}
		out = append(out, t.name)
	}
	return out, nil
}

// copyTable copies one table's rows from the SQLite transaction into the
// PostgreSQL connection (COPY, inside the import's transaction). Columns
// are named from the PostgreSQL side: a column the SQLite table lacks is an
// error from SQLite, and one it has beyond them is refused.
func copyTable(ctx context.Context, conn *pgx.Conn, stx *sql.Tx, t pgTable) (int64, error) {
	srcCols, err := sqliteColumns(ctx, stx, t.name)
	if err != nil {
		return 0, err
	}
	want := map[string]bool{}
	names := make([]string, len(t.cols))
	quoted := make([]string, len(t.cols))
	for i, c := range t.cols {
		want[c.name] = true
		names[i] = c.name
		quoted[i] = `"` + c.name + `"`
	}
	for _, c := range srcCols {
		if !want[c] {
			return 0, fmt.Errorf("the SQLite column %s.%s has no counterpart in the PostgreSQL schema", t.name, c)
		}
	}
	rows, err := stx.QueryContext(ctx, `SELECT `+strings.Join(quoted, ", ")+` FROM "`+t.name+`"`)
	if err != nil {
		return 0, fmt.Errorf("read SQLite %s: %w", t.name, err)
	}
	defer rows.Close()
	src := &sqliteRows{rows: rows, table: t, vals: make([]any, len(t.cols))}
	n, err := conn.CopyFrom(ctx, pgx.Identifier{t.name}, names, src)
	if src.err != nil {
		return 0, src.err
	}
	if err != nil {
		return 0, dbErr("copy rows", err, approvals.ErrConflict)
	}
	return n, nil
}

func sqliteColumns(ctx context.Context, stx *sql.Tx, table string) ([]string, error) {
	rows, err := stx.QueryContext(ctx, `SELECT name FROM pragma_table_info(?)`, table)
	if err != nil {
		return nil, fmt.Errorf("read the SQLite columns of %s: %w", table, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, fmt.Errorf("read the SQLite columns of %s: %w", table, err)
		}
		out = append(out, n)
	}
	return out, rows.Err()
}

// sqliteRows feeds SQLite rows to COPY as pgx.CopyFromSource, converting
// each value to its PostgreSQL column's type.
type sqliteRows struct {
	rows  *sql.Rows
	table pgTable
	vals  []any
	row   int64
	err   error
}

func (s *sqliteRows) Next() bool {
	if s.err != nil || !s.rows.Next() {
		if s.err == nil {
			s.err = s.rows.Err()
		}
		return false
	}
	s.row++
	raw := make([]any, len(s.vals))
	ptrs := make([]any, len(raw))
	for i := range raw {
		ptrs[i] = &raw[i]
	}
	if err := s.rows.Scan(ptrs...); err != nil {
		s.err = fmt.Errorf("read SQLite %s row %d: %w", s.table.name, s.row, err)
		return false
	}
	for i, c := range s.table.cols {
		v, err := convert(raw[i], c.typ)
		if err != nil {
			s.err = fmt.Errorf("SQLite %s row %d, column %s: %w", s.table.name, s.row, c.name, err)
			return false
		}
		s.vals[i] = v
	}
	return true
}

func (s *sqliteRows) Values() ([]any, error) { return s.vals, nil }

func (s *sqliteRows) Err() error { return s.err }

// convert maps a SQLite value to what the PostgreSQL column of type typ
// (information_schema's data_type) takes, refusing anything that would
// change meaning (a boolean column holding 2, text where a number goes).
func convert(v any, typ string) (any, error) {
	if v == nil {
		return nil, nil
	}
	switch typ {
	case "boolean":
		n, ok := v.(int64)
		if !ok || (n != 0 && n != 1) {
			return nil, fmt.Errorf("want 0 or 1 for a boolean, have %T", v)
		}
		return n == 1, nil
	case "bytea":
		switch x := v.(type) {
		case []byte:
			return x, nil
		case string:
			return []byte(x), nil
		}
	case "bigint":
		if n, ok := v.(int64); ok {
			return n, nil
		}
	case "integer":
		if n, ok := v.(int64); ok && n >= math.MinInt32 && n <= math.MaxInt32 {
			return int32(n), nil
		}
	case "double precision":
		switch x := v.(type) {
		case float64:
			return x, nil
		case int64:
			return float64(x), nil
		}
	case "text":
		switch x := v.(type) {
		case string:
			return x, nil
		case []byte:
			return string(x), nil
		}
	default:
		return nil, fmt.Errorf("the PostgreSQL column type %s is not one an import knows", typ)
	}
	return nil, fmt.Errorf("a %T does not fit a %s column", v, typ)
}
