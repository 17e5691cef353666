package approvals

import (
	"errors"
	"fmt"
)

// Sentinel errors callers branch on. Service wraps them with context that
// names the request, approver and reason, so the message alone is enough for
// a person and errors.Is is enough for a program.
var (
	// ErrNotFound: the named application, approver, template, request or grant does not exist.
	ErrNotFound = errors.New("not found")
	// ErrConflict: something with that name or key already exists.
	ErrConflict = errors.New("already exists")
	// ErrInvalid: an input was malformed or broke a template's rules.
	ErrInvalid = errors.New("invalid input")
	// ErrNotPending: the request was already decided, cancelled or expired.
	ErrNotPending = errors.New("request is not pending")
	// ErrExpired: the request's pending timeout passed before the decision.
	ErrExpired = errors.New("request expired")
	// ErrNotEligible: the approver may not decide this request.
	ErrNotEligible = errors.New("not an eligible approver")
	// ErrSelfApproval: the requester tried to review their own request.
	ErrSelfApproval = errors.New("requesters cannot review their own request")
	// ErrAlreadyReviewed: this approver already recorded a decision.
	ErrAlreadyReviewed = errors.New("already reviewed")
	// ErrSignatureRequired: a Sign and Approve template needs a valid signature.
	ErrSignatureRequired = errors.New("signature required")
	// ErrKeySignatureRequired: the template requires decisions signed with
	// the approver's SSH key and this one was not.
	ErrKeySignatureRequired = errors.New("SSH key signature required")
	// ErrKeySignatureInvalid: a key signature was offered and does not
	// verify, or is not bound to this decision or to a key the approver holds.
	ErrKeySignatureInvalid = errors.New("SSH key signature invalid")
	// ErrDigestMismatch: the request changed since the approver looked at it.
	ErrDigestMismatch = errors.New("request changed since it was reviewed")
	// ErrUnauthenticated: an intake or access token was refused.
	ErrUnauthenticated = errors.New("unauthenticated")
	// ErrReplay: an intake token's jti was already used.
	ErrReplay = errors.New("intake token replayed")
	// ErrRevoked: the grant was revoked.
	ErrRevoked = errors.New("grant revoked")
	// ErrSchemaTooNew: the database was written by a newer jitdesk.
	ErrSchemaTooNew = errors.New("database schema is newer than this jitdesk")
	// ErrAuditBroken: the audit chain does not verify.
	ErrAuditBroken = errors.New("audit chain broken")
	// ErrDisabled: the approver, key, application, template or rotation is disabled.
	ErrDisabled = errors.New("disabled")
	// ErrBadIdentity: a requester or login breaks the identity profile
	// (a control or format character, not an RFC 8265 username). It comes
	// wrapped with ErrInvalid.
	ErrBadIdentity = errors.New("identifier refused")
	// ErrLimit: an application reached one of its limits (AppLimits).
	ErrLimit = errors.New("limit reached")
)

func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}
