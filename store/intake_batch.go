package store

import (
	"errors"
	"fmt"
	"math/bits"
	"strings"
	"time"

	"github.com/jitdesk/jitdesk/approvals"
)

// What a group-committed intake batch uses beyond approvals.Tx
// (approvals.BatchTx): its rows written several to a statement, because
// the writer goroutine is intake's bottleneck and each statement costs a
// fixed overhead (binding, a statement journal, triggers set up) besides
// its rows.

var _ approvals.BatchTx = (*tx)(nil)

// maxChunk is the most rows one multi-row statement writes. A batch is
// written in chunks of powers of two up to it, so each kind of statement
// has only eight shapes to prepare and cache (stmtCache is bounded).
const maxChunk = 128

// chunks splits n rows into power-of-two chunk sizes, largest first.
func chunks(n int) []int {
	var out []int
	for n > 0 {
		size := min(maxChunk, 1<<(bits.Len(uint(n))-1))
		out = append(out, size)
		n -= size
	}
	return out
}

// chunkShapes is a multi-row statement's text for each chunk size chunks
// yields (1, 2, 4, … maxChunk), built once: the writer would otherwise
// build the same strings for every batch only to find them in stmtCache.
type chunkShapes [8]string

// newChunkShapes builds the shapes of one statement from its text for n
// rows.
func newChunkShapes(sql func(n int) string) chunkShapes {
	var c chunkShapes
	for i := range c {
		c[i] = sql(1 << i)
	}
	return c
}

// of is the statement for a chunk of n rows (a power of two ≤ maxChunk).
func (c *chunkShapes) of(n int) string { return c[bits.Len(uint(n))-1] }

// The batch statements, read-only after package initialisation.
var (
	insertJTIsShapes = newChunkShapes(func(n int) string {
		return `INSERT INTO intake_jtis (app_id, jti, exp) VALUES ` + valuesSQL(n, 3) + ` ON CONFLICT DO NOTHING RETURNING app_id, jti`
	})
	insertRequestsShapes = newChunkShapes(func(n int) string {
		return strings.Replace(insertRequestSQL, valuesSQL(1, insertRequestArgs), valuesSQL(n, insertRequestArgs), 1) + ` RETURNING rowid, id`
	})
	insertAuditShapes = newChunkShapes(func(n int) string {
		return strings.Replace(insertAuditSQL, valuesSQL(1, 8), valuesSQL(n, 8), 1)
	})
)

// insertRequestArgs is how many values insertRequestSQL binds per row.
const insertRequestArgs = 16

// valuesSQL is "(?, …), (?, …)…": rows groups of cols placeholders.
func valuesSQL(rows, cols int) string {
	one := "(?" + strings.Repeat(", ?", cols-1) + ")"
	return one + strings.Repeat(", "+one, rows-1)
}

// UseIntakeJTIs records each (AppID, JTI) as UseIntakeJTI does, in as few
// statements as the chunks allow. fresh[i] is false when jtis[i] was
// recorded already, before this call or earlier in jtis (the first of two
// equal ids is the fresh one); nothing else about that id changes.
func (t *tx) UseIntakeJTIs(jtis []approvals.IntakeJTI, now time.Time) ([]bool, error) {
	fresh := make([]bool, len(jtis))
	type key struct{ app, jti string }
	at := make(map[key][]int, len(jtis)) // positions of each id, in order
	done := 0
	for _, n := range chunks(len(jtis)) {
		part := jtis[done : done+n]
		args := make([]any, 0, 3*n)
		for i, j := range part {
			k := key{j.AppID, j.JTI}
			at[k] = append(at[k], done+i)
			args = append(args, j.AppID, j.JTI, ms(j.Exp))
		}
		// DO NOTHING skips an id recorded already (also by an earlier
		// row of the same statement); RETURNING names those inserted.
		rows, err := t.query(insertJTIsShapes.of(n), args...)
		if err != nil {
			return nil, fmt.Errorf("record %d intake jtis: %w", n, err)
		}
		for rows.Next() {
			var k key
			if err := rows.Scan(&k.app, &k.jti); err != nil {
				rows.Close()
				return nil, fmt.Errorf("record %d intake jtis: %w", n, err)
			}
			if pos := at[k]; len(pos) > 0 {
				fresh[pos[0]] = true
			}
		}
		if err := errors.Join(rows.Err(), rows.Close()); err != nil {
			return nil, fmt.Errorf("record %d intake jtis: %w", n, err)
		}
		done += n
	}
	if err := t.pruneJTIs(now); err != nil {
		return nil, err
	}
	return fresh, nil
}

