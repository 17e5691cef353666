package ui

import (
	"encoding/base64"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jitdesk/jitdesk/approvals"
	"github.com/jitdesk/jitdesk/tokens"
)

// updating reports whether -update was given (the flag is registered by
// teatest's golden helper, which this package imports).
func updating() bool {
	f := flag.Lookup("update")
	return f != nil && f.Value.String() == "true"
}

// golden compares a frame (styling stripped) with testdata/name.golden.
func golden(t *testing.T, name, frame string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if updating() {
		if err := os.WriteFile(path, []byte(frame), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./ui -run Golden -update)", err)
	}
	if string(want) != frame {
		t.Errorf("%s differs from the golden file (run with -update to accept):\n--- got\n%s\n--- want\n%s", name, frame, want)
	}
}

// fixedToken replaces the token screen's key-dependent parts (a fresh
// Ed25519 key each run) with fixed ones, keeping the layout real.
func fixedToken(ts *tokenScreen) {
	enc := base64.RawURLEncoding.EncodeToString
	g := ts.grant()
	hdr := enc([]byte(`{"alg":"EdDSA","kid":"test-kid-0000","typ":"at+jwt"}`))
	claims := enc([]byte(fmt.Sprintf(`{"iss":"urn:jitdesk","sub":%q,"aud":[%q],"exp":%d,"jti":%q,"scope":%q,"jit":{"request_id":%q,"approvers":["alex"]}}`,
		g.Subject, g.Audience, g.ExpiresAt.Unix(), g.ID, g.Scope, g.RequestID)))
	ts.token = hdr + "." + claims + "." + strings.Repeat("S", 86)
	ts.d.Grant.Kid = "test-kid-0000"
	ts.verified = &approvals.VerifiedToken{Verified: tokens.Verified{Kid: "test-kid-0000", Alg: tokens.EdDSA}}
	ts.verr = nil
}

func TestGoldenScreens(t *testing.T) {
	for _, size := range [][2]int{{80, 24}, {160, 48}} {
		t.Run(fmt.Sprintf("%dx%d", size[0], size[1]), func(t *testing.T) {
			w := newWorld(t)
			_, sign := w.seedStandard()
			h := newHarness(t, w, "alex", size[0], size[1])
			suffix := fmt.Sprintf("_%dx%d", size[0], size[1])
			golden(t, "queue"+suffix, h.plain())
			h.key("enter")
			golden(t, "review"+suffix, h.plain())
			h.key("a")
			golden(t, "confirm"+suffix, h.plain())
			h.key("y")
			fixedToken(h.m.top().(*tokenScreen))
			golden(t, "token"+suffix, h.plain())
			h.send(openReviewMsg{sign.ID})
			h.key("a")
			h.key("space")
			for i := 0; i < 14; i++ {
				h.key("right")
				if i%2 == 0 {
					h.key("down")
				} else {
					h.key("up")
				}
			}
			h.key("space")
			golden(t, "pad"+suffix, h.plain())
			h.key("tab")
			h.typeText("Alex Rivera")
			golden(t, "pad_typed"+suffix, h.plain())
			h.key("esc", "esc", "esc")
			h.key("?")
			golden(t, "help"+suffix, h.plain())
		})
	}
}
