package store

import (
	"fmt"

	"github.com/jitdesk/jitdesk/approvals"
)

// --- key signatures (SSHSIG over a decision statement; migration 0013)

const keySigCols = `digest, request_id, approver, decision, statement, signature, fingerprint, public_key, certificate, signed_at`

func scanKeySignature(s interface{ Scan(...any) error }) (approvals.StoredKeySignature, error) {
	var k approvals.StoredKeySignature
	var decision, armored string
	var at int64
	if err := s.Scan(&k.Digest, &k.RequestID, &k.Approver, &decision, &k.Statement, &armored, &k.Fingerprint, &k.PublicKey, &k.Certificate, &at); err != nil {
		return k, err
	}
	k.Decision, k.Armored, k.SignedAt = approvals.Decision(decision), []byte(armored), fromMS(at)
	if k.Statement == nil {
		k.Statement = []byte{}
	}
	return k, nil
}

func (t *tx) keySignatures(what, query string, args ...any) ([]approvals.StoredKeySignature, error) {
	rows, err := t.query(query, args...)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", what, err)
	}
	defer rows.Close()
	var out []approvals.StoredKeySignature
	for rows.Next() {
		k, err := scanKeySignature(rows)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", what, err)
		}
		out = append(out, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", what, err)
	}
	return out, nil
}

// KeySignatures returns a request's key signatures, oldest first (the
// (request_id, signed_at) index; digest breaks ties).
func (t *tx) KeySignatures(requestID string) ([]approvals.StoredKeySignature, error) {
	return t.keySignatures("key signatures of "+requestID,
		`SELECT `+keySigCols+` FROM key_signatures WHERE request_id = ? ORDER BY signed_at, digest`, requestID)
}

// KeySignaturesAfter returns up to limit key signatures with digest >
// afterDigest, by digest (the primary key), for audit verify's replay.
func (t *tx) KeySignaturesAfter(afterDigest string, limit int) ([]approvals.StoredKeySignature, error) {
	return t.keySignatures("key signatures",
		`SELECT `+keySigCols+` FROM key_signatures WHERE digest > ? ORDER BY digest LIMIT ?`, afterDigest, pageLimit(limit))
}

// InsertKeySignature stores a key signature (append-only): ErrConflict
// when one with the same digest is stored already, ErrNotFound when its
// request or approver does not exist, ErrInvalid for a decision other than
// approve or deny.
func (t *tx) InsertKeySignature(k approvals.StoredKeySignature) error {
	statement := k.Statement
	if statement == nil {
		statement = []byte{} // NOT NULL: an empty statement is still a value
	}
	_, err := t.exec(`INSERT INTO key_signatures (`+keySigCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		k.Digest, k.RequestID, k.Approver, string(k.Decision), statement, string(k.Armored), k.Fingerprint, k.PublicKey, k.Certificate, ms(k.SignedAt))
	return dbErr(fmt.Sprintf("insert key signature %s of %s by %s", k.Digest, k.RequestID, k.Approver), err, approvals.ErrConflict)
}
