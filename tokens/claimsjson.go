package tokens

import (
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// A fast codec for the claims jitdesk itself writes. Reflection-driven
// encoding/json was most of the cost of issuing and verifying a token over
// the signature itself; this codec handles only the plain shape (the known
// members, each once, in no particular order, with printable-ASCII strings
// needing no escapes and integer times) and reports anything else as not
// handled, so the caller falls back to encoding/json. It never decides a
// token's validity: for every input it handles, it produces exactly what
// encoding/json would (claimsjson_test.go checks that, including by fuzzing).

// plainString reports whether encoding/json writes s as its bytes between
// quotes: printable ASCII with none of the characters it escapes.
func plainString(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return false
		}
	}
	return true
}

func plainStrings(ss []string) bool {
	for _, s := range ss {
		if !plainString(s) {
			return false
		}
	}
	return true
}

// appendAccessClaims appends w's JSON as json.Marshal(&w) would write it,
// or reports false (appending nothing) when some string needs escaping.
func appendAccessClaims(dst []byte, w *accessClaimsJSON) ([]byte, bool) {
	j := &w.JIT
	if !plainString(w.Issuer) || !plainString(w.Subject) || !plainStrings(w.Audience) || !plainString(w.ID) ||
		!plainString(w.ClientID) || !plainString(w.Scope) || !plainString(j.RequestID) || !plainString(j.ApprovalType) ||
		!plainStrings(j.Approvers) || !plainString(j.Reason) || !plainString(j.RequestDigest) || !plainStrings(j.SignatureDigests) ||
		!plainStrings(j.KeySignatureDigests) {
		return dst, false
	}
	for k, v := range j.Metadata {
		if !plainString(k) || !plainString(v) {
			return dst, false
		}
	}
	b := append(dst, '{')
	sep := false
	field := func(name string) {
		if sep {
			b = append(b, ',')
		}
		sep = true
		b = append(b, '"')
		b = append(b, name...)
		b = append(b, '"', ':')
	}
	str := func(s string) { b = append(append(append(b, '"'), s...), '"') }
	strs := func(ss []string) {
		if ss == nil {
			b = append(b, "null"...)
			return
		}
		b = append(b, '[')
		for i, s := range ss {
			if i > 0 {
				b = append(b, ',')
			}
			str(s)
		}
		b = append(b, ']')
	}
	if w.Issuer != "" {
		field("iss")
		str(w.Issuer)
	}
	if w.Subject != "" {
		field("sub")
		str(w.Subject)
	}
	if len(w.Audience) > 0 {
		field("aud")
		strs(w.Audience)
	}
	field("exp")
	b = strconv.AppendInt(b, w.ExpiresAt, 10)
	if w.hasNbf {
		field("nbf")
		b = strconv.AppendInt(b, w.nbf, 10)
	}
	field("iat")
	b = strconv.AppendInt(b, w.IssuedAt, 10)
	if w.ID != "" {
		field("jti")
		str(w.ID)
	}
	field("client_id")
	str(w.ClientID)
	field("scope")
	str(w.Scope)
	field("jit")
	sep = false
	b = append(b, '{')
	field("request_id")
	str(j.RequestID)
	field("approval_type")
	str(j.ApprovalType)
	field("approvers")
	strs(j.Approvers)
	field("reason")
	str(j.Reason)
	if len(j.Metadata) > 0 {
		field("metadata")
		b = append(b, '{')
		keys := make([]string, 0, len(j.Metadata))
		for k := range j.Metadata {
			keys = append(keys, k)
		}
		slices.Sort(keys) // encoding/json's map order
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			str(k)
			b = append(b, ':')
			str(j.Metadata[k])
		}
		b = append(b, '}')
	}
	field("request_digest")
	str(j.RequestDigest)
	if len(j.SignatureDigests) > 0 {
		field("signature_digests")
		strs(j.SignatureDigests)
	}
	if len(j.KeySignatureDigests) > 0 {
		field("key_signature_digests")
		strs(j.KeySignatureDigests)
	}
	if j.BreakGlass {
		field("break_glass")
		b = append(b, "true"...)
	}
	b = append(b, '}', '}')
	return b, true
}

// claimsScanner reads the plain shape; every method reports false for
// anything outside it, leaving the decision to encoding/json. It scans a
// string copy of the input so that decoded strings are substrings of that
// one allocation rather than one allocation each.
type claimsScanner struct {
	s string
	i int
}

func (p *claimsScanner) byte(c byte) bool {
	if p.i < len(p.s) && p.s[p.i] == c {
		p.i++
		return true
	}
	return false
}

