package server

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"github.com/jitdesk/jitdesk/approvals"
	"github.com/jitdesk/jitdesk/metrics"
	"github.com/jitdesk/jitdesk/sshca"
)

// testCA is an SSH user CA made in Go, trusted through a real
// sshca.Authority with a clock the test moves. Its revocations can be
// replaced (as an operator's reload would), so the Service is given the
// swappable wrapper.
type testCA struct {
	sshca.Current
	t      *testing.T
	signer gossh.Signer
	now    atomic.Int64 // unix seconds of the CA's clock
}

func newTestCA(t *testing.T) *testCA {
	ca := &testCA{t: t, signer: newSigner(t)}
	ca.now.Store(time.Now().Unix())
	ca.revoke("")
	return ca
}

// revoke replaces the Authority with one whose revocation list is list
// (the text format of sshca.ParseRevocations; "" revokes nothing).
func (ca *testCA) revoke(list string) {
	ca.t.Helper()
	var rev *sshca.Revocations
	if list != "" {
		var err error
		if rev, err = sshca.ParseRevocations("test", []byte(list)); err != nil {
			ca.t.Fatal(err)
		}
	}
	a, err := sshca.New(sshca.Config{CAKeys: []gossh.PublicKey{ca.signer.PublicKey()}, Revoked: rev,
		Now: func() time.Time { return time.Unix(ca.now.Load(), 0) }})
	if err != nil {
		ca.t.Fatal(err)
	}
	ca.Set(a)
}

// issue certifies a fresh key for principals, valid from after to before
// (offsets from the CA's clock), signed by signer (the CA's own when nil).
func (ca *testCA) issue(serial uint64, principals []string, after, before time.Duration, signer gossh.Signer) gossh.Signer {
	ca.t.Helper()
	return ca.issueWith(serial, principals, after, before, signer, nil)
}

// issueWith is issue with critical options.
func (ca *testCA) issueWith(serial uint64, principals []string, after, before time.Duration, signer gossh.Signer, critical map[string]string) gossh.Signer {
	ca.t.Helper()
	key := newSigner(ca.t)
	now := time.Unix(ca.now.Load(), 0)
	cert := &gossh.Certificate{
		Key: key.PublicKey(), Serial: serial, CertType: gossh.UserCert, KeyId: fmt.Sprintf("test-%d", serial),
		ValidPrincipals: principals,
		ValidAfter:      uint64(now.Add(after).Unix()), ValidBefore: uint64(now.Add(before).Unix()),
		Permissions: gossh.Permissions{CriticalOptions: critical, Extensions: map[string]string{"permit-pty": ""}},
	}
	if signer == nil {
		signer = ca.signer
	}
	if err := cert.SignCert(rand.Reader, signer); err != nil {
		ca.t.Fatal(err)
	}
	cs, err := gossh.NewCertSigner(cert, key)
	if err != nil {
		ca.t.Fatal(err)
	}
	return cs
}

func newCertSSH(t *testing.T) (*sshFixture, *testCA, *metrics.Metrics) {
	t.Helper()
	ca := newTestCA(t)
	m := metrics.New(metrics.Options{})
	f := newSSHWithService(t, approvals.Options{UserCA: ca}, func(c *SSHConfig) { c.Metrics = m; c.IdleTimeout = time.Hour })
	// carol has a registered key of her own; her certificate certifies
	// another one, never registered.
	f.addApprover(t, "carol", "Carol Jensen")
	return f, ca, m
}

// certConsole opens a console with key and waits for want, failing if
// the session ends first.
func (f *sshFixture) certConsole(t *testing.T, key gossh.Signer, want string) session {
	t.Helper()
	c, err := dial(f.addr, "x", gossh.PublicKeys(key))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	sess, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	out := &syncBuffer{}
	sess.Stdout = out
	if _, err := sess.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := sess.RequestPty("xterm-256color", 24, 100, gossh.TerminalModes{}); err != nil {
		t.Fatal(err)
	}
	if err := sess.Shell(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- sess.Wait() }()
	deadline := time.Now().Add(hangGuard)
	for !strings.Contains(out.String(), want) {
		select {
		case err := <-done:
			t.Fatalf("the session ended (%v) before showing %q: %q", err, want, out.String())
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("the session never showed %q: %q", want, out.String())
		}
	}
	return session{sess: sess, out: out, done: done}
}

func TestCertificateLogsInAsItsPrincipalWithoutARegisteredKey(t *testing.T) {
	f, ca, _ := newCertSSH(t)
	s := f.certConsole(t, ca.issue(1, []string{"carol"}, -time.Minute, time.Hour, nil), "(carol)")
	st := f.liveSession(t)
	if st.cert == nil || st.login != "carol" {
		t.Fatalf("session state: login %q, certificate %v", st.login, st.cert != nil)
	}
	s.sess.Close()
}

