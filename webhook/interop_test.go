package webhook_test

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jitdesk/jitdesk/webhook"
)

// npmCase is one call into the npm standardwebhooks package (see
// testdata/standardwebhooks.mjs).
type npmCase struct {
	Op        string            `json:"op"`
	Secret    string            `json:"secret"`
	Legacy    bool              `json:"legacy"`
	ID        string            `json:"id"`
	Timestamp int64             `json:"timestamp"`
	Body      []byte            `json:"body"` // base64 in JSON: the exact bytes
	Headers   map[string]string `json:"headers,omitempty"`
}

type npmResult struct {
	OK        bool   `json:"ok"`
	Error     string `json:"error"`
	Signature string `json:"signature"`
}

// requireNode is the environment variable CI sets so that a missing npm
// install fails the Node interop tests instead of skipping them.
const requireNode = "JITDESK_REQUIRE_NODE"

// missingNPM reports that dir has no `npm ci` done: a failure where CI asks
// for the Node tests, else a skip that says what did not run (a fresh
// clone's `go test ./...` passes without npm).
func missingNPM(t *testing.T, dir string, err error) {
	t.Helper()
	msg := fmt.Sprintf("the npm package standardwebhooks is not installed in %s: run `npm ci` there to run this test (%v)", dir, err)
	if os.Getenv(requireNode) != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// runNPM runs the cases through the npm package standardwebhooks, installed
// in sdk/node from its lockfile (`npm ci`). It skips only when node is not
// installed at all, or when the package is not installed outside CI (missingNPM).
func runNPM(t *testing.T, cases []npmCase) []npmResult {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not on PATH; the interop test needs Node.js")
	}
	sdk, err := filepath.Abs(filepath.Join("..", "sdk", "node"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(sdk, "node_modules", "standardwebhooks", "package.json")); err != nil {
		missingNPM(t, "sdk/node", err)
	}
	in, err := json.Marshal(cases)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(t.Context(), node, filepath.Join("testdata", "standardwebhooks.mjs"), sdk)
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, stderr.String())
	}
	var res []npmResult
	if err := json.Unmarshal(out, &res); err != nil || len(res) != len(cases) {
		t.Fatalf("node printed %q: %v", out, err)
	}
	return res
}

// wire is how a receiver's framework hands headers to the npm library:
// lower-case names, one value each.
func wire(h map[string][]string) map[string]string {
	out := map[string]string{}
	for k, v := range h {
		out[strings.ToLower(k)] = strings.Join(v, ", ")
	}
	return out
}

func randomSecret(t *testing.T) string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return webhook.SecretPrefix + base64.StdEncoding.EncodeToString(b)
}

