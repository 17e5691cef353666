package server

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/time/rate"

	"github.com/jitdesk/jitdesk/approvals"
)

// Security events are log lines with the message "security" and these
// fields, which stay stable so that alerting can match on them:
//
//	event=auth.failed  a refused authentication
//	    method   intake (an application's bearer token), client (RFC 6749
//	             client credentials), ssh (an approver's key or certificate)
//	    reason   a fixed word: missing, malformed, signature, expired,
//	             not_yet_valid, audience, issuer, replay, disabled, invalid
//	             (intake); malformed, credentials, disabled (client);
//	             unknown_key, disabled, lookup (the database failed) for
//	             keys; for certificates no_user_ca, unknown_principal,
//	             disabled, or the SSH user CA's reason: not_certificate,
//	             wrong_type, unknown_authority, bad_signature, expired,
//	             not_yet_valid, no_principal, revoked, bad_option (ssh)
//	    certificate_key_id, certificate_serial  (ssh) of a refused
//	             certificate, as its signer wrote them
//	    remote   the client address (through trusted proxies, see
//	             HTTPConfig.TrustedProxies)
//	    app      the application, when the credentials named a real one
//	    request_id  (HTTP) the request id, as in the access log
//	    fingerprint (ssh) the SHA-256 fingerprint of the refused key
//	    suppressed  lines this address did not get logged since its last
//	             line (the log is rate-limited per address, so a flood of
//	             bad credentials cannot fill the disk; the
//	             jitdesk_auth_failures_total counter still counts each)
//	event=<audit action>  a committed audit event (SecurityLog): request
//	    decisions (request.approved, request.denied, request.expired,
//	    request.cancelled, request.escalated), break-glass
//	    (breakglass.used, breakglass.reviewed), grants revoked, tokens shown,
//	    administrative changes (application.*, approver.*, template.*,
//	    rotation.*, webhook.*, config.*) and key rotations (key.created,
//	    key.retired)
//	    actor    who did it (an approver login, operator:…, app:…, system:…)
//	    subject  the id it is about
//	    seq      its audit sequence number
//	    payload  the audit payload (JSON text); audit payloads never hold
//	             a token or a secret, by design of approvals
//
// A token, secret or credential never appears in any of them.
const securityMsg = "security"

// Reasons of a refused authentication (the reason field and the
// auth_failures_total label).
const (
	reasonMissing     = "missing"
	reasonMalformed   = "malformed"
	reasonSignature   = "signature"
	reasonExpired     = "expired"
	reasonNotYetValid = "not_yet_valid"
	reasonAudience    = "audience"
	reasonIssuer      = "issuer"
	reasonReplay      = "replay"
	reasonDisabled    = "disabled"
	reasonInvalid     = "invalid"
	reasonCredentials = "credentials"
	reasonUnknownKey  = "unknown_key"
	reasonLookup      = "lookup"
	// reasonUnknownPrincipal: a certificate the CA accepted names a
	// login that is no approver.
	reasonUnknownPrincipal = "unknown_principal"
)

// intakeReason classifies a refused intake token by the errors it wraps.
func intakeReason(err error) string {
	switch {
	case errors.Is(err, approvals.ErrDisabled):
		return reasonDisabled
	case errors.Is(err, approvals.ErrReplay):
		return reasonReplay
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return reasonSignature
	case errors.Is(err, jwt.ErrTokenExpired):
		return reasonExpired
	case errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return reasonNotYetValid
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return reasonAudience
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return reasonIssuer
	case errors.Is(err, jwt.ErrTokenMalformed):
		return reasonMalformed
	}
	return reasonInvalid
}

// Bounds of the auth-failure log: per address a burst and a refill, and
// the same for all addresses together (a flood from many addresses, an
// IPv6 prefix say, is bounded too).
const (
	authLogBurst        = 5
	authLogEvery        = 10 * time.Second
	authLogGlobalBurst  = 100
	authLogGlobalPerSec = 10
	authLogMaxAddrs     = 10_000
)

// authLogLimiter decides which auth failures are logged.
type authLogLimiter struct {
	now func() time.Time

	mu        sync.Mutex
	global    *rate.Limiter
	addrs     map[string]*addrLog
	dropped   int // lines dropped by the global limit since the last logged line
	lastSweep time.Time
}