// InsertRequests stores new requests as InsertRequest does (ErrConflict
// on a duplicate id, and so on), several to a statement; on an error none
// of the failing statement's rows is stored.
func (t *tx) InsertRequests(reqs []approvals.Request) error {
	done := 0
	for _, n := range chunks(len(reqs)) {
		part := reqs[done : done+n]
		args := make([]any, 0, insertRequestArgs*n)
		for _, r := range part {
			a, err := requestArgs(r)
			if err != nil {
				return fmt.Errorf("insert request %s: %w", r.ID, err)
			}
			args = append(args, a...)
		}
		what := fmt.Sprintf("insert %d requests (%s…)", n, part[0].ID)
		rows, err := t.query(insertRequestsShapes.of(n), args...)
		if err != nil {
			return dbErr(what, err, approvals.ErrConflict)
		}
		// RETURNING's order is not promised, so each row's rowid is
		// matched to its request by id for the search indexes (indexNew).
		rowid := make(map[string]int64, n)
		for rows.Next() {
			var rid int64
			var id string
			if err := rows.Scan(&rid, &id); err != nil {
				rows.Close()
				return fmt.Errorf("%s: %w", what, err)
			}
			rowid[id] = rid
		}
		if err := errors.Join(rows.Err(), rows.Close()); err != nil {
			return dbErr(what, err, approvals.ErrConflict)
		}
		if len(rowid) != n {
			return fmt.Errorf("%s: %d rows stored", what, len(rowid))
		}
		for _, r := range part {
			t.newRows = append(t.newRows, rowid[r.ID])
			t.toPendingIndex(r)
		}
		done += n
	}
	return nil
}

// AppendAuditEvents appends evs to the chain in order, exactly as that
// many AppendAudit calls would (the same seqs and hashes), several to a
// statement, and returns them as stored.
func (t *tx) AppendAuditEvents(evs []approvals.AuditEvent) ([]approvals.AuditEvent, error) {
	if !t.headKnown {
		seq, head, err := t.AuditHead()
		if err != nil {
			return nil, err
		}
		t.headSeq, t.headHash, t.headKnown = seq, head, true
	}
	out := make([]approvals.AuditEvent, 0, len(evs))
	seq, head := t.headSeq, t.headHash
	done := 0
	for _, n := range chunks(len(evs)) {
		args := make([]any, 0, 8*n)
		for _, ev := range evs[done : done+n] {
			stored, a, err := chainAudit(ev, seq, head)
			if err != nil {
				return nil, err
			}
			args = append(args, a...)
			out = append(out, stored)
			seq, head = stored.Seq, stored.Hash
		}
		if _, err := t.exec(insertAuditShapes.of(n), args...); err != nil {
			t.headKnown = false
			return nil, fmt.Errorf("append audit events %d to %d: %w", out[done].Seq, seq, err)
		}
		done += n
	}
	t.headSeq, t.headHash = seq, head
	return out, nil
}

// CachedApplication returns the application as this process's
// configuration cache holds it and the configuration version it was read
// at, without reading the database; ok is false when it is not cached. It
// may be out of date: a caller that acts on it checks the version inside a
// transaction (ConfigVersion) and reads again when it moved.
func (db *DB) CachedApplication(id string) (app approvals.Application, version int64, ok bool) {
	c := db.cfg
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.version < 0 {
		return approvals.Application{}, 0, false
	}
	a, hit := c.apps[id]
	if !hit {
		return approvals.Application{}, 0, false
	}
	return cloneApp(a), c.version, true
}

// ConfigVersion is the configuration version this transaction sees (read
// once per transaction); ok is false when it cannot tell, or when this
// transaction changed configuration itself.
func (t *tx) ConfigVersion() (version int64, ok bool) {
	v, ok := t.useCache()
	return v, ok
}
