package approvals

import (
	"strings"
	"testing"
	"time"
)

// FuzzParseDuration: any input either is refused with ErrInvalid or gives a
// positive duration that FormatDuration renders without panicking.
func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"30m", "1h30m", "2d", "0", "-1h", "d", "99999999d", "1.5h", " 5m "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDuration(s)
		if err != nil {
			if !strings.Contains(err.Error(), "positive duration") {
				t.Fatalf("unclear error for %q: %v", s, err)
			}
			return
		}
		if d <= 0 {
			t.Fatalf("%q parsed to non-positive %s", s, d)
		}
		_ = FormatDuration(d)
	})
}

// FuzzBuildRequest: hostile metadata and reasons never panic, and whatever
// is accepted respects the limits.
func FuzzBuildRequest(f *testing.F) {
	f.Add("alice", "debug the outage", "namespace", "checkout", int64(0))
	f.Add("", "", "evil", "\x1b[2J", int64(-5))
	f.Add(strings.Repeat("a", 200), "r", "namespace", strings.Repeat("v", 2000), int64(time.Hour))
	svc := New(nil, Options{Clock: NewManualClock(time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC))})
	tmpl := Template{Key: "k", AppID: "a", Title: "T", Type: TypeApprove, Quorum: 1, DefaultTTL: time.Hour, MaxTTL: 2 * time.Hour, PendingTimeout: time.Hour, MinReason: 3,
		Fields: []MetadataField{{Name: "namespace", Required: true}}}
	f.Fuzz(func(t *testing.T, requester, reason, key, value string, ttl int64) {
		r, err := svc.buildRequest(tmpl, NewRequest{TemplateKey: "k", Requester: requester, Reason: reason, TTL: time.Duration(ttl), Metadata: map[string]string{key: value}}, svc.Now())
		if err != nil {
			return
		}
		if r.TTL < time.Minute || r.TTL > tmpl.MaxTTL || len(r.Reason) > MaxReasonLen || len(r.Requester) > MaxRequesterLen || r.Metadata["namespace"] == "" {
			t.Fatalf("accepted out-of-limits request: %+v", r)
		}
	})
}
