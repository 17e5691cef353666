package approvals

import (
	"context"
	"time"
)

// Store is the persistence jitdesk's domain needs. The store package
// implements it on SQLite. Every rule is checked by Service inside one
// Update transaction, so a rule and the write it guards commit together.
type Store interface {
	// Update runs fn in one write transaction (begun IMMEDIATE, so two
	// writers never both read-then-write). It commits when fn returns nil
	// and rolls back otherwise, returning fn's error unchanged.
	Update(ctx context.Context, fn func(Tx) error) error
	// View runs fn in a read transaction with a consistent snapshot.
	View(ctx context.Context, fn func(ReadTx) error) error
	// Subscribe returns a channel that receives a value soon after any
	// connection or process commits a write (coalesced: one value may stand
	// for many writes), and a function that ends the subscription.
	Subscribe() (<-chan struct{}, func())
	// Close releases the database.
	Close() error
}

// Scope selects which requests a list covers.
type Scope int

// Request list scopes.
const (
	ScopeAll     Scope = iota // every request, newest first
	ScopePending              // pending, oldest first (most urgent first)
	ScopeDecided              // no longer pending, most recently decided first
)

// Cursor is a keyset position in a list: the ordering time (created_at for
// pending and all, decided_at for decided) and the id as a tie-breaker.
type Cursor struct {
	At time.Time
	ID string
}

// RequestQuery describes one page of requests. Pages are keyset-paged: the
// store never counts or skips rows to find a page.
type RequestQuery struct {
	Scope Scope
	// EligibleFor, when set, keeps only pending requests that this approver
	// could still decide: named on the template or in one of its groups, not
	// the requester, and not yet reviewed by them ("needs me").
	EligibleFor string
	// OnCall names the rotations EligibleFor is on call for right now;
	// templates naming them count as eligible too. Service.List fills it.
	OnCall []string
	// Reach lists rotations EligibleFor is further along in: requests of
	// templates naming them count once escalated to at least Level.
	Reach []RotationReach
	// EscalationGroups are EligibleFor's groups: escalated requests of
	// templates escalating to one of them count.
	EscalationGroups []string
	// Viewer, when set, keeps only requests this approver may see: of
	// templates they could decide under any rule (named, group, on call,
	// escalation) and their own; an auditor sees every request. Service.List
	// fills VisibleTemplates and SelfIdentities from it; an unknown or
	// disabled viewer sees nothing.
	Viewer string
	// VisibleTemplates and SelfIdentities are what Viewer may see: requests
	// of these templates, or whose requester identity is one of these.
	// AllVisible (an auditor) lifts the restriction.
	VisibleTemplates []string
	SelfIdentities   []string
	AllVisible       bool
	// Requester, when set, keeps only this requester's requests.
	Requester string
	// Filter, when set, keeps requests whose requester, template key or
	// title, or reason contains it (case-insensitive). Outside the pending
	// scope a filter shorter than ShortFilterMinRunes searches only the
	// newest ShortFilterWindow requests of the scope (see there).
	Filter string
	// After returns the page following this position in the scope's order;
	// Before the page preceding it (still returned in the scope's order).
	After  *Cursor
	Before *Cursor
	// Limit is the page size (1..500; 0 means 50).
	Limit int
	// CountAtMost, when positive, stops a count at this many: a tab label
	// over unbounded history needs "100,000+", not a walk of every row
	// after each change.
	CountAtMost int
}

// A filter of fewer than ShortFilterMinRunes characters cannot use the
// trigram search index, so it is matched by scanning rows. History grows
// without bound (a million decided requests scan in about 1.5 s), so outside
// the pending scope such a filter searches only the newest
// ShortFilterWindow requests of the scope; three characters or more search
// everything. The pending scope is scanned whole: it is small by nature.
const (
	ShortFilterMinRunes = 3
	ShortFilterWindow   = 10000
)

// RotationReach is how many hand-overs away an approver is in a rotation.
type RotationReach struct {
	Rotation string
	Level    int
}

// StoredSignature is an approver's signature as persisted: its canonical
// bytes and the digest that binds it.
type StoredSignature struct {
	Digest    string
	RequestID string
	Approver  string
	Kind      string
	Canonical []byte
	SignedAt  time.Time
}

// The persistence interface is split per aggregate, as the domain is
// (applications, approvers, templates, requests and reviews, grants,
// signing keys, on call, audit, webhooks, settings); ReadTx and Tx compose
// them. A store implements all of them over one transaction; the
// conformance suite (storetest) checks every method's contract.

// ApplicationReads reads applications.
type ApplicationReads interface {
	Application(id string) (Application, error)
	ApplicationByName(name string) (Application, error)
	// Applications lists applications by name after the given name.
	Applications(afterName string, limit int) ([]Application, error)
}

