// Package approvals is jitdesk's domain: the types (applications, approvers,
// templates, requests, reviews, grants, audit events), the rules of who may
// decide what and when, and Service, the only way to change state.
//
// Persistence is declared here as the Store interface and implemented by the
// store package; keys and JWTs are delegated to the tokens package. The user
// interfaces (ui, server, cmd) call Service and never decide eligibility
// themselves.
package approvals

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"sort"
	"time"
)

// Status is the state of a request.
type Status string

// Request states. A request starts pending and ends in exactly one of the others.
const (
	StatusPending   Status = "pending"
	StatusApproved  Status = "approved"
	StatusDenied    Status = "denied"
	StatusExpired   Status = "expired"
	StatusCancelled Status = "cancelled"
)

// ParseStatus returns the status named s or ErrInvalid naming the allowed values.
func ParseStatus(s string) (Status, error) {
	switch Status(s) {
	case StatusPending, StatusApproved, StatusDenied, StatusExpired, StatusCancelled:
		return Status(s), nil
	}
	return "", invalidf("status %q is not one of pending, approved, denied, expired, cancelled", s)
}

// TemplateType says whether approving needs a signature.
type TemplateType string

// Template types, as in Next Level3's JIT Approvals.
const (
	TypeApprove        TemplateType = "approve"
	TypeSignAndApprove TemplateType = "sign_and_approve"
)

// ParseTemplateType returns the type named s or ErrInvalid naming the allowed values.
func ParseTemplateType(s string) (TemplateType, error) {
	switch TemplateType(s) {
	case TypeApprove, TypeSignAndApprove:
		return TemplateType(s), nil
	}
	return "", invalidf("template type %q is not one of approve, sign_and_approve", s)
}

// Label is the human name of the type, as shown in the console.
func (t TemplateType) Label() string {
	if t == TypeSignAndApprove {
		return "Sign and Approve"
	}
	return "Approve"
}

// Decision is what a reviewer decided.
type Decision string

// Decisions a reviewer can record.
const (
	DecisionApprove Decision = "approve"
	DecisionDeny    Decision = "deny"
)

// Application is a client of jitdesk that submits requests for its users and
// authenticates with HS256 intake tokens signed by its own secret.
type Application struct {
	ID       string
	Name     string
	Audience string // the aud of access tokens issued for it
	// Secret is the intake signing secret, shown once at creation: the HMAC
	// key is the string exactly as printed (SecretFormat "printed"), or for
	// applications made before that rule, raw bytes printed as base64url
	// ("raw"; both forms are accepted until the next rotation).
	Secret       []byte
	SecretFormat string
	// PreviousSecret stays acceptable until PreviousSecretUntil after a
	// rotation with an overlap (zero time: not at all).
	PreviousSecret       []byte
	PreviousSecretFormat string
	PreviousSecretUntil  time.Time
	Disabled             bool
	Limits               AppLimits
	CreatedAt            time.Time
}

// Secret formats (Application.SecretFormat).
const (
	SecretPrinted = "printed"
	SecretRaw     = "raw"
)

// AppLimits bound what one application may take from everyone: pending
// requests, intake rate and parked long-polls. Zero fields mean the
// product's defaults (see Effective).
type AppLimits struct {
	MaxPending    int     // pending requests at once
	RatePerSecond float64 // sustained intake requests a second
	Burst         int     // intake requests allowed at once above the rate
	MaxLongPolls  int     // parked long-polls at once; 0 = a tenth of the server's slots
}

// Default per-application limits: no real application meets them by
// accident, and one runaway application cannot fill the disk or the
// long-poll slots for everyone.
const (
	DefaultMaxPending    = 1000
	DefaultRatePerSecond = 50
	DefaultBurst         = 100
)

// Effective fills zero limits with the defaults; serverLongPolls is the
// server's total long-poll slots (a tenth of them is the default share).
func (l AppLimits) Effective(serverLongPolls int) AppLimits {
	if l.MaxPending <= 0 {
		l.MaxPending = DefaultMaxPending
	}
	if l.RatePerSecond <= 0 {
		l.RatePerSecond = DefaultRatePerSecond
	}
	if l.Burst <= 0 {
		l.Burst = DefaultBurst
	}
	if l.MaxLongPolls <= 0 {
		l.MaxLongPolls = max(1, serverLongPolls/10)
	}
	return l
}

// SSHKey is an approver's public key for the SSH console.
type SSHKey struct {
	Fingerprint   string // SHA256:… as OpenSSH prints it
	AuthorizedKey string // the authorized_keys line
	AddedAt       time.Time
	// RemovedAt is set once the key was removed: it no longer
	// authenticates, but history (and signatures made with it) keep it.
	RemovedAt time.Time
}

