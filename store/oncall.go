package store

import (
	"database/sql"
	"fmt"
	"time"

	"github.com/jitdesk/jitdesk/approvals"
)

// Rotation returns a rotation with its members in hand-over order and the
// overrides that end after now, oldest first.
func (t *tx) Rotation(name string, now time.Time) (approvals.Rotation, error) {
	var r approvals.Rotation
	var shift, start, created int64
	var disabled sql.NullInt64
	err := t.queryRow(`SELECT name, shift_ms, start_at, created_at, disabled_at FROM rotations WHERE name = ?`, name).Scan(&r.Name, &shift, &start, &created, &disabled)
	if err != nil {
		return r, notFound("rotation", name, err)
	}
	if disabled.Valid {
		r.DisabledAt = fromMS(disabled.Int64)
	}
	r.Shift, r.Start, r.CreatedAt = msDur(shift), fromMS(start), fromMS(created)
	if r.Members, err = t.strings(`SELECT login FROM rotation_members WHERE rotation = ? ORDER BY position`, name); err != nil {
		return r, err
	}
	rows, err := t.query(`SELECT login, from_at, until_at, created_at FROM rotation_overrides
		WHERE rotation = ? AND until_at > ? ORDER BY created_at, id`, name, ms(now))
	if err != nil {
		return r, err
	}
	defer rows.Close()
	for rows.Next() {
		var o approvals.Override
		var from, until, at int64
		if err := rows.Scan(&o.Login, &from, &until, &at); err != nil {
			return r, err
		}
		o.From, o.Until, o.CreatedAt = fromMS(from), fromMS(until), fromMS(at)
		r.Overrides = append(r.Overrides, o)
	}
	return r, rows.Err()
}

// Rotations lists every rotation by name (there are few, so no paging).
func (t *tx) Rotations(now time.Time) ([]approvals.Rotation, error) {
	names, err := t.strings(`SELECT name FROM rotations WHERE disabled_at IS NULL ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list rotations: %w", err)
	}
	out := make([]approvals.Rotation, 0, len(names))
	for _, n := range names {
		r, err := t.Rotation(n, now)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

// InsertRotation adds a rotation and its members: ErrConflict on a
// duplicate name, ErrNotFound when a member is not an approver.
func (t *tx) InsertRotation(r approvals.Rotation) error {
	if err := t.configChanged(); err != nil {
		return err
	}
	_, err := t.exec(`INSERT INTO rotations (name, shift_ms, start_at, created_at) VALUES (?, ?, ?, ?)`, r.Name, r.Shift.Milliseconds(), ms(r.Start), ms(r.CreatedAt))
	if err != nil {
		return dbErr(fmt.Sprintf("insert rotation %q", r.Name), err, approvals.ErrConflict)
	}
	for i, m := range r.Members {
		_, err := t.exec(`INSERT INTO rotation_members (rotation, position, login) VALUES (?, ?, ?)`, r.Name, i, m)
		if err != nil {
			return dbErr(fmt.Sprintf("insert rotation %s member %q", r.Name, m), err, approvals.ErrConflict)
		}
	}
	return nil
}

// InsertOverride gives a rotation's pager to o.Login for a while;
// ErrNotFound when the rotation or the approver does not exist.
func (t *tx) InsertOverride(rotation string, o approvals.Override) error {
	if err := t.configChanged(); err != nil {
		return err
	}
	_, err := t.exec(`INSERT INTO rotation_overrides (rotation, login, from_at, until_at, created_at) VALUES (?, ?, ?, ?, ?)`,
		rotation, o.Login, ms(o.From), ms(o.Until), ms(o.CreatedAt))
	return dbErr(fmt.Sprintf("insert override of rotation %q by %q", rotation, o.Login), err, approvals.ErrConflict)
}