// TestStandardWebhooksNPMInterop checks both directions against the
// published npm library: what jitdesk's deliverer puts on the wire verifies
// with `new Webhook(secret).verify(payload, headers)`, a tampered copy does
// not, and what the library signs verifies with Verify here.
func TestStandardWebhooksNPMInterop(t *testing.T) {
	f := newFixture(t)
	rc := newReceiver(t)
	h := f.hook(rc.srv.URL)
	f.submit("mallory")
	if got := f.drain(f.deliverer(webhook.Options{})); got.Delivered != 1 {
		t.Fatalf("round %+v", got)
	}
	rv := rc.accepted()[0]
	delivered := wire(rv.header)
	deliveredTS, err := strconv.ParseInt(delivered[webhook.HeaderTimestamp], 10, 64)
	if err != nil {
		t.Fatalf("webhook-timestamp %q: %v", delivered[webhook.HeaderTimestamp], err)
	}
	// The hook's secret as `jitdesk webhook add` printed it: the library reads
	// the specification's form as is; the legacy form only after conversion.
	_, stdErr := base64.StdEncoding.Strict().DecodeString(strings.TrimPrefix(h.Secret, webhook.SecretPrefix))
	isLegacy := stdErr != nil
	if isLegacy {
		t.Logf("approvals still issues legacy base64url secrets; verifying the delivery after the README's conversion")
	}

	secret := randomSecret(t)
	rotated := randomSecret(t)
	legacy := webhook.SecretPrefix + base64.RawURLEncoding.EncodeToString([]byte(strings.Repeat("\xfb\xff\xbf", 11)[:32]))
	body := []byte(`{"id":"evt_42","type":"request.decided","data":{"reason":"caf\u00e9 \u2603"}}`)
	const id, ts = "evt_42", int64(1_800_000_000)
	sign := func(s string) string { return mustSign(t, s, id, ts, string(body)) }
	hdr := func(sig string) map[string]string {
		return map[string]string{webhook.HeaderID: id, webhook.HeaderTimestamp: strconv.FormatInt(ts, 10), webhook.HeaderSignature: sig}
	}
	tamperedID := hdr(sign(secret))
	tamperedID[webhook.HeaderID] = "evt_43"

	cases := []struct {
		name string
		c    npmCase
		ok   bool
	}{
		{"a real delivery, secret as printed", npmCase{Op: "verify", Secret: h.Secret, Legacy: isLegacy, ID: rv.header.Get(webhook.HeaderID), Timestamp: deliveredTS, Body: rv.body, Headers: delivered}, true},
		{"a real delivery with a changed body", npmCase{Op: "verify", Secret: h.Secret, Legacy: isLegacy, Timestamp: deliveredTS, Body: append(bytes.Clone(rv.body), ' '), Headers: delivered}, false},
		{"Sign with a whsec_ standard-base64 secret", npmCase{Op: "verify", Secret: secret, Timestamp: ts, Body: body, Headers: hdr(sign(secret))}, true},
		{"Sign under another secret", npmCase{Op: "verify", Secret: rotated, Timestamp: ts, Body: body, Headers: hdr(sign(secret))}, false},
		{"Sign with a changed webhook-id", npmCase{Op: "verify", Secret: secret, Timestamp: ts, Body: body, Headers: tamperedID}, false},
		{"Sign checked 6 minutes later", npmCase{Op: "verify", Secret: secret, Timestamp: ts + 360, Body: body, Headers: hdr(sign(secret))}, false},
		{"two signatures during a rotation, receiver on the new secret", npmCase{Op: "verify", Secret: rotated, Timestamp: ts, Body: body, Headers: hdr(sign(secret) + " " + sign(rotated))}, true},
		{"Sign with a legacy secret, converted as the README says", npmCase{Op: "verify", Secret: legacy, Legacy: true, Timestamp: ts, Body: body, Headers: hdr(sign(legacy))}, true},
		{"the library signs the specification's vector", npmCase{Op: "sign", Secret: specSecret, ID: specID, Timestamp: specTimestamp, Body: []byte(specPayload)}, true},
		{"the library signs with a whsec_ secret", npmCase{Op: "sign", Secret: secret, ID: id, Timestamp: ts, Body: body}, true},
		{"the library signs with a converted legacy secret", npmCase{Op: "sign", Secret: legacy, Legacy: true, ID: id, Timestamp: ts, Body: body}, true},
	}
	in := make([]npmCase, len(cases))
	for i, c := range cases {
		in[i] = c.c
	}
	res := runNPM(t, in)
	for i, c := range cases {
		r := res[i]
		if c.c.Op == "verify" {
			if r.OK != c.ok {
				t.Errorf("%s: npm verify ok=%v (%s), want %v", c.name, r.OK, r.Error, c.ok)
			}
			continue
		}
		if r.Signature == "" {
			t.Errorf("%s: npm sign failed: %s", c.name, r.Error)
			continue
		}
		// What the library signed must verify here, and equal our own signature.
		hh := headers(c.c.ID, c.c.Timestamp, r.Signature)
		if err := webhook.Verify(c.c.Secret, hh, c.c.Body, time.Unix(c.c.Timestamp, 0), webhook.DefaultTolerance); err != nil {
			t.Errorf("%s: Verify of the library's %q: %v", c.name, r.Signature, err)
		}
		if want := mustSign(t, c.c.Secret, c.c.ID, c.c.Timestamp, string(c.c.Body)); r.Signature != want {
			t.Errorf("%s: library %q, Sign %q", c.name, r.Signature, want)
		}
		if err := webhook.Verify(c.c.Secret, hh, append(bytes.Clone(c.c.Body), '!'), time.Unix(c.c.Timestamp, 0), webhook.DefaultTolerance); !errors.Is(err, webhook.ErrBadSignature) {
			t.Errorf("%s: the library's signature over a changed body: %v", c.name, err)
		}
	}
	if res[8].Signature != specSignature {
		t.Errorf("the library's signature of the specification's vector: %q, want %q", res[8].Signature, specSignature)
	}
}
