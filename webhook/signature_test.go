package webhook_test

import (
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jitdesk/jitdesk/webhook"
)

// The Standard Webhooks libraries' shared test vector ("sign function
// works" in libraries/*/ of github.com/standard-webhooks/standard-webhooks).
const (
	specSecret    = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	specID        = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	specTimestamp = 1614265330
	specPayload   = `{"test": 2432232314}`
	specSignature = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

func headers(id string, ts int64, sig string) http.Header {
	h := http.Header{}
	h.Set(webhook.HeaderID, id)
	h.Set(webhook.HeaderTimestamp, strconv.FormatInt(ts, 10))
	h.Set(webhook.HeaderSignature, sig)
	return h
}

func mustSign(t *testing.T, secret, id string, ts int64, body string) string {
	t.Helper()
	sig, err := webhook.Sign(secret, id, ts, []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	return sig
}

func TestSignMatchesTheSpecificationsTestVector(t *testing.T) {
	if got := mustSign(t, specSecret, specID, specTimestamp, specPayload); got != specSignature {
		t.Fatalf("Sign = %q, want the specification's %q", got, specSignature)
	}
	h := headers(specID, specTimestamp, specSignature)
	if err := webhook.Verify(specSecret, h, []byte(specPayload), time.Unix(specTimestamp, 0), webhook.DefaultTolerance); err != nil {
		t.Fatalf("the specification's signed message does not verify: %v", err)
	}
}

func TestVerifyRejectsATamperedBodyIDOrTimestamp(t *testing.T) {
	now := time.Unix(specTimestamp, 0)
	good := headers(specID, specTimestamp, specSignature)
	for _, c := range []struct {
		name string
		h    http.Header
		body string
	}{
		{"body", good, `{"test": 2432232315}`},
		{"body with a trailing newline", good, specPayload + "\n"},
		{"id", headers("msg_p5jXN8AQM9LWM0D4loKWxJel", specTimestamp, specSignature), specPayload},
		{"timestamp", headers(specID, specTimestamp+1, specSignature), specPayload},
		{"signature", headers(specID, specTimestamp, "v1,"+base64.StdEncoding.EncodeToString(make([]byte, 32))), specPayload},
		{"signature under another version", headers(specID, specTimestamp, "v1a,"+strings.TrimPrefix(specSignature, "v1,")), specPayload},
		{"truncated signature", headers(specID, specTimestamp, specSignature[:len(specSignature)-2]), specPayload},
		{"empty v1 entry", headers(specID, specTimestamp, "v1,"), specPayload},
	} {
		if err := webhook.Verify(specSecret, c.h, []byte(c.body), now, webhook.DefaultTolerance); !errors.Is(err, webhook.ErrBadSignature) {
			t.Errorf("tampered %s: %v, want ErrBadSignature", c.name, err)
		}
	}
	other := "whsec_" + base64.StdEncoding.EncodeToString([]byte("another secret of 24 bytes"))
	if err := webhook.Verify(other, good, []byte(specPayload), now, webhook.DefaultTolerance); !errors.Is(err, webhook.ErrBadSignature) {
		t.Errorf("another secret: %v, want ErrBadSignature", err)
	}
}

func TestVerifyRefusesMissingOrMalformedHeadersWithoutRepeatingThem(t *testing.T) {
	now := time.Unix(specTimestamp, 0)
	for _, c := range []struct {
		name, header, value string
	}{
		{"no id", webhook.HeaderID, ""},
		{"no timestamp", webhook.HeaderTimestamp, ""},
		{"no signature", webhook.HeaderSignature, ""},
		{"dotted id", webhook.HeaderID, "msg_1.1614265330"},
		{"id with a control character", webhook.HeaderID, "msg_\x1b[31m"},
		{"signed timestamp", webhook.HeaderTimestamp, "+1614265330"},
		{"fractional timestamp", webhook.HeaderTimestamp, "1614265330.5"},
		{"timestamp in milliseconds beyond int64 seconds", webhook.HeaderTimestamp, "99999999999999999999"},
	} {
		h := headers(specID, specTimestamp, specSignature)
		h.Set(c.header, c.value)
		err := webhook.Verify(specSecret, h, []byte(specPayload), now, webhook.DefaultTolerance)
		if !errors.Is(err, webhook.ErrBadSignature) {
			t.Errorf("%s: %v, want ErrBadSignature", c.name, err)
			continue
		}
		if c.value != "" && strings.Contains(err.Error(), c.value) {
			t.Errorf("%s: the error repeats the hostile header: %q", c.name, err)
		}
	}
}

func TestVerifyAcceptsTimestampsWithinToleranceOnly(t *testing.T) {
	h := headers(specID, specTimestamp, specSignature)
	at := time.Unix(specTimestamp, 0)
	for _, c := range []struct {
		now  time.Time
		want error
	}{
		{at.Add(webhook.DefaultTolerance), nil},
		{at.Add(-webhook.DefaultTolerance), nil},
		{at.Add(webhook.DefaultTolerance + time.Second), webhook.ErrStale},
		{at.Add(-webhook.DefaultTolerance - time.Second), webhook.ErrStale},
	} {
		err := webhook.Verify(specSecret, h, []byte(specPayload), c.now, webhook.DefaultTolerance)
		if !errors.Is(err, c.want) || (c.want == nil && err != nil) {
			t.Errorf("checked %s after the timestamp: %v, want %v", c.now.Sub(at), err, c.want)
		}
	}
}

func TestDuringARotationEitherSecretVerifiesTheTwoSignatureHeader(t *testing.T) {
	oldSecret := specSecret
	newSecret := "whsec_" + base64.StdEncoding.EncodeToString([]byte("0123456789abcdefghijklmnopqrstuv"))
	body := `{"id":"evt_7","type":"request.decided"}`
	ts := int64(1_800_000_000)
	both := mustSign(t, oldSecret, "evt_7", ts, body) + " " + mustSign(t, newSecret, "evt_7", ts, body)
	h := headers("evt_7", ts, both)
	for name, s := range map[string]string{"old": oldSecret, "new": newSecret} {
		if err := webhook.Verify(s, h, []byte(body), time.Unix(ts, 0), webhook.DefaultTolerance); err != nil {
			t.Errorf("receiver holding the %s secret: %v", name, err)
		}
	}
	third := "whsec_" + base64.StdEncoding.EncodeToString([]byte("a third secret, 32 bytes long..."))
	if err := webhook.Verify(third, h, []byte(body), time.Unix(ts, 0), webhook.DefaultTolerance); !errors.Is(err, webhook.ErrBadSignature) {
		t.Errorf("a secret neither signature was made with: %v", err)
	}
}

func TestLegacyBase64URLSecretsSignWithTheSameKey(t *testing.T) {
	// Bytes whose encodings differ between the two alphabets, as the
	// legacy secrets' often do.
	raw := []byte(strings.Repeat("\xfb\xff\xbf", 11)[:32])
	legacy := "whsec_" + base64.RawURLEncoding.EncodeToString(raw)
	spec := "whsec_" + base64.StdEncoding.EncodeToString(raw)
	if !strings.ContainsAny(legacy, "-_") || !strings.ContainsAny(spec, "+/=") {
		t.Fatalf("vector does not exercise the alphabets: %s %s", legacy, spec)
	}
	for _, s := range []string{legacy, spec} {
		key, err := webhook.SecretKey(s)
		if err != nil || string(key) != string(raw) {
			t.Fatalf("SecretKey(%s) = %x, %v; want %x", s, key, err, raw)
		}
	}
	body := `{"id":"evt_1"}`
	sig := mustSign(t, legacy, "evt_1", specTimestamp, body)
	if want := mustSign(t, spec, "evt_1", specTimestamp, body); sig != want {
		t.Fatalf("legacy secret signs %q, its standard form %q", sig, want)
	}
	if err := webhook.Verify(spec, headers("evt_1", specTimestamp, sig), []byte(body), time.Unix(specTimestamp, 0), time.Minute); err != nil {
		t.Fatalf("signed with the legacy form, verified with the standard form: %v", err)
	}
}

func TestSecretKeyNamesTheProblemAndNeverTheSecret(t *testing.T) {
	for _, c := range []struct {
		secret string
		want   webhook.SecretProblem
	}{
		{"MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", webhook.SecretNoPrefix},
		{"jds_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", webhook.SecretNoPrefix},
		{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS!", webhook.SecretNotBase64},
		{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2La\nLaSw", webhook.SecretNotBase64},
		// Standard alphabet without its padding is neither form.
		{"whsec_" + base64.RawStdEncoding.EncodeToString([]byte(strings.Repeat("\xfb\xff\xbf", 11)[:32])), webhook.SecretNotBase64},
		{"whsec_" + base64.StdEncoding.EncodeToString(make([]byte, 23)), webhook.SecretLength},
		{"whsec_" + base64.StdEncoding.EncodeToString(make([]byte, 65)), webhook.SecretLength},
		{"whsec_", webhook.SecretLength},
	} {
		_, err := webhook.SecretKey(c.secret)
		var se *webhook.SecretError
		if !errors.As(err, &se) || se.Problem != c.want || !errors.Is(err, webhook.ErrSecret) {
			t.Errorf("SecretKey(%q): %v, want %q", c.secret, err, c.want)
			continue
		}
		if body := strings.TrimPrefix(c.secret, "whsec_"); body != "" && strings.Contains(err.Error(), body) {
			t.Errorf("error %q repeats the secret", err)
		}
		if _, err := webhook.Sign(c.secret, "evt_1", 1, nil); !errors.Is(err, webhook.ErrSecret) {
			t.Errorf("Sign with %q: %v, want ErrSecret", c.secret, err)
		}
	}
	for _, n := range []int{webhook.MinKeyBytes, 32, webhook.MaxKeyBytes} {
		if _, err := webhook.SecretKey("whsec_" + base64.StdEncoding.EncodeToString(make([]byte, n))); err != nil {
			t.Errorf("a %d-byte key: %v", n, err)
		}
	}
}

func TestSignRefusesIDsTheSpecificationForbids(t *testing.T) {
	for _, id := range []string{"", "evt.1", "evt 1", "evt_\x00", strings.Repeat("a", 257)} {
		if _, err := webhook.Sign(specSecret, id, specTimestamp, nil); !errors.Is(err, webhook.ErrBadID) {
			t.Errorf("Sign with id %q: %v, want ErrBadID", id, err)
		}
	}
}
