package client

import (
	"encoding/json"
	"time"
)

// Status is a request's state as jitdesk reports it.
type Status string

// The statuses of a request.
const (
	StatusPending   Status = "pending"
	StatusApproved  Status = "approved"
	StatusDenied    Status = "denied"
	StatusExpired   Status = "expired"
	StatusCancelled Status = "cancelled"
)

// NewRequest is what an application asks for on behalf of one of its users.
type NewRequest struct {
	Template string            // the template key
	User     string            // the user asking: the intake token's sub and the request's requester
	Reason   string            // shown to approvers
	TTL      time.Duration     // 0: the template's default
	Metadata map[string]string // the template's fields
}

// Request is a JIT request as jitdesk reports it to its application. Every
// string in it came from outside (the application, approvers): treat it as
// untrusted text when showing it.
type Request struct {
	ID        string
	Status    Status
	Template  string
	Requester string
	Reason    string
	Metadata  map[string]string
	TTL       time.Duration
	Approvals int
	CreatedAt time.Time
	ExpiresAt time.Time // when a pending request expires
	DecidedAt time.Time // zero while pending
	DecidedBy string
	// Decision is set once the request is decided, when the server reports it.
	Decision *Decision
}

// Decision is how a request ended: its outcome, who decided, when, and the
// approver's comment (a denial's reason).
type Decision struct {
	Outcome string
	By      string
	At      time.Time
	Comment string
}

// AccessToken is the token of an approved request.
type AccessToken struct {
	RequestID   string
	AccessToken string // the RFC 9068 JWT; a credential: never log it
	TokenType   string // "Bearer"
	ExpiresAt   time.Time
	Scope       string
}

// String hides the token, so printing an AccessToken never leaks it.
func (t AccessToken) String() string {
	return "AccessToken{request " + t.RequestID + ", scope " + t.Scope + ", expires " + t.ExpiresAt.UTC().Format(time.RFC3339) + "}"
}

// Introspection is jitdesk's RFC 7662 answer about a token.
type Introspection struct {
	Active    bool           `json:"active"`
	Scope     string         `json:"scope,omitempty"`
	ClientID  string         `json:"client_id,omitempty"`
	Subject   string         `json:"sub,omitempty"`
	Issuer    string         `json:"iss,omitempty"`
	ID        string         `json:"jti,omitempty"`
	ExpiresAt int64          `json:"exp,omitempty"`
	JIT       map[string]any `json:"jit,omitempty"`
}

// wireDecision is the decision object on the wire.
type wireDecision struct {
	Outcome string `json:"outcome"`
	By      string `json:"by"`
	At      string `json:"at"`
	Comment string `json:"comment"`
}

func (w *wireDecision) decision() *Decision {
	if w == nil {
		return nil
	}
	return &Decision{Outcome: w.Outcome, By: w.By, At: parseTime(w.At), Comment: w.Comment}
}

type wireRequest struct {
	ID         string            `json:"id"`
	Status     Status            `json:"status"`
	Template   string            `json:"template"`
	Requester  string            `json:"requester"`
	Reason     string            `json:"reason"`
	Metadata   map[string]string `json:"metadata"`
	TTLSeconds int64             `json:"ttl_seconds"`
	Approvals  int               `json:"approvals"`
	CreatedAt  string            `json:"created_at"`
	ExpiresAt  string            `json:"expires_at"`
	DecidedAt  string            `json:"decided_at"`
	DecidedBy  string            `json:"decided_by"`
	Decision   *wireDecision     `json:"decision"`
}

// UnmarshalJSON reads the request as jitdesk's API sends it.
func (r *Request) UnmarshalJSON(b []byte) error {
	var w wireRequest
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*r = Request{
		ID: w.ID, Status: w.Status, Template: w.Template, Requester: w.Requester, Reason: w.Reason,
		Metadata: w.Metadata, TTL: time.Duration(w.TTLSeconds) * time.Second, Approvals: w.Approvals,
		CreatedAt: parseTime(w.CreatedAt), ExpiresAt: parseTime(w.ExpiresAt), DecidedAt: parseTime(w.DecidedAt),
		DecidedBy: w.DecidedBy, Decision: w.Decision.decision(),
	}
	if r.Decision == nil && w.DecidedBy != "" && r.Status != StatusPending {
		// Older servers report only decided_by/decided_at.
		r.Decision = &Decision{Outcome: string(r.Status), By: w.DecidedBy, At: r.DecidedAt}
	}
	return nil
}

func parseTime(s string) time.Time {
	if s == "" {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}
	}
	return t
}