type addrLog struct {
	bucket     *rate.Limiter
	suppressed int
	lastSeen   time.Time
}

func newAuthLogLimiter(now func() time.Time) *authLogLimiter {
	if now == nil {
		now = time.Now
	}
	l := &authLogLimiter{now: now, addrs: map[string]*addrLog{},
		global: rate.NewLimiter(authLogGlobalPerSec, authLogGlobalBurst)}
	l.global.SetBurstAt(now(), authLogGlobalBurst)
	return l
}

// allow reports whether a failure from addr is logged now, and how many of
// this address's lines (and of all addresses', by the global bound) went
// unlogged before it.
func (l *authLogLimiter) allow(addr string) (ok bool, suppressed, droppedAll int) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.lastSweep) > time.Minute || len(l.addrs) >= authLogMaxAddrs {
		l.lastSweep = now
		for k, e := range l.addrs {
			if now.Sub(e.lastSeen) > authLogEvery*authLogBurst {
				delete(l.addrs, k)
			}
		}
	}
	e := l.addrs[addr]
	if e == nil {
		if len(l.addrs) >= authLogMaxAddrs {
			l.dropped++
			return false, 0, 0
		}
		e = &addrLog{bucket: rate.NewLimiter(rate.Every(authLogEvery), authLogBurst)}
		e.bucket.SetBurstAt(now, authLogBurst)
		l.addrs[addr] = e
	}
	e.lastSeen = now
	if !e.bucket.AllowN(now, 1) {
		e.suppressed++
		return false, 0, 0
	}
	if !l.global.AllowN(now, 1) {
		l.dropped++
		return false, 0, 0
	}
	suppressed, droppedAll = e.suppressed, l.dropped
	e.suppressed, l.dropped = 0, 0
	return true, suppressed, droppedAll
}

// logAuthFailure writes one event=auth.failed line, if the limiter lets it.
func logAuthFailure(ctx context.Context, log *slog.Logger, lim *authLogLimiter, method, reason, remote string, extra ...any) {
	ok, suppressed, dropped := lim.allow(remote)
	if !ok {
		return
	}
	attrs := append([]any{"event", "auth.failed", "method", method, "reason", reason, "remote", remote}, extra...)
	if suppressed > 0 {
		attrs = append(attrs, "suppressed", suppressed)
	}
	if dropped > 0 {
		attrs = append(attrs, "suppressed_all_addresses", dropped)
	}
	log.Log(ctx, slog.LevelWarn, securityMsg, attrs...)
}

// The Observer the Service reports commits to.
var _ approvals.Observer = (*SecurityLogger)(nil)

// SecurityLogger writes every committed audit event to a log as a
// security event (see the field list at the top of this file). It
// implements approvals.Observer; give it to approvals.Options.Observers.
type SecurityLogger struct{ log *slog.Logger }

// SecurityLog returns an observer that logs each committed audit event as
// event=<action> actor=… subject=… seq=… payload=…. A new request
// (request.created) is logged at debug level: intake runs at thousands a
// second and is in the access log already; everything else is info.
func SecurityLog(log *slog.Logger) approvals.Observer {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &SecurityLogger{log: log}
}

// Committed implements approvals.Observer.
func (s *SecurityLogger) Committed(events []approvals.AuditEvent, _ time.Duration) {
	for _, ev := range events {
		level := slog.LevelInfo
		if approvals.AuditAction(ev.Action) == approvals.ActionRequestCreated {
			level = slog.LevelDebug
		}
		// The payload is passed as a string: both slog handlers quote and
		// escape it, so hostile text inside (a reason, a comment) stays one
		// field of one line.
		s.log.Log(context.Background(), level, securityMsg, "event", ev.Action, "actor", ev.Actor,
			"subject", ev.Subject, "seq", ev.Seq, "payload", string(ev.Payload))
	}
}

// IntakeBatch implements approvals.Observer (nothing to log).
func (s *SecurityLogger) IntakeBatch(int) {}

// WebhookAttempts implements approvals.Observer (the deliverer logs its own).
func (s *SecurityLogger) WebhookAttempts(int, int, int) {}
