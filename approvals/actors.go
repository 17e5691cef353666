package approvals

import "strings"

// The product's own actors, as they appear in the audit log and as the
// decider of a request. Each carries the "system:" prefix, which no approver
// login can (logins never contain ':'), so nobody can act under their name;
// applications act as "app:<id>" and operators at the CLI as
// "operator:<os user>".
const (
	SystemSweeper   = "system:sweeper"   // expires requests and takes escalation steps
	SystemIssuer    = "system:issuer"    // issues grants and their tokens
	SystemMigration = "system:migration" // upgrades stored data
)

// reservedLogins cannot be approver logins: they are, or look like, the
// product's own actors (the first version recorded expiry as "system" and
// grant issue as "jitdesk"), so a person with such a login would be
// indistinguishable from the product in history.
var reservedLogins = map[string]bool{
	"system": true, "jitdesk": true, "sweeper": true, "root": true, "admin": true,
	"operator": true, "app": true, "api": true, "unknown": true, "anonymous": true,
}

// ReservedLogin reports whether login is one of the product's own actor names.
func ReservedLogin(login string) bool {
	return reservedLogins[strings.ToLower(login)]
}

// ActorKind classifies an audit actor: "system", "application", "operator"
// or "approver".
func ActorKind(actor string) string {
	switch {
	case strings.HasPrefix(actor, "system:"), actor == "system", actor == "jitdesk":
		return "system"
	case strings.HasPrefix(actor, "app:"):
		return "application"
	case strings.HasPrefix(actor, "operator:"):
		return "operator"
	}
	return "approver"
}
