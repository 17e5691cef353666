package server

import (
	"errors"

	"github.com/jitdesk/jitdesk/approvals"
	"github.com/jitdesk/jitdesk/sshca"
)

// reasonNoUserCA is the reason of a certificate offered while no SSH user
// CA is trusted (serve without --ssh-user-ca).
const reasonNoUserCA = "no_user_ca"

// certReason is the word logged and counted for an SSH user CA refusal:
// fixed, one per sshca.Reason, fit for a metrics label.
func certReason(r sshca.Reason) string {
	switch r {
	case sshca.NotCertificate:
		return "not_certificate"
	case sshca.WrongType:
		return "wrong_type"
	case sshca.UnknownAuthority:
		return "unknown_authority"
	case sshca.BadSignature:
		return "bad_signature"
	case sshca.Expired:
		return "expired"
	case sshca.NotYetValid:
		return "not_yet_valid"
	case sshca.NoPrincipal:
		return "no_principal"
	case sshca.Revoked:
		return "revoked"
	case sshca.BadOption:
		return "bad_option"
	}
	return "refused" // a reason newer than this list
}

// certRefusalReason is the typed reason the SSH user CA refused a
// certificate for, or "" when err is no such refusal (the approver lookup
// or the database failed instead).
func certRefusalReason(err error) string {
	var re *sshca.RefusedError
	switch {
	case errors.As(err, &re):
		return certReason(re.Reason)
	case errors.Is(err, approvals.ErrNoUserCA):
		return reasonNoUserCA
	}
	return ""
}
