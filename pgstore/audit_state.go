package pgstore

import (
	"fmt"

	"github.com/jitdesk/jitdesk/approvals"
)

// Whole-table scans in primary-key order, for audit verify's replay: each
// page is an index range, so the walk is linear however large the tables.

// RequestsByID returns up to limit requests with id > afterID, by id.
func (t *tx) RequestsByID(afterID string, limit int) ([]approvals.Request, error) {
	rows, err := t.query(`SELECT `+requestCols+requestFrom+` WHERE r.id > ? ORDER BY r.id LIMIT ?`, afterID, pageLimit(limit))
	if err != nil {
		return nil, fmt.Errorf("requests by id: %w", err)
	}
	return collectRequests(rows)
}

// ReviewsAfter returns up to limit reviews after (requestID, approver), in that order.
func (t *tx) ReviewsAfter(requestID, approver string, limit int) ([]approvals.Review, error) {
	rows, err := t.query(`SELECT `+reviewCols+`
		FROM reviews WHERE (request_id, approver) > (?, ?) ORDER BY request_id, approver LIMIT ?`, requestID, approver, pageLimit(limit))
	if err != nil {
		return nil, fmt.Errorf("reviews: %w", err)
	}
	return collectReviews(rows, "reviews")
}

// GrantsAfter returns up to limit grants with id > afterID, by id.
func (t *tx) GrantsAfter(afterID string, limit int) ([]approvals.Grant, error) {
	rows, err := t.query(`SELECT `+grantCols+` FROM grants WHERE id > ? ORDER BY id LIMIT ?`, afterID, pageLimit(limit))
	if err != nil {
		return nil, fmt.Errorf("grants: %w", err)
	}
	defer rows.Close()
	var out []approvals.Grant
	for rows.Next() {
		g, err := scanGrant(rows)
		if err != nil {
			return nil, fmt.Errorf("grants: %w", err)
		}
		out = append(out, g)
	}
	return out, rows.Err()
}

// SignaturesAfter returns up to limit signatures with digest > afterDigest,
// by digest, without their canonical bytes (the replay checks which
// signatures exist; Service.Signatures checks their content).
func (t *tx) SignaturesAfter(afterDigest string, limit int) ([]approvals.StoredSignature, error) {
	rows, err := t.query(`SELECT digest, request_id, approver, kind, signed_at FROM signatures WHERE digest > ? ORDER BY digest LIMIT ?`, afterDigest, pageLimit(limit))
	if err != nil {
		return nil, fmt.Errorf("signatures: %w", err)
	}
	defer rows.Close()
	var out []approvals.StoredSignature
	for rows.Next() {
		var s approvals.StoredSignature
		var at int64
		if err := rows.Scan(&s.Digest, &s.RequestID, &s.Approver, &s.Kind, &at); err != nil {
			return nil, fmt.Errorf("signatures: %w", err)
		}
		s.SignedAt = fromMS(at)
		out = append(out, s)
	}
	return out, rows.Err()
}

// RotationNames lists every rotation's name, removed ones too.
func (t *tx) RotationNames() ([]string, error) {
	return t.strings(`SELECT name FROM rotations ORDER BY name`)
}