// Active reports whether the key still authenticates.
func (k SSHKey) Active() bool { return k.RemovedAt.IsZero() }

// Approver is a person who may review requests.
type Approver struct {
	Login  string
	Name   string
	Email  string
	Groups []string
	// SSHKeys are the approver's keys, removed ones included (see
	// SSHKey.Active).
	SSHKeys []SSHKey
	// Auditor approvers see every request, read-only unless otherwise eligible.
	Auditor bool
	// DisabledAt is set while the approver is disabled (offboarded): they
	// decide nothing and appear nowhere as eligible; history keeps them.
	DisabledAt time.Time
	DisabledBy string
	CreatedAt  time.Time
}

// Disabled reports whether the approver is disabled.
func (a Approver) Disabled() bool { return !a.DisabledAt.IsZero() }

// ActiveKeys returns the approver's keys that still authenticate.
func (a Approver) ActiveKeys() []SSHKey {
	var out []SSHKey
	for _, k := range a.SSHKeys {
		if k.Active() {
			out = append(out, k)
		}
	}
	return out
}

// MetadataField is one approval-data field of a template.
type MetadataField struct {
	Name     string
	Default  string
	Required bool
}

// Template describes one kind of access an application may ask for.
type Template struct {
	Key            string // approval key used by applications
	AppID          string
	Name           string
	Title          string
	Type           TemplateType
	Fields         []MetadataField
	Approvers      []string // logins
	Groups         []string // approver groups
	OnCall         []string // rotations whose current on-call person is eligible
	Quorum         int      // approvals needed
	DefaultTTL     time.Duration
	MaxTTL         time.Duration
	PendingTimeout time.Duration
	MinReason      int // minimum reason length in runes after trimming
	// BreakGlassMaxTTL, when set, lets a requester approve their own request
	// in an emergency (with a signature and a reason), capped at this TTL.
	BreakGlassMaxTTL time.Duration
	// EscalateAfter, when set, escalates a request still pending after it to
	// the next person in the template's rotations, and again after each
	// further EscalateAfter, up to EscalateCap steps; from the first step
	// EscalateGroup (if any) may decide too. EscalateCap is derived when the
	// template is added.
	EscalateAfter time.Duration
	EscalateGroup string
	EscalateCap   int
	// BreakGlassGroups may break glass on their own requests of this
	// template besides those who could decide it.
	BreakGlassGroups []string
	// RequireKeySignature refuses decisions not signed with the approver's
	// own SSH key (see KeySignature).
	RequireKeySignature bool `json:",omitempty"`
	// Version counts the template's changes (1 when added); a request is
	// decided on the version it was made under.
	Version int
	// DisabledAt is set while the template takes no new requests.
	DisabledAt time.Time
	// CreatedBy is who added the template (recorded with its first version).
	CreatedBy string `json:"-"`
	CreatedAt time.Time
}

// Disabled reports whether the template refuses new requests.
func (t Template) Disabled() bool { return !t.DisabledAt.IsZero() }

// Request is one ask for temporary access.
type Request struct {
	ID          string
	TemplateKey string
	AppID       string
	Requester   string // the intake token's sub, under the identity profile
	// RequesterIdentity is Requester's comparison form (IdentityOf): equal
	// identities are one person for the self-approval rule.
	RequesterIdentity string
	// TemplateVersion is the template version the request was made under.
	TemplateVersion int
	Reason          string
	Metadata        map[string]string
	TTL             time.Duration // requested grant lifetime
	CreatedAt       time.Time
	ExpiresAt       time.Time // pending timeout
	Status          Status
	DecidedAt       time.Time // zero while pending
	DecidedBy       string    // approver login, SystemSweeper for expiry, the app or approver for cancel
	// DecidedComment is what the decider said when it is not a review's
	// comment (a cancel's reason).
	DecidedComment string
	Approvals      int // approve reviews recorded so far
	Escalation     int // escalation steps taken (see Template.EscalateAfter)

	// Denormalised for lists; filled by the store from the template and application.
	TemplateTitle string
	TemplateType  TemplateType
	AppName       string
	// Quorum is the template's approvals needed (its current version's).
	Quorum int
	// Grant summarises the request's grant once approved (nil before),
	// so lists show its state without reading it row by row.
	Grant *GrantSummary
}

// Review is one approver's decision on a request.
type Review struct {
	RequestID       string
	Approver        string
	Decision        Decision
	Comment         string
	SignatureDigest string        // empty when no signature
	GrantTTL        time.Duration // the grant lifetime this approver agreed to (approve only)
	At              time.Time
	// KeySignatureDigest names the decision's SSHSIG (StoredKeySignature)
	// and KeyFingerprint the key that made it; both "" when the decision
	// was not signed with the approver's SSH key.
	KeySignatureDigest string
	KeyFingerprint     string
}