func (p *claimsScanner) peek(c byte) bool { return p.i < len(p.s) && p.s[p.i] == c }

// str reads a string of printable ASCII with no escapes, whose value is
// then exactly its bytes.
func (p *claimsScanner) str() (string, bool) {
	if !p.byte('"') {
		return "", false
	}
	start := p.i
	for p.i < len(p.s) {
		c := p.s[p.i]
		switch {
		case c == '"':
			v := p.s[start:p.i]
			p.i++
			return v, true
		case c < 0x20 || c >= 0x7f || c == '\\':
			return "", false
		}
		p.i++
	}
	return "", false
}

// strs reads an array of plain strings; [] gives an empty, non-nil slice,
// as encoding/json does.
func (p *claimsScanner) strs() ([]string, bool) {
	if !p.byte('[') {
		return nil, false
	}
	out := []string{}
	if p.byte(']') {
		return out, true
	}
	for {
		s, ok := p.str()
		if !ok {
			return nil, false
		}
		out = append(out, s)
		if p.byte(']') {
			return out, true
		}
		if !p.byte(',') {
			return nil, false
		}
	}
}

// strsOrNull is strs that also reads null, as a nil slice (what
// encoding/json writes for a nil slice without omitempty, and reads back).
func (p *claimsScanner) strsOrNull() ([]string, bool) {
	if p.literal("null") {
		return nil, true
	}
	return p.strs()
}

// numericDate reads an integer of at most 15 digits, where float64 (which
// golang-jwt parses NumericDate through) is exact, and builds the date the
// way golang-jwt does.
func (p *claimsScanner) numericDate() (*jwt.NumericDate, bool) {
	start := p.i
	p.byte('-')
	digits := p.i
	if p.byte('0') {
		// JSON allows no leading zeros, so a 0 is the whole number.
	} else {
		for p.i < len(p.s) && p.s[p.i] >= '0' && p.s[p.i] <= '9' {
			p.i++
		}
	}
	if n := p.i - digits; n == 0 || n > 15 {
		return nil, false
	}
	if p.i < len(p.s) && (p.s[p.i] == '.' || p.s[p.i] == 'e' || p.s[p.i] == 'E' || (p.s[p.i] >= '0' && p.s[p.i] <= '9')) {
		return nil, false
	}
	v, err := strconv.ParseInt(p.s[start:p.i], 10, 64)
	if err != nil {
		return nil, false
	}
	return jwt.NewNumericDate(time.Unix(v, 0)), true
}

// object reads {"key":value,...}, calling member for each key; member
// reads the value. Keys repeat only if member allows it.
func (p *claimsScanner) object(member func(key string) bool) bool {
	if !p.byte('{') {
		return false
	}
	if p.byte('}') {
		return true
	}
	for {
		k, ok := p.str()
		if !ok || !p.byte(':') || !member(k) {
			return false
		}
		if p.byte('}') {
			return true
		}
		if !p.byte(',') {
			return false
		}
	}
}

// once marks bit in seen, refusing a member that was already read: with
// duplicates encoding/json's last-wins (and map-merging) rules would apply.
func once(seen *uint32, bit uint32) bool {
	if *seen&bit != 0 {
		return false
	}
	*seen |= bit
	return true
}

// registered reads the value of registered claim key into c. known is
// false for a key that is not a registered claim, which the caller may
// know; ok is false when the value is outside the plain shape.
func (p *claimsScanner) registered(c *jwt.RegisteredClaims, key string, seen *uint32) (known, ok bool) {
	var bit uint32
	switch key {
	case "iss":
		bit = 1 << 0
	case "sub":
		bit = 1 << 1
	case "aud":
		bit = 1 << 2
	case "exp":
		bit = 1 << 3
	case "nbf":
		bit = 1 << 4
	case "iat":
		bit = 1 << 5
	case "jti":
		bit = 1 << 6
	default:
		return false, false
	}
	if !once(seen, bit) {
		return true, false
	}
	switch key {
	case "iss":
		c.Issuer, ok = p.str()
	case "sub":
		c.Subject, ok = p.str()
	case "jti":
		c.ID, ok = p.str()
	case "aud":
		if p.peek('"') {
			var s string
			s, ok = p.str()
			c.Audience = jwt.ClaimStrings{s}
		} else {
			var ss []string
			ss, ok = p.strs()
			if len(ss) > 0 { // golang-jwt leaves aud nil for []
				c.Audience = ss
			}
		}
	case "exp":
		c.ExpiresAt, ok = p.numericDate()
	case "nbf":
		c.NotBefore, ok = p.numericDate()
	case "iat":
		c.IssuedAt, ok = p.numericDate()
	}
	return true, ok
}

