package approvals

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"time"
)

// AuditAction names what an audit event records.
type AuditAction string

// Every action the audit log holds. Each has one payload type below, made
// by its constructor; the replay in audit verify, the webhook bodies and
// the demo's bulk loader read the same types.
const (
	ActionRequestCreated   AuditAction = "request.created"
	ActionRequestEscalated AuditAction = "request.escalated"
	ActionReviewApproved   AuditAction = "review.approved"
	ActionRequestApproved  AuditAction = "request.approved"
	ActionRequestDenied    AuditAction = "request.denied"
	ActionRequestCancelled AuditAction = "request.cancelled"
	ActionRequestExpired   AuditAction = "request.expired"
	ActionGrantIssued      AuditAction = "grant.issued"
	ActionGrantRevoked     AuditAction = "grant.revoked"
	ActionBreakGlassUsed   AuditAction = "breakglass.used"
	ActionBreakGlassReview AuditAction = "breakglass.reviewed"
	ActionTokenShown       AuditAction = "token.shown"
	ActionTokenCopied      AuditAction = "token.copied"

	ActionApplicationCreated AuditAction = "application.created"
	ActionApplicationUpdated AuditAction = "application.updated"
	ActionApplicationSecret  AuditAction = "application.secret_rotated"
	ActionApplicationEnabled AuditAction = "application.enabled"
	ActionApplicationOff     AuditAction = "application.disabled"
	ActionApproverAdded      AuditAction = "approver.added"
	ActionApproverUpdated    AuditAction = "approver.updated"
	ActionApproverKeyAdded   AuditAction = "approver.key_added"
	ActionApproverKeyRemoved AuditAction = "approver.key_removed"
	ActionApproverEnabled    AuditAction = "approver.enabled"
	ActionApproverDisabled   AuditAction = "approver.disabled"
	ActionTemplateAdded      AuditAction = "template.added"
	ActionTemplateUpdated    AuditAction = "template.updated"
	ActionTemplateEnabled    AuditAction = "template.enabled"
	ActionTemplateDisabled   AuditAction = "template.disabled"
	ActionRotationAdded      AuditAction = "rotation.added"
	ActionRotationUpdated    AuditAction = "rotation.updated"
	ActionRotationRemoved    AuditAction = "rotation.removed"
	ActionRotationOverride   AuditAction = "rotation.override"
	ActionOverrideCancelled  AuditAction = "rotation.override_cancelled"
	ActionKeyCreated         AuditAction = "key.created"
	ActionKeyRetired         AuditAction = "key.retired"
	ActionKeyActivated       AuditAction = "key.activated"
	ActionWebhookAdded       AuditAction = "webhook.added"
	ActionWebhookRemoved     AuditAction = "webhook.removed"
	ActionWebhookPruned      AuditAction = "webhook.deliveries_pruned"
	ActionIssuerSet          AuditAction = "config.issuer_set"
	ActionSecretsSealed      AuditAction = "config.secrets_sealed"
	ActionSharedSecret       AuditAction = "config.shared_secret_created"
)

// AuditRecord is the typed content of one audit event: what it records,
// about which id, with which payload (the record itself, marshalled).
type AuditRecord interface {
	Action() AuditAction
	Subject() string
}

