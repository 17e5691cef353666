package ui

import (
	"errors"
	"strings"
	"time"

	"github.com/jitdesk/jitdesk/approvals"
	"github.com/jitdesk/jitdesk/approvals/signature"
)

// explain turns a domain error into plain words for the approver. The result
// is inert: error texts quote names and statements from requests.
func explain(err error) string {
	if err == nil {
		return ""
	}
	msg := err.Error()
	after := func(sentinel error) string {
		s := sentinel.Error() + ": "
		if i := strings.LastIndex(msg, s); i >= 0 {
			return msg[i+len(s):]
		}
		return ""
	}
	var out string
	switch {
	case errors.Is(err, approvals.ErrNotPending):
		var se *approvals.StatusError
		if errors.As(err, &se) {
			out = "no token: this request was " + decidedLine(se.Request)
			if se.Status == approvals.StatusPending {
				out = "no token yet: this request is still pending"
			}
			break
		}
		out = "already decided: " + notPendingWords(after(approvals.ErrNotPending))
	case errors.Is(err, approvals.ErrExpired):
		out = "this request expired before it was decided; the requester must ask again"
	case errors.Is(err, approvals.ErrSelfApproval):
		out = "you asked for this access yourself; someone else has to decide it"
	case errors.Is(err, approvals.ErrNotEligible):
		out = "you are not an approver for this request's template"
	case errors.Is(err, approvals.ErrAlreadyReviewed):
		out = "you already decided this request"
	case errors.Is(err, approvals.ErrDigestMismatch):
		out = "the request changed since you opened it; review it again before deciding"
	case errors.Is(err, signature.ErrEmpty):
		out = "the signature is empty: draw your signature on the pad, or press tab and type your full name"
	case errors.Is(err, signature.ErrTooSmall):
		out = "the signature is too small: draw it across the pad"
	case errors.Is(err, signature.ErrNameMismatch):
		out = "the typed name is not your full name"
	case errors.Is(err, approvals.ErrSignatureRequired):
		out = "signature refused: " + after(approvals.ErrSignatureRequired)
	case errors.Is(err, approvals.ErrRevoked):
		out = "this grant was revoked " + after(approvals.ErrRevoked)
	case errors.Is(err, approvals.ErrUnauthenticated):
		out = "token does not verify: " + after(approvals.ErrUnauthenticated)
	case errors.Is(err, approvals.ErrInvalid):
		out = after(approvals.ErrInvalid)
	case errors.Is(err, approvals.ErrNotFound):
		out = "not found (it may have been removed)"
	default:
		out = "something went wrong: " + msg
	}
	return Inert(strings.TrimSpace(out))
}

// notPendingWords rewrites "approved by bob at 2026-03-01T14:03:00Z" as
// "approved by bob at 14:03".
func notPendingWords(s string) string {
	i := strings.LastIndex(s, " at ")
	if i < 0 {
		return s
	}
	if t, err := time.Parse(time.RFC3339, strings.TrimSpace(s[i+4:])); err == nil {
		return s[:i] + " at " + clock(t)
	}
	return s
}