// ApplicationWrites changes applications.
type ApplicationWrites interface {
	InsertApplication(Application) error // ErrConflict on a duplicate id or name
	// UpdateApplication rewrites an application's mutable fields (name,
	// audience, secrets and their formats, disabled, limits).
	UpdateApplication(Application) error
	// CountPendingForApp counts an application's pending requests, stopping at atMost.
	CountPendingForApp(appID string, atMost int) (int, error)
}

// ApproverReads reads approvers.
type ApproverReads interface {
	Approver(login string) (Approver, error)
	// ApproverBySSHKey finds the approver owning the key with this fingerprint.
	ApproverBySSHKey(fingerprint string) (Approver, error)
	Approvers(afterLogin string, limit int) ([]Approver, error)
	// ApproversByEmail lists the approvers (disabled ones too) with this
	// email; "" matches nobody.
	ApproversByEmail(email string) ([]Approver, error)
}

// ApproverWrites changes approvers and their keys.
type ApproverWrites interface {
	InsertApprover(Approver) error // ErrConflict on a duplicate login or SSH key
	// UpdateApprover rewrites an approver's name, email, auditor flag and groups.
	UpdateApprover(Approver) error
	// SetApproverDisabled disables (at non-zero, by whom) or enables (zero) an approver.
	SetApproverDisabled(login string, at time.Time, by string) error
	// AddSSHKey registers a key (or brings back one this approver removed);
	// ErrConflict when another approver holds it.
	AddSSHKey(login string, k SSHKey) error
	// RemoveSSHKey marks an approver's active key removed at "at".
	RemoveSSHKey(login, fingerprint string, at time.Time) error
}

// TemplateReads reads templates and their versions.
type TemplateReads interface {
	Template(key string) (Template, error)
	Templates(afterKey string, limit int) ([]Template, error)
	// TemplateVersion returns the terms of one version of a template
	// (ErrNotFound when that version was never recorded).
	TemplateVersion(key string, version int) (Template, error)
	// TemplateVersions lists a template's recorded versions, oldest first.
	TemplateVersions(key string) ([]TemplateVersionInfo, error)
	// TemplatesUsingRotation lists the keys of templates naming a rotation.
	TemplatesUsingRotation(rotation string) ([]string, error)
}

// TemplateWrites changes templates.
type TemplateWrites interface {
	InsertTemplate(Template) error // ErrConflict on a duplicate key
	// UpdateTemplate stores tm (Version raised by the caller) as the
	// current terms and records the version.
	UpdateTemplate(tm Template, by string, at time.Time) error
	// SetTemplateDisabled stops (at non-zero) or restarts (zero) new requests.
	SetTemplateDisabled(key string, at time.Time) error
}

// RequestReads reads requests, their reviews and signatures.
type RequestReads interface {
	Request(id string) (Request, error)
	Requests(q RequestQuery) ([]Request, error)
	// CountRequests counts what q selects, ignoring paging.
	CountRequests(q RequestQuery) (int, error)
	// PendingTotal is the number of pending requests, from kept counts.
	PendingTotal() (int, error)
	// DueEscalations returns up to limit pending requests whose next
	// escalation step is due at now.
	DueEscalations(now time.Time, limit int) ([]Request, error)
	// DuePending returns up to limit pending requests whose pending timeout
	// has passed at now, soonest first.
	DuePending(now time.Time, limit int) ([]Request, error)
	// EscalatingRequests lists pending requests of templates that escalate,
	// escalated at least minLevel steps, oldest first, keyset-paged by
	// (CreatedAt, ID).
	EscalatingRequests(minLevel int, after *Cursor, limit int) ([]Request, error)
	Reviews(requestID string) ([]Review, error)
	Signatures(requestID string) ([]StoredSignature, error)
	// Whole-table walks in key order, for audit verify's replay.
	RequestsByID(afterID string, limit int) ([]Request, error)
	ReviewsAfter(requestID, approver string, limit int) ([]Review, error)
	SignaturesAfter(afterDigest string, limit int) ([]StoredSignature, error)
	// KeySignatures lists a request's SSHSIG signatures, oldest first.
	KeySignatures(requestID string) ([]StoredKeySignature, error)
	// KeySignaturesAfter walks every key signature in digest order.
	KeySignaturesAfter(afterDigest string, limit int) ([]StoredKeySignature, error)
}

