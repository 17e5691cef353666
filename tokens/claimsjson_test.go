package tokens

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// wireOf is the accessClaimsJSON IssueAccess builds for c.
func wireOf(c AccessClaims) *accessClaimsJSON {
	w := &accessClaimsJSON{
		Issuer: c.Issuer, Subject: c.Subject, Audience: c.Audience,
		ExpiresAt: c.ExpiresAt.Unix(), IssuedAt: c.IssuedAt.Unix(), ID: c.ID,
		ClientID: c.ClientID, Scope: c.Scope, JIT: c.JIT,
	}
	if c.NotBefore != nil {
		w.nbf, w.hasNbf = c.NotBefore.Unix(), true
	}
	return w
}

// marshalReference is encoding/json's encoding of w, the reference the
// fast encoder must match.
func marshalReference(t testing.TB, w *accessClaimsJSON) []byte {
	t.Helper()
	c := *w
	if c.hasNbf {
		c.NotBefore = &c.nbf
	}
	b, err := json.Marshal(&c)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// claimVariants are claims in and just outside the fast codec's shape.
func claimVariants() map[string]AccessClaims {
	out := map[string]AccessClaims{"typical": accessClaims()}
	add := func(name string, mut func(c *AccessClaims)) {
		c := accessClaims()
		mut(&c)
		out[name] = c
	}
	add("no nbf", func(c *AccessClaims) { c.NotBefore = nil })
	add("nil approvers", func(c *AccessClaims) { c.JIT.Approvers = nil })
	add("empty approvers", func(c *AccessClaims) { c.JIT.Approvers = []string{} })
	add("no metadata", func(c *AccessClaims) { c.JIT.Metadata = nil })
	add("empty metadata", func(c *AccessClaims) { c.JIT.Metadata = map[string]string{} })
	add("several metadata keys", func(c *AccessClaims) {
		c.JIT.Metadata = map[string]string{"z": "1", "a": "2", "m": "", "B": "x"}
	})
	add("break glass and digests", func(c *AccessClaims) {
		c.JIT.BreakGlass = true
		c.JIT.SignatureDigests = []string{"sha256:1", "sha256:2"}
	})
	add("key signature digests", func(c *AccessClaims) {
		c.JIT.KeySignatureDigests = []string{"9f86d081884c7d65", "2c26b46b68ffc68f"}
	})
	add("several audiences", func(c *AccessClaims) { c.Audience = jwt.ClaimStrings{"a", "b"} })
	add("epoch and negative times", func(c *AccessClaims) {
		c.IssuedAt, c.NotBefore, c.ExpiresAt = jwt.NewNumericDate(time.Unix(-5, 0)), jwt.NewNumericDate(time.Unix(0, 0)), jwt.NewNumericDate(time.Unix(1, 0))
	})
	for name, s := range map[string]string{
		"quote": `say "hi"`, "backslash": `C:\x`, "html": "<b>&</b>", "newline": "a\nb", "tab": "a\tb",
		"control": "a\x01b", "DEL": "a\x7fb", "non-ASCII": "für", "emoji": "🔥", "line separator": "a\u2028b",
		"invalid UTF-8": "a\xffb", "unicode escape lookalike": `\u0041`,
	} {
		add("reason with "+name, func(c *AccessClaims) { c.JIT.Reason = s })
		add("metadata key with "+name, func(c *AccessClaims) { c.JIT.Metadata = map[string]string{s: "v", "k": s} })
		add("approver with "+name, func(c *AccessClaims) { c.JIT.Approvers = []string{"alice", s} })
		add("sub with "+name, func(c *AccessClaims) { c.Subject = s })
	}
	return out
}

func TestFastClaimsEncodingIsByteForByteEncodingJSON(t *testing.T) {
	for name, c := range claimVariants() {
		t.Run(name, func(t *testing.T) {
			w := wireOf(c)
			want := marshalReference(t, w)
			got, err := encodeAccessClaims(w)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != string(want) {
				t.Fatalf("encoded\n%s\nencoding/json\n%s", got, want)
			}
		})
	}
}

func TestIssuedClaimsAreWhatGolangJWTWrote(t *testing.T) {
	// Tokens issued before this codec were golang-jwt's encoding of
	// AccessClaims; resource servers see the same claims now.
	for name, c := range claimVariants() {
		t.Run(name, func(t *testing.T) {
			want, err := json.Marshal(c) // golang-jwt's NumericDate and ClaimStrings marshalling
			if err != nil {
				t.Fatal(err)
			}
			got, err := encodeAccessClaims(wireOf(c))
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != string(want) {
				t.Fatalf("encoded\n%s\ngolang-jwt\n%s", got, want)
			}
		})
	}
}

func TestIssueAccessSigningInputIsGolangJWTs(t *testing.T) {
	for _, alg := range []Alg{EdDSA, ES256, RS256} {
		k := mustKey(t, alg)
		tok, err := IssueAccess(k, accessClaims())
		if err != nil {
			t.Fatal(err)
		}
		m, _ := signingMethod(alg)
		ref := jwt.NewWithClaims(m, accessClaims())
		ref.Header["typ"], ref.Header["kid"] = "at+jwt", k.Kid
		want, err := ref.SigningString()
		if err != nil {
			t.Fatal(err)
		}
		if got := tok[:strings.LastIndexByte(tok, '.')]; got != want {
			t.Fatalf("%s: signing input\n%s\ngolang-jwt\n%s", alg, got, want)
		}
	}
}

// checkFastDecode asserts that whenever the fast decoders take data, they
// produce exactly what encoding/json does.
func checkFastDecode(t *testing.T, data []byte) {
	t.Helper()
	if got, ok := decodeAccessClaimsFast(data); ok {
		var want AccessClaims
		if err := json.Unmarshal(data, &want); err != nil {
			t.Fatalf("fast access decode took %q, which encoding/json refuses: %v", data, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("fast access decode of %q\n got %#v\nwant %#v", data, got, want)
		}
	}
	if got, ok := decodeIntakeClaimsFast(data); ok {
		var want IntakeClaims
		if err := json.Unmarshal(data, &want); err != nil {
			t.Fatalf("fast intake decode took %q, which encoding/json refuses: %v", data, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("fast intake decode of %q\n got %#v\nwant %#v", data, got, want)
		}
	}
}

func TestFastClaimsDecodingIsEncodingJSONsWhereverItApplies(t *testing.T) {
	taken := 0
	for name, c := range claimVariants() {
		b, err := encodeAccessClaims(wireOf(c))
		if err != nil {
			t.Fatal(err)
		}
		t.Run(name, func(t *testing.T) { checkFastDecode(t, b) })
		if _, ok := decodeAccessClaimsFast(b); ok {
			taken++
		}
	}
	if taken < 10 {
		t.Fatalf("the fast path took only %d of the variants: it is not being exercised", taken)
	}
	for _, s := range fastDecodeEdgeCases {
		checkFastDecode(t, []byte(s))
	}
}

// fastDecodeEdgeCases are inputs near the plain shape's edges.
var fastDecodeEdgeCases = []string{
	`{}`, `{"iss":"a","iss":"b"}`, `{"ISS":"a"}`, `{"aud":[]}`, `{"aud":""}`, `{"aud":["a"]}`, `{"aud":null}`,
	`{"exp":01}`, `{"exp":-0}`, `{"exp":1.5}`, `{"exp":1e3}`, `{"exp":"5"}`, `{"exp":null}`, `{"exp":-}`,
	`{"exp":1234567890123456}`, `{"exp":123456789012345}`, `{"sub":"a"} `, ` {"sub":"a"}`, `{"sub":"a",}`,
	`{"jit":{"metadata":{"a":"1","a":"2"}}}`, `{"jit":{"metadata":{}}}`, `{"jit":{"approvers":null}}`,
	`{"jit":{"approvers":[]}}`, `{"jit":{"break_glass":true}}`, `{"jit":{"break_glass":false}}`,
	`{"jit":{"break_glass":null}}`, `{"jit":{"x":1}}`, `{"jit":{}}`, `{"jit":null}`, `{"client_id":"a\u0041"}`,
	`{"sub":"a"}{}`, `{"sub":"a"`, `{"sub":"<&>"}`, `{"sub":"\u007f"}`, `{"scope":"x","scope":"y"}`,
	`{"signature_digests":["a"]}`, `{"jit":{"signature_digests":[]}}`,
}

// FuzzFastClaimsDecode: on any input the fast decoders accept, they agree
// with encoding/json exactly.
func FuzzFastClaimsDecode(f *testing.F) {
	for _, c := range claimVariants() {
		b, _ := encodeAccessClaims(wireOf(c))
		f.Add(b)
	}
	for _, s := range fastDecodeEdgeCases {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) { checkFastDecode(t, data) })
}

// FuzzFastClaimsEncode: for any strings, the fast encoder writes what
// encoding/json writes (or defers to it).
func FuzzFastClaimsEncode(f *testing.F) {
	f.Add("bob", "incident 42", "ticket", "INC-42", "alice", int64(1700000000))
	f.Add("a\"b", "<x>", "k\\", "\u2028", "\xff", int64(-1))
	f.Fuzz(func(t *testing.T, sub, reason, mk, mv, approver string, iat int64) {
		if iat < -1e15 || iat > 1e15 {
			return
		}
		c := accessClaims()
		c.Subject, c.JIT.Reason, c.JIT.Approvers = sub, reason, []string{approver}
		c.JIT.Metadata = map[string]string{mk: mv, "fixed": "v"}
		w := wireOf(c)
		w.IssuedAt = iat
		want := marshalReference(t, w)
		got, err := encodeAccessClaims(w)
		if err != nil || string(got) != string(want) {
			t.Fatalf("encoded %q (%v), encoding/json %q", got, err, want)
		}
	})
}
