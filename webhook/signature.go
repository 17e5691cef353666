package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/jitdesk/jitdesk/approvals"
)

// The Standard Webhooks headers (https://www.standardwebhooks.com). Header
// names are case-insensitive; these are the spelling the specification uses.
const (
	// HeaderID carries the event id (the body's "id", evt_<seq>): the same
	// on every retry of the event, so receivers use it as their idempotency key.
	HeaderID = "webhook-id"
	// HeaderTimestamp carries the unix seconds of this attempt.
	HeaderTimestamp = "webhook-timestamp"
	// HeaderSignature carries one or more space-separated "v1,<base64>" signatures.
	HeaderSignature = "webhook-signature"
)

// SecretPrefix starts every webhook signing secret, in the specification's
// form as in the legacy one.
const SecretPrefix = approvals.WebhookSecretPrefix

// Key sizes the specification allows for HMAC-SHA256 signing secrets.
const (
	MinKeyBytes = 24
	MaxKeyBytes = 64
)

// DefaultTolerance is how far a receiver should accept a timestamp from its own clock.
const DefaultTolerance = 5 * time.Minute

// SecretProblem says what is wrong with a webhook secret, without repeating it.
type SecretProblem string

// What SecretKey can find wrong.
const (
	SecretNoPrefix  SecretProblem = "does not start with " + SecretPrefix
	SecretNotBase64 SecretProblem = "is not standard base64 (nor the legacy unpadded base64url) after " + SecretPrefix
	SecretLength    SecretProblem = "does not decode to 24..64 bytes"
)

// ErrSecret is matched by errors.Is for every SecretError.
var ErrSecret = errors.New("webhook secret is malformed")

// SecretError is why a webhook secret cannot be used. It never holds the
// secret, so it is safe to log.
type SecretError struct {
	Problem SecretProblem
}

func (e *SecretError) Error() string { return "webhook secret " + string(e.Problem) }

// Is makes errors.Is(err, ErrSecret) hold.
func (e *SecretError) Is(target error) bool { return target == ErrSecret }

// Errors Sign and Verify return; both are matched with errors.Is.
var (
	// ErrBadSignature: a header is missing or malformed, or no v1
	// signature in webhook-signature is the HMAC under the secret.
	ErrBadSignature = errors.New("webhook signature does not verify")
	// ErrStale: webhook-timestamp is further from now than the tolerance.
	ErrStale = errors.New("webhook timestamp outside tolerance")
	// ErrBadID: a message id is empty, has a '.', or is not printable
	// ASCII. The specification forbids '.' because the signed content is
	// id "." timestamp "." body, and a dotted id lets one message's content
	// be re-split into another id and timestamp.
	ErrBadID = errors.New("webhook message id must be 1..256 printable ASCII characters without '.'")
)

// maxIDLen bounds a message id; jitdesk's are evt_<seq>.
const maxIDLen = 256

// SecretKey returns the HMAC key a webhook secret stands for. The
// specification's form is "whsec_" followed by standard base64 (with
// padding) of 24..64 random bytes; secrets jitdesk issued before it followed
// the specification are "whsec_" and unpadded base64url of 32 bytes, which
// is accepted too and means the same bytes. Errors are *SecretError.
func SecretKey(secret string) ([]byte, error) {
	enc, ok := strings.CutPrefix(secret, SecretPrefix)
	if !ok {
		return nil, &SecretError{Problem: SecretNoPrefix}
	}
	// Strict: one key has exactly one accepted spelling per alphabet, and
	// the decoders' habit of skipping CR and LF is not copied into secrets.
	if strings.ContainsAny(enc, "\r\n") {
		return nil, &SecretError{Problem: SecretNotBase64}
	}
	key, err := base64.StdEncoding.Strict().DecodeString(enc)
	if err != nil {
		key, err = base64.RawURLEncoding.Strict().DecodeString(enc)
	}
	if err != nil {
		return nil, &SecretError{Problem: SecretNotBase64}
	}
	if len(key) < MinKeyBytes || len(key) > MaxKeyBytes {
		return nil, &SecretError{Problem: SecretLength}
	}
	return key, nil
}

// validID reports whether id may be signed or verified: not empty, at most
// maxIDLen printable ASCII characters, no '.'.
func validID(id string) bool {
	if id == "" || len(id) > maxIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c <= ' ' || c > '~' || c == '.' {
			return false
		}
	}
	return true
}

// mac is HMAC-SHA256 over id "." ts "." body, the specification's signed content.
func mac(key []byte, id string, ts int64, body []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id))
	m.Write([]byte{'.'})
	m.Write([]byte(strconv.FormatInt(ts, 10)))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// Sign returns one webhook-signature entry, "v1,<base64 HMAC-SHA256>", for
// message id sent at unix time ts with body, under secret (see SecretKey).
// During a secret rotation a sender joins the entries of the old and the new
// secret with a space; receivers accept either.
func Sign(secret, id string, ts int64, body []byte) (string, error) {
	key, err := SecretKey(secret)
	if err != nil {
		return "", err
	}
	if !validID(id) {
		return "", ErrBadID
	}
	return "v1," + base64.StdEncoding.EncodeToString(mac(key, id, ts, body)), nil
}

// Verify checks a received webhook as the specification describes: the
// webhook-id, webhook-timestamp and webhook-signature headers are present,
// the timestamp is within tolerance of now, and one of the space-separated
// v1 signatures (several are sent during a secret rotation; other versions
// are skipped) equals, compared in constant time, the HMAC of
// id "." timestamp "." body under secret. body must be the raw bytes as
// received. On success the receiver should still dedupe on webhook-id:
// delivery is at least once. Errors match ErrSecret, ErrBadSignature or
// ErrStale; none repeats a header value.
func Verify(secret string, header http.Header, body []byte, now time.Time, tolerance time.Duration) error {
	key, err := SecretKey(secret)
	if err != nil {
		return err
	}
	id, timestamp, signatures := header.Get(HeaderID), header.Get(HeaderTimestamp), header.Get(HeaderSignature)
	switch {
	case id == "":
		return fmt.Errorf("%w: no %s header", ErrBadSignature, HeaderID)
	case timestamp == "":
		return fmt.Errorf("%w: no %s header", ErrBadSignature, HeaderTimestamp)
	case signatures == "":
		return fmt.Errorf("%w: no %s header", ErrBadSignature, HeaderSignature)
	case !validID(id):
		return fmt.Errorf("%w: %s: %w", ErrBadSignature, HeaderID, ErrBadID)
	}
	ts, ok := unixSeconds(timestamp)
	if !ok {
		return fmt.Errorf("%w: %s is not unix seconds", ErrBadSignature, HeaderTimestamp)
	}
	if d := now.Sub(time.Unix(ts, 0)); d > tolerance || d < -tolerance {
		return fmt.Errorf("%w: %s from now", ErrStale, d.Round(time.Second))
	}
	want := []byte(base64.StdEncoding.EncodeToString(mac(key, id, ts, body)))
	for _, entry := range strings.Fields(signatures) {
		version, sig, ok := strings.Cut(entry, ",")
		if ok && version == "v1" && hmac.Equal([]byte(sig), want) {
			return nil
		}
	}
	return ErrBadSignature
}

// unixSeconds parses a timestamp of ASCII digits only (no sign, no
// spaces), as the specification's integer timestamps are written.
func unixSeconds(s string) (int64, bool) {
	if s == "" || len(s) > 18 {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	ts, err := strconv.ParseInt(s, 10, 64)
	return ts, err == nil
}