// RequestWrites changes requests and records reviews, signatures and
// intake replay ids.
type RequestWrites interface {
	InsertRequest(Request) error
	// SetRequestStatus moves a pending request to status, recording who
	// ended it and what they said (a cancel's reason; "" for reviews, whose
	// comments are on the review); it returns a *DecidedError (ErrNotPending)
	// when the request is no longer pending.
	SetRequestStatus(id string, status Status, at time.Time, by, comment string) error
	// InsertReview records a review and bumps the request's approval count
	// for approvals; ErrAlreadyReviewed when this approver already reviewed.
	InsertReview(Review) error
	InsertSignature(StoredSignature) error
	// InsertKeySignature records a decision's SSHSIG (append-only).
	InsertKeySignature(StoredKeySignature) error
	// SetEscalation moves a pending request's escalation level from one
	// value to another (compare-and-set); false when it had already moved.
	SetEscalation(id string, from, to int) (bool, error)
	// UseIntakeJTI records an intake token's (application, jti) until exp;
	// ErrReplay when it was already recorded. Records past their exp may be pruned.
	UseIntakeJTI(appID, jti string, exp, now time.Time) error
}

// GrantReads reads grants.
type GrantReads interface {
	Grant(id string) (Grant, error)
	GrantByRequest(requestID string) (Grant, error)
	// AwaitingReview lists unacknowledged break-glass grants, oldest first,
	// keyset-paged by (IssuedAt, ID).
	AwaitingReview(after *Cursor, limit int) ([]Grant, error)
	CountAwaitingReview() (int, error)
	// LatestGrant returns the newest grant, token included (ok false when
	// no grant exists), from whose token an old database adopts its issuer.
	LatestGrant() (g Grant, ok bool, err error)
	// GrantsAfter walks grants in id order, for audit verify's replay.
	GrantsAfter(afterID string, limit int) ([]Grant, error)
}

// GrantWrites changes grants.
type GrantWrites interface {
	InsertGrant(Grant) error
	// RevokeGrant marks a grant revoked; ErrRevoked when it already was.
	RevokeGrant(id string, at time.Time, by, reason string) error
	// AcknowledgeGrant records a break-glass grant's post-review, once.
	AcknowledgeGrant(id string, at time.Time, by, comment string) error
	// SetGrantToken rewrites a grant's stored token (sealing it).
	SetGrantToken(id, token string) error
}

// KeyReads reads token signing keys.
type KeyReads interface {
	// SigningKeys lists all signing keys, newest first.
	SigningKeys() ([]SigningKey, error)
}

// KeyWrites changes token signing keys.
type KeyWrites interface {
	InsertSigningKey(SigningKey) error
	// RetireSigningKey marks the key retired at "at" (which may be in the
	// future: a staged rotation) and publishable until publishUntil.
	RetireSigningKey(kid string, at, publishUntil time.Time) error
	// ActivateSigningKey makes kid sign from "at": its ActivatesAt becomes
	// at, and every other key not retired by then is retired at "at".
	ActivateSigningKey(kid string, at time.Time) error
	// ExtendKeyPublication keeps a key published (each token it signs
	// extends how long its public key must stay published): at least until
	// need; when that takes a write, the store raises it to upTo (≥ need),
	// so the grants that follow soon after need no write of their own.
	ExtendKeyPublication(kid string, need, upTo time.Time) error
	// SetSigningKeyPrivate rewrites a key's stored private bytes (sealing them).
	SetSigningKeyPrivate(kid string, private []byte) error
}

// OnCallReads reads rotations.
type OnCallReads interface {
	// Rotation returns a rotation with its overrides that end after now.
	Rotation(name string, now time.Time) (Rotation, error)
	// Rotations lists every active rotation (there are few) with overrides ending after now.
	Rotations(now time.Time) ([]Rotation, error)
	// RotationNames lists every rotation's name, removed ones too.
	RotationNames() ([]string, error)
}

// OnCallWrites changes rotations and overrides.
type OnCallWrites interface {
	InsertRotation(Rotation) error // ErrConflict on a duplicate name
	// UpdateRotation rewrites a rotation's members, shift and start.
	UpdateRotation(Rotation) error
	// SetRotationDisabled disables (at non-zero) or restores a rotation.
	SetRotationDisabled(name string, at time.Time) error
	InsertOverride(rotation string, o Override) error
	// CancelOverrides ends a rotation's overrides holding or to come at "at".
	CancelOverrides(rotation string, at time.Time) (int, error)
}

// AuditReads reads the audit chain.
type AuditReads interface {
	// AuditHead returns the newest event's seq and hash (0, "" when empty).
	AuditHead() (int64, string, error)
	// AuditEvents returns up to limit events with seq > afterSeq, ascending.
	AuditEvents(afterSeq int64, limit int) ([]AuditEvent, error)
	// AuditEventsDesc returns up to limit events with seq < beforeSeq (0 = newest), descending.
	AuditEventsDesc(beforeSeq int64, limit int) ([]AuditEvent, error)
}