// Grant is the access issued when a request is approved; its ID is the token's jti.
type Grant struct {
	ID           string
	RequestID    string
	AppID        string
	Subject      string
	Audience     string
	Scope        string
	IssuedAt     time.Time
	ExpiresAt    time.Time
	Kid          string
	Token        string // the signed access token
	RevokedAt    time.Time
	RevokedBy    string
	RevokeReason string
	// BreakGlass grants were self-approved in an emergency and wait for a
	// post-review (ReviewedAt is zero until someone acknowledges them).
	BreakGlass    bool
	ReviewedAt    time.Time
	ReviewedBy    string
	ReviewComment string
}

// Revoked reports whether the grant has been revoked.
func (g Grant) Revoked() bool { return !g.RevokedAt.IsZero() }

// SigningKey is a token signing key as stored: PKCS#8 bytes and its algorithm.
type SigningKey struct {
	Kid       string
	Alg       string
	Private   []byte // PKCS#8 DER
	CreatedAt time.Time
	RetiredAt time.Time // zero while not retired; may be ahead during a staged rotation
	// ActivatesAt is when the key starts signing (a staged rotation
	// publishes it first); zero or past for a key that signs now.
	ActivatesAt time.Time
	// PublishUntil is when the last token this key signed expires; after it the
	// public key need not be published any more.
	PublishUntil time.Time
}

// AuditEvent is one entry of the tamper-evident audit chain.
type AuditEvent struct {
	Seq      int64
	At       time.Time
	Actor    string
	Action   string
	Subject  string          // the id the event is about (request, grant, key, …)
	Payload  json.RawMessage // canonical JSON object
	PrevHash string          // hex
	Hash     string          // hex SHA-256(prev_hash ‖ canonical event)
}

// canonicalAudit is the fixed-order form hashed into the chain.
type canonicalAudit struct {
	Seq     int64           `json:"seq"`
	At      string          `json:"at"`
	Actor   string          `json:"actor"`
	Action  string          `json:"action"`
	Subject string          `json:"subject"`
	Payload json.RawMessage `json:"payload"`
}

// ChainHash computes an event's hash from the previous hash and the event's
// canonical content. Stores call it when appending; verification calls it when
// walking, so both agree by construction.
func ChainHash(prevHash string, ev AuditEvent) string {
	payload := ev.Payload
	if len(payload) == 0 {
		payload = json.RawMessage("{}")
	}
	b, _ := json.Marshal(canonicalAudit{
		Seq:     ev.Seq,
		At:      ev.At.UTC().Format(time.RFC3339Nano),
		Actor:   ev.Actor,
		Action:  ev.Action,
		Subject: ev.Subject,
		Payload: payload,
	})
	prev, _ := hex.DecodeString(prevHash)
	h := sha256.New()
	h.Write(prev)
	h.Write(b)
	return hex.EncodeToString(h.Sum(nil))
}

// canonicalRequest is what an approver sees and signs, in a fixed order.
type canonicalRequest struct {
	ID            string      `json:"id"`
	Application   string      `json:"application"`
	Template      string      `json:"template"`
	TemplateTitle string      `json:"template_title"`
	TemplateType  string      `json:"template_type"`
	Quorum        int         `json:"quorum"`
	Requester     string      `json:"requester"`
	Reason        string      `json:"reason"`
	Metadata      [][2]string `json:"metadata"`
	TTL           string      `json:"ttl"`
	CreatedAt     string      `json:"created_at"`
	ExpiresAt     string      `json:"expires_at"`
}

// Digest is the hex SHA-256 of the canonical request content together with the
// template terms it is decided under. A decision carries the digest the
// approver saw; if anything changed since, the digests differ and the
// decision is refused.
func Digest(r Request, t Template) string {
	keys := make([]string, 0, len(r.Metadata))
	for k := range r.Metadata {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	md := make([][2]string, 0, len(keys))
	for _, k := range keys {
		md = append(md, [2]string{k, r.Metadata[k]})
	}
	b, _ := json.Marshal(canonicalRequest{
		ID:            r.ID,
		Application:   r.AppID,
		Template:      t.Key,
		TemplateTitle: t.Title,
		TemplateType:  string(t.Type),
		Quorum:        t.Quorum,
		Requester:     r.Requester,
		Reason:        r.Reason,
		Metadata:      md,
		TTL:           r.TTL.String(),
		CreatedAt:     r.CreatedAt.UTC().Format(time.RFC3339Nano),
		ExpiresAt:     r.ExpiresAt.UTC().Format(time.RFC3339Nano),
	})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