// decodeAccessClaimsFast decodes the plain shape of AccessClaims, reporting
// false for anything else.
func decodeAccessClaimsFast(data []byte) (AccessClaims, bool) {
	var c AccessClaims
	p := claimsScanner{s: string(data)}
	var seen uint32
	ok := p.object(func(key string) bool {
		if known, ok := p.registered(&c.RegisteredClaims, key, &seen); known {
			return ok
		}
		var ok bool
		switch key {
		case "client_id":
			if ok = once(&seen, 1<<7); ok {
				c.ClientID, ok = p.str()
			}
		case "scope":
			if ok = once(&seen, 1<<8); ok {
				c.Scope, ok = p.str()
			}
		case "jit":
			if ok = once(&seen, 1<<9); ok {
				ok = p.jit(&c.JIT)
			}
		}
		return ok
	})
	if !ok || p.i != len(data) {
		return AccessClaims{}, false
	}
	return c, true
}

func (p *claimsScanner) jit(j *JITClaim) bool {
	var seen uint32
	return p.object(func(key string) bool {
		var ok bool
		switch key {
		case "request_id":
			if ok = once(&seen, 1<<0); ok {
				j.RequestID, ok = p.str()
			}
		case "approval_type":
			if ok = once(&seen, 1<<1); ok {
				j.ApprovalType, ok = p.str()
			}
		case "approvers":
			if ok = once(&seen, 1<<2); ok {
				j.Approvers, ok = p.strsOrNull()
			}
		case "reason":
			if ok = once(&seen, 1<<3); ok {
				j.Reason, ok = p.str()
			}
		case "metadata":
			if ok = once(&seen, 1<<4); ok {
				m := map[string]string{}
				ok = p.object(func(k string) bool {
					if _, dup := m[k]; dup {
						return false
					}
					v, ok := p.str()
					m[k] = v
					return ok
				})
				j.Metadata = m
			}
		case "request_digest":
			if ok = once(&seen, 1<<5); ok {
				j.RequestDigest, ok = p.str()
			}
		case "signature_digests":
			if ok = once(&seen, 1<<6); ok {
				j.SignatureDigests, ok = p.strs()
			}
		case "key_signature_digests":
			if ok = once(&seen, 1<<8); ok {
				j.KeySignatureDigests, ok = p.strs()
			}
		case "break_glass":
			if ok = once(&seen, 1<<7); ok {
				ok = p.literal("true")
				j.BreakGlass = ok
				if !ok {
					ok = p.literal("false")
				}
			}
		}
		return ok
	})
}

func (p *claimsScanner) literal(lit string) bool {
	if strings.HasPrefix(p.s[p.i:], lit) {
		p.i += len(lit)
		return true
	}
	return false
}

// decodeIntakeClaimsFast decodes the plain shape of IntakeClaims (what
// jitdesk's SignIntake and common JWT libraries write), reporting false for
// anything else, unknown members included.
func decodeIntakeClaimsFast(data []byte) (IntakeClaims, bool) {
	var c IntakeClaims
	p := claimsScanner{s: string(data)}
	var seen uint32
	ok := p.object(func(key string) bool {
		_, ok := p.registered(&c.RegisteredClaims, key, &seen)
		return ok
	})
	if !ok || p.i != len(data) {
		return IntakeClaims{}, false
	}
	return c, true
}

// decodeAccessClaims decodes claims the fast way when it can and with
// encoding/json (the reference) otherwise.
func decodeAccessClaims(data []byte) (AccessClaims, error) {
	if c, ok := decodeAccessClaimsFast(data); ok {
		return c, nil
	}
	var c AccessClaims
	err := json.Unmarshal(data, &c)
	return c, err
}

func decodeIntakeClaims(data []byte) (IntakeClaims, error) {
	if c, ok := decodeIntakeClaimsFast(data); ok {
		return c, nil
	}
	var c IntakeClaims
	err := json.Unmarshal(data, &c)
	return c, err
}

// encodeAccessClaims encodes w the fast way when it can and with
// encoding/json otherwise; both give the same bytes.
func encodeAccessClaims(w *accessClaimsJSON) ([]byte, error) {
	if b, ok := appendAccessClaims(make([]byte, 0, 512), w); ok {
		return b, nil
	}
	c := *w
	if c.hasNbf {
		c.NotBefore = &c.nbf
	}
	return json.Marshal(&c)
}