// AuditWrites appends to the audit chain.
type AuditWrites interface {
	// AppendAudit appends ev to the chain, filling Seq, PrevHash and Hash
	// (with ChainHash), and returns the stored event.
	AppendAudit(ev AuditEvent) (AuditEvent, error)
}

// SettingReads reads deployment-wide settings.
type SettingReads interface {
	// Setting returns a deployment-wide setting; ok is false when unset.
	Setting(name string) (value string, ok bool, err error)
}

// SettingWrites stores deployment-wide settings.
type SettingWrites interface {
	// SetSetting stores a deployment-wide setting.
	SetSetting(name, value string) error
}

// WebhookReads reads hooks and their outbox.
type WebhookReads interface {
	// Webhook returns a hook by id, with its secret.
	Webhook(id string) (Webhook, error)
	// Webhooks lists hooks (removed ones too) by id after afterID, with secrets.
	Webhooks(afterID string, limit int) ([]Webhook, error)
	// WebhookDeliveries returns one page of the delivery log, newest first.
	WebhookDeliveries(q WebhookLogQuery) ([]WebhookDelivery, error)
	// ActiveWebhookIDs lists the ids of hooks not removed (there are few).
	ActiveWebhookIDs() ([]string, error)
	// DueWebhookDeliveries returns up to limit pending deliveries to this
	// hook due at now, soonest first, with URL, secret and body filled.
	DueWebhookDeliveries(hookID string, now time.Time, limit int) ([]WebhookDelivery, error)
	// NextWebhookDue returns the soonest NextAttemptAt of a pending
	// delivery to this hook (zero when none is scheduled).
	NextWebhookDue(hookID string) (time.Time, error)
	// WebhookQueueDepth counts pending deliveries and dead ones still kept.
	WebhookQueueDepth() (queued, dead int, err error)
}

// WebhookWrites changes hooks and the outbox.
type WebhookWrites interface {
	// InsertWebhook adds a hook and its subscriptions (every type when
	// Events is empty); ErrConflict on a duplicate id.
	InsertWebhook(Webhook) error
	// DisableWebhook marks a hook removed, drops its subscriptions and
	// cancels its pending deliveries, returning how many it cancelled.
	DisableWebhook(id string, at time.Time, by string) (int, error)
	// SetWebhookSecret rewrites a hook's stored secret (sealing it).
	SetWebhookSecret(id, secret string) error
	// EnqueueWebhookDeliveries adds a pending delivery of event seq for
	// every hook subscribed to typ, due at "at" unless an earlier delivery
	// of the same request to that hook is still pending (then it waits),
	// and returns how many it added. The event's body must follow in the
	// same transaction (InsertWebhookEvent) when any was added.
	EnqueueWebhookDeliveries(typ string, seq int64, requestID string, at time.Time) (int, error)
	// EnqueueWebhookDelivery adds one pending delivery of event seq to one
	// hook, ordered like EnqueueWebhookDeliveries (for test events).
	EnqueueWebhookDelivery(hookID string, seq int64, requestID string, at time.Time) error
	// InsertWebhookEvent stores an announced event's body.
	InsertWebhookEvent(WebhookEvent) error
	// PruneWebhookDeliveries deletes up to limit finished deliveries
	// (delivered, dead or cancelled) that finished before doneBefore, and
	// the event bodies no delivery needs any more; it returns how many of
	// each it deleted. Pending deliveries are never pruned.
	PruneWebhookDeliveries(doneBefore time.Time, limit int) (deliveries, bodies int, err error)
	// ClaimWebhookDelivery leases a pending delivery due at now to claim
	// until leaseUntil (compare-and-set); false when it was not due any more.
	ClaimWebhookDelivery(id int64, claim string, now, leaseUntil time.Time) (bool, error)
	// RecordWebhookAttempt records an attempt on a delivery still held by
	// a.Claim, moving it to state (due again at next when pending), and
	// returns its hook and request; ok is false when the claim was lost.
	RecordWebhookAttempt(a WebhookAttempt, state DeliveryState, next time.Time) (hookID, requestID string, ok bool, err error)
	// ReleaseNextWebhookDelivery makes the earliest waiting delivery of
	// this request to this hook due at "at".
	ReleaseNextWebhookDelivery(hookID, requestID string, at time.Time) error
}

// ReadTx reads within one transaction.
type ReadTx interface {
	ApplicationReads
	ApproverReads
	TemplateReads
	RequestReads
	GrantReads
	KeyReads
	OnCallReads
	AuditReads
	SettingReads
	WebhookReads
}

// Tx reads and writes within one transaction.
type Tx interface {
	ReadTx
	ApplicationWrites
	ApproverWrites
	TemplateWrites
	RequestWrites
	GrantWrites
	KeyWrites
	OnCallWrites
	AuditWrites
	SettingWrites
	WebhookWrites
}