func TestRefusedCertificatesAreCountedAndLoggedWithTheirReason(t *testing.T) {
	f, ca, m := newCertSSH(t)
	cases := map[string]gossh.Signer{
		"expired":           ca.issue(2, []string{"carol"}, -2*time.Hour, -time.Hour, nil),
		"not_yet_valid":     ca.issue(3, []string{"carol"}, time.Hour, 2*time.Hour, nil),
		"unknown_authority": ca.issue(4, []string{"carol"}, -time.Minute, time.Hour, newSigner(t)),
		"unknown_principal": ca.issue(5, []string{"mallory"}, -time.Minute, time.Hour, nil),
	}
	revoked := ca.issue(6, []string{"carol"}, -time.Minute, time.Hour, nil)
	ca.revoke("serial:6\n")
	cases["revoked"] = revoked
	for reason, key := range cases {
		if c, err := dial(f.addr, "carol", gossh.PublicKeys(key)); err == nil {
			c.Close()
			t.Errorf("%s certificate logged in", reason)
		}
	}
	reg := m.Gatherer()
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	counted := map[string]float64{}
	for _, fam := range fams {
		if fam.GetName() != "jitdesk_auth_failures_total" {
			continue
		}
		for _, mt := range fam.GetMetric() {
			labels := map[string]string{}
			for _, l := range mt.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["method"] == "ssh" {
				counted[labels["reason"]] += mt.GetCounter().GetValue()
			}
		}
	}
	logged := map[string]bool{}
	for _, l := range strings.Split(f.logs.String(), "\n") {
		var ev map[string]any
		if json.Unmarshal([]byte(l), &ev) == nil && ev["event"] == "auth.failed" && ev["method"] == "ssh" {
			logged[ev["reason"].(string)] = true
			if ev["certificate_key_id"] == nil {
				t.Errorf("refused certificate logged without its key id: %s", l)
			}
		}
	}
	for reason := range cases {
		if counted[reason] == 0 {
			t.Errorf("no auth failure counted for reason %s; counted %v", reason, counted)
		}
		if !logged[reason] {
			t.Errorf("no auth.failed line for reason %s; logged %v", reason, logged)
		}
	}
}

func TestExpiredCertificateEndsItsSession(t *testing.T) {
	f, ca, _ := newCertSSH(t)
	s := f.certConsole(t, ca.issue(7, []string{"carol"}, -time.Minute, time.Hour, nil), "(carol)")
	ca.now.Add(int64(2 * time.Hour / time.Second))
	f.srv.RecheckAccess()
	<-s.done
	if !strings.Contains(s.out.String(), "no longer accepted (expired)") {
		t.Fatalf("the approver must be told why: %q", s.out.String())
	}
}

func TestNewlyRevokedCertificateEndsItsSessionOnly(t *testing.T) {
	f, ca, _ := newCertSSH(t)
	revoked := f.certConsole(t, ca.issue(8, []string{"carol"}, -time.Minute, time.Hour, nil), "(carol)")
	kept := f.certConsole(t, ca.issue(9, []string{"carol"}, -time.Minute, time.Hour, nil), "(carol)")
	ca.revoke("serial:8\n")
	f.srv.RecheckAccess()
	<-revoked.done
	if !strings.Contains(revoked.out.String(), "no longer accepted (revoked)") {
		t.Fatalf("the approver must be told why: %q", revoked.out.String())
	}
	// The other certificate's session is re-checked in the same round and
	// admitted: a change that concerns it ends it, this one did not.
	ctx := context.Background()
	if _, err := f.svc.SetApproverEnabled(ctx, "test", "carol", false); err != nil {
		t.Fatal(err)
	}
	<-kept.done
	if !strings.Contains(kept.out.String(), "was disabled") {
		t.Fatalf("the second session must have lasted until carol was disabled: %q", kept.out.String())
	}
}

// A certificate restricted by source-address logs in only from an address
// it lists (the test's connections come from 127.0.0.1), and every later
// re-check of the session applies the session's own address: only carol
// being disabled ends it, not the restriction.
func TestSourceAddressRestrictedCertificateLogsInFromItsAddressOnly(t *testing.T) {
	f, ca, _ := newCertSSH(t)
	elsewhere := ca.issueWith(10, []string{"carol"}, -time.Minute, time.Hour, nil, map[string]string{"source-address": "10.0.0.0/8,192.0.2.7"})
	if c, err := dial(f.addr, "carol", gossh.PublicKeys(elsewhere)); err == nil {
		c.Close()
		t.Fatal("a certificate for 10.0.0.0/8 and 192.0.2.7 logged in from 127.0.0.1")
	}
	if !strings.Contains(f.logs.String(), `"reason":"bad_option"`) {
		t.Fatalf("the refusal was not logged with reason bad_option:\n%s", f.logs.String())
	}
	s := f.certConsole(t, ca.issueWith(11, []string{"carol"}, -time.Minute, time.Hour, nil,
		map[string]string{"source-address": "10.0.0.0/8, 127.0.0.0/8"}), "(carol)")
	f.srv.RecheckAccess()
	if _, err := f.svc.SetApproverEnabled(context.Background(), "test", "carol", false); err != nil {
		t.Fatal(err)
	}
	<-s.done
	if out := s.out.String(); !strings.Contains(out, "was disabled") || strings.Contains(out, "no longer accepted") {
		t.Fatalf("the session must have lasted until carol was disabled: %q", out)
	}
}
