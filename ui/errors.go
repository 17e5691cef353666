package ui

import (
	"errors"
	"strings"

	"github.com/jitdesk/jitdesk/approvals"
	"github.com/jitdesk/jitdesk/approvals/signature"
)

// disabledWords is what a disabled approver is told wherever they try to act.
const disabledWords = "your approver account is disabled: you can look but not act"

// explain turns a domain error into plain words for the approver. It
// branches on sentinels and typed errors only; where the domain's message
// carries the detail (who may, what is invalid) it is shown whole, never
// cut apart. The result is inert: error texts quote names and statements
// from requests.
func explain(err error) string {
	if err == nil {
		return ""
	}
	var out string
	var de *approvals.DecidedError
	switch {
	case errors.As(err, &de):
		out = "already decided: this request was " + decidedWords(de.Status, de.By, de.At)
	case errors.Is(err, approvals.ErrNotPending):
		out = "already decided: this request is no longer pending"
	case errors.Is(err, approvals.ErrExpired):
		out = "this request expired before it was decided; the requester must ask again"
	case errors.Is(err, approvals.ErrSelfApproval):
		out = "you asked for this access yourself; someone else has to decide it"
	case errors.Is(err, approvals.ErrDisabled):
		out = disabledWords
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
	case errors.Is(err, approvals.ErrKeySignatureRequired):
		// Its message names the template and how to get a key signature.
		out = err.Error()
	case errors.Is(err, approvals.ErrKeySignatureInvalid):
		out = "key signature refused (" + err.Error() + ")"
	case errors.Is(err, approvals.ErrSignatureRequired):
		out = "signature refused (" + err.Error() + ")"
	case errors.Is(err, approvals.ErrRevoked):
		out = "this grant was revoked (" + err.Error() + ")"
	case errors.Is(err, approvals.ErrUnauthenticated):
		out = "token does not verify (" + err.Error() + ")"
	case errors.Is(err, approvals.ErrInvalid):
		out = err.Error()
	case errors.Is(err, approvals.ErrNotFound):
		out = "not found (it may have been removed)"
	default:
		out = "something went wrong: " + err.Error()
	}
	return Inert(strings.TrimSpace(out))
}

// tokenRefusal says plainly why the viewer is not shown a grant's token:
// the domain's own reason, which names who may see it.
func tokenRefusal(err error) string {
	if errors.Is(err, approvals.ErrDisabled) {
		return disabledWords + "; the token is not shown"
	}
	if errors.Is(err, approvals.ErrNotEligible) {
		return "The token is not shown to you: " + Inert(err.Error())
	}
	return "The token cannot be shown: " + explain(err)
}