// auditTime is the one time format in audit payloads.
func auditTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// TokenDigest is the hex SHA-256 of an access token: the audit log binds a
// grant to its exact token without holding the bearer secret.
func TokenDigest(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// RequestCreated records a new request with what identifies it.
type RequestCreated struct {
	ID              string `json:"-"`
	App             string `json:"app,omitempty"`
	Template        string `json:"template"`
	TemplateVersion int    `json:"template_version,omitempty"`
	Requester       string `json:"requester"`
	TTL             string `json:"ttl"`
	Digest          string `json:"digest"`
	ExpiresAt       string `json:"expires_at,omitempty"`
}

// NewRequestCreated records r, made under template terms t.
func NewRequestCreated(r Request, t Template) RequestCreated {
	return RequestCreated{ID: r.ID, App: r.AppID, Template: t.Key, TemplateVersion: max(r.TemplateVersion, 1), Requester: r.Requester,
		TTL: r.TTL.String(), Digest: Digest(r, t), ExpiresAt: auditTime(r.ExpiresAt)}
}

// Action implements AuditRecord.
func (RequestCreated) Action() AuditAction { return ActionRequestCreated }

// Subject implements AuditRecord.
func (e RequestCreated) Subject() string { return e.ID }

// RequestEscalated records an escalation step.
type RequestEscalated struct {
	ID       string `json:"-"`
	Level    int    `json:"level"`
	Template string `json:"template"`
}

// Action implements AuditRecord.
func (RequestEscalated) Action() AuditAction { return ActionRequestEscalated }

// Subject implements AuditRecord.
func (e RequestEscalated) Subject() string { return e.ID }

// ReviewApproved records one approval (the approver is the event's actor).
type ReviewApproved struct {
	ID        string `json:"-"`
	TTL       string `json:"ttl"`
	Signature string `json:"signature"`
	// KeySignature and KeyFingerprint name the SSHSIG the approval carries.
	KeySignature   string `json:"key_signature,omitempty"`
	KeyFingerprint string `json:"key_fingerprint,omitempty"`
	Digest         string `json:"digest"`
	Comment        string `json:"comment,omitempty"`
}

// Action implements AuditRecord.
func (ReviewApproved) Action() AuditAction { return ActionReviewApproved }

// Subject implements AuditRecord.
func (e ReviewApproved) Subject() string { return e.ID }

// RequestApproved records a request reaching its quorum.
type RequestApproved struct {
	ID string `json:"-"`
	// Template is the template key, for metrics and logs by template.
	Template  string `json:"template,omitempty"`
	Grant     string `json:"grant"`
	Kid       string `json:"kid"`
	ExpiresAt string `json:"expires_at"`
	Approvals int    `json:"approvals,omitempty"`
}

// Action implements AuditRecord.
func (RequestApproved) Action() AuditAction { return ActionRequestApproved }

// Subject implements AuditRecord.
func (e RequestApproved) Subject() string { return e.ID }

// RequestDenied records a deny (the approver is the actor); it is also
// that approver's review.
type RequestDenied struct {
	ID       string `json:"-"`
	Template string `json:"template,omitempty"`
	Comment  string `json:"comment"`
	Digest   string `json:"digest"`
	// KeySignature and KeyFingerprint name the SSHSIG the denial carries.
	KeySignature   string `json:"key_signature,omitempty"`
	KeyFingerprint string `json:"key_fingerprint,omitempty"`
}

// Action implements AuditRecord.
func (RequestDenied) Action() AuditAction { return ActionRequestDenied }

// Subject implements AuditRecord.
func (e RequestDenied) Subject() string { return e.ID }

// RequestCancelled records a withdrawal.
type RequestCancelled struct {
	ID       string `json:"-"`
	Template string `json:"template,omitempty"`
	Reason   string `json:"reason"`
}

// Action implements AuditRecord.
func (RequestCancelled) Action() AuditAction { return ActionRequestCancelled }

// Subject implements AuditRecord.
func (e RequestCancelled) Subject() string { return e.ID }

// RequestExpired records a request whose pending timeout passed.
type RequestExpired struct {
	ID        string `json:"-"`
	Template  string `json:"template,omitempty"`
	ExpiresAt string `json:"expires_at"`
}

// NewRequestExpired records r's expiry.
func NewRequestExpired(r Request) RequestExpired {
	return RequestExpired{ID: r.ID, Template: r.TemplateKey, ExpiresAt: auditTime(r.ExpiresAt)}
}

// Action implements AuditRecord.
func (RequestExpired) Action() AuditAction { return ActionRequestExpired }

// Subject implements AuditRecord.
func (e RequestExpired) Subject() string { return e.ID }

// GrantIssued records a grant and binds its token by digest.
type GrantIssued struct {
	ID          string   `json:"-"`
	Request     string   `json:"request"`
	Holder      string   `json:"subject"`
	Audience    string   `json:"audience"`
	Scope       string   `json:"scope"`
	Kid         string   `json:"kid"`
	IssuedAt    string   `json:"issued_at,omitempty"`
	ExpiresAt   string   `json:"expires_at"`
	Approvers   []string `json:"approvers"`
	BreakGlass  bool     `json:"break_glass"`
	TokenSHA256 string   `json:"token_sha256,omitempty"`
}

// NewGrantIssued records g, issued for approvers.
func NewGrantIssued(g Grant, approvers []string) GrantIssued {
	if approvers == nil {
		approvers = []string{}
	}
	return GrantIssued{ID: g.ID, Request: g.RequestID, Holder: g.Subject, Audience: g.Audience, Scope: g.Scope, Kid: g.Kid,
		IssuedAt: auditTime(g.IssuedAt), ExpiresAt: auditTime(g.ExpiresAt), Approvers: approvers, BreakGlass: g.BreakGlass, TokenSHA256: TokenDigest(g.Token)}
}

// Action implements AuditRecord.
func (GrantIssued) Action() AuditAction { return ActionGrantIssued }

// Subject implements AuditRecord.
func (e GrantIssued) Subject() string { return e.ID }

// GrantRevocation records a revocation (the revoker is the actor).
type GrantRevocation struct {
	ID      string `json:"-"`
	Request string `json:"request"`
	Reason  string `json:"reason"`
}

// Action implements AuditRecord.
func (GrantRevocation) Action() AuditAction { return ActionGrantRevoked }

// Subject implements AuditRecord.
func (e GrantRevocation) Subject() string { return e.ID }

// BreakGlassUsed records a requester approving their own request in an
// emergency: it is also their review and the request's approval.
type BreakGlassUsed struct {
	ID           string `json:"-"`
	Template     string `json:"template,omitempty"`
	Grant        string `json:"grant"`
	Reason       string `json:"reason"`
	TTL          string `json:"ttl"`
	Signature    string `json:"signature"`
	KeySignature string `json:"key_signature,omitempty"`
	ExpiresAt    string `json:"expires_at"`
}

// Action implements AuditRecord.
func (BreakGlassUsed) Action() AuditAction { return ActionBreakGlassUsed }

// Subject implements AuditRecord.
func (e BreakGlassUsed) Subject() string { return e.ID }

// BreakGlassReviewed records a break-glass grant's post-review.
type BreakGlassReviewed struct {
	ID      string `json:"-"`
	Request string `json:"request"`
	Comment string `json:"comment"`
	Revoked bool   `json:"revoked,omitempty"`
}

// Action implements AuditRecord.
func (BreakGlassReviewed) Action() AuditAction { return ActionBreakGlassReview }

// Subject implements AuditRecord.
func (e BreakGlassReviewed) Subject() string { return e.ID }

// TokenRevealed records an approver seeing or copying a token.
type TokenRevealed struct {
	ID      string   `json:"-"`
	Use     TokenUse `json:"-"`
	Request string   `json:"request"`
}

// Action implements AuditRecord.
func (e TokenRevealed) Action() AuditAction { return AuditAction("token." + string(e.Use)) }

// Subject implements AuditRecord.
func (e TokenRevealed) Subject() string { return e.ID }

// ConfigChange records an administrative change to a configuration object
// (application, approver, template, rotation, signing key, webhook,
// setting): its action, the object's id, and the object's resulting state
// (State) and what changed (Changes), each a JSON object of its own type.
// Replay reads State to check the table against the log.
type ConfigChange struct {
	action  AuditAction
	subject string
	State   any `json:"state,omitempty"`
	Changes any `json:"changes,omitempty"`
}

// NewConfigChange makes a configuration event.
func NewConfigChange(action AuditAction, subject string, state, changes any) ConfigChange {
	return ConfigChange{action: action, subject: subject, State: state, Changes: changes}
}

// Action implements AuditRecord.
func (c ConfigChange) Action() AuditAction { return c.action }

// Subject implements AuditRecord.
func (c ConfigChange) Subject() string { return c.subject }

// ApplicationState is an application's audited state (never its secret).
type ApplicationState struct {
	Name     string    `json:"name"`
	Audience string    `json:"audience"`
	Disabled bool      `json:"disabled"`
	Limits   AppLimits `json:"limits"`
}

// NewApplicationState is app's audited state.
func NewApplicationState(app Application) ApplicationState {
	return ApplicationState{Name: app.Name, Audience: app.Audience, Disabled: app.Disabled, Limits: app.Limits}
}

// ApproverState is an approver's audited state.
type ApproverState struct {
	Name     string   `json:"name"`
	Email    string   `json:"email"`
	Groups   []string `json:"groups"`
	Auditor  bool     `json:"auditor"`
	Disabled bool     `json:"disabled"`
	Keys     []string `json:"keys"` // active key fingerprints
}

// NewApproverState is a's audited state.
func NewApproverState(a Approver) ApproverState {
	keys := []string{}
	for _, k := range a.ActiveKeys() {
		keys = append(keys, k.Fingerprint)
	}
	groups := append([]string{}, a.Groups...)
	slices.Sort(groups)
	slices.Sort(keys)
	return ApproverState{Name: a.Name, Email: a.Email, Groups: groups, Auditor: a.Auditor, Disabled: a.Disabled(), Keys: keys}
}

// RotationState is a rotation's audited state.
type RotationState struct {
	Members  []string `json:"members"`
	Shift    string   `json:"shift"`
	Start    string   `json:"start"`
	Disabled bool     `json:"disabled"`
}

// NewRotationState is r's audited state.
func NewRotationState(r Rotation) RotationState {
	return RotationState{Members: append([]string{}, r.Members...), Shift: FormatDuration(r.Shift), Start: auditTime(r.Start), Disabled: !r.DisabledAt.IsZero()}
}

// TemplateState is a template's audited state: its version and terms.
type TemplateState struct {
	Version  int            `json:"version"`
	Disabled bool           `json:"disabled"`
	Terms    map[string]any `json:"terms"`
}

// NewTemplateState is t's audited state.
func NewTemplateState(t Template) TemplateState {
	return TemplateState{Version: max(t.Version, 1), Disabled: t.Disabled(), Terms: templateTerms(t)}
}

// MarshalJSON writes the payload of a configuration event.
func (c ConfigChange) MarshalJSON() ([]byte, error) {
	type payload struct {
		State   any `json:"state,omitempty"`
		Changes any `json:"changes,omitempty"`
	}
	return json.Marshal(payload{State: c.State, Changes: c.Changes})
}

// recordPayload marshals a record as its event's payload.
func recordPayload(rec AuditRecord) (json.RawMessage, error) {
	b, err := json.Marshal(rec)
	if err != nil {
		return nil, fmt.Errorf("audit %s: %w", rec.Action(), err)
	}
	return b, nil
}

// NewAuditEvent is the event recording rec at "at" by actor, for stores'
// batch paths (Seq and hashes are filled when appended).
func NewAuditEvent(at time.Time, actor string, rec AuditRecord) (AuditEvent, error) {
	b, err := recordPayload(rec)
	if err != nil {
		return AuditEvent{}, err
	}
	return AuditEvent{At: at, Actor: actor, Action: string(rec.Action()), Subject: rec.Subject(), Payload: b}, nil
}
