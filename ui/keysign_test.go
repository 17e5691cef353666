package ui

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"

	"github.com/jitdesk/jitdesk/approvals"
	"github.com/jitdesk/jitdesk/keysign"
)

// ---- agents for tests ----

// testKey is a deterministic Ed25519 key (goldens show its fingerprint).
func testKey(t testing.TB, seed byte) (ed25519.PrivateKey, ssh.PublicKey) {
	t.Helper()
	var s [ed25519.SeedSize]byte
	for i := range s {
		s[i] = seed + byte(i)
	}
	priv := ed25519.NewKeyFromSeed(s[:])
	pub, err := ssh.NewPublicKey(priv.Public())
	if err != nil {
		t.Fatal(err)
	}
	return priv, pub
}

func authorizedLine(pub ssh.PublicKey) string {
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pub)))
}

// countedSource serves one agent to the console and counts how often it
// was opened and closed: the console must close every agent it opens.
type countedSource struct {
	ag agent.ExtendedAgent

	mu            sync.Mutex
	opens, closes int
}

type closerFunc func() error

func (f closerFunc) Close() error { return f() }

func (c *countedSource) source() keysign.Source {
	return func(context.Context) (agent.ExtendedAgent, io.Closer, error) {
		c.mu.Lock()
		c.opens++
		c.mu.Unlock()
		return c.ag, closerFunc(func() error {
			c.mu.Lock()
			c.closes++
			c.mu.Unlock()
			return nil
		}), nil
	}
}

func (c *countedSource) counts() (opens, closes int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.opens, c.closes
}

// keyringSource is an in-memory agent holding the given keys.
func keyringSource(t testing.TB, keys ...ed25519.PrivateKey) *countedSource {
	t.Helper()
	kr := agent.NewKeyring()
	for _, k := range keys {
		if err := kr.Add(agent.AddedKey{PrivateKey: k, Comment: "test key"}); err != nil {
			t.Fatal(err)
		}
	}
	ext, ok := kr.(agent.ExtendedAgent)
	if !ok {
		t.Fatal("agent.NewKeyring is not an ExtendedAgent")
	}
	return &countedSource{ag: ext}
}

// touchAgent holds one FIDO (sk-ssh-ed25519) key and, like a security key
// waiting for a touch, never signs until released. asked is closed when
// the console asks it to sign.
type touchAgent struct {
	agent.ExtendedAgent // nil: only List and signing are used
	key                 ssh.PublicKey
	asked, release      chan struct{}
	once                sync.Once
}

func (a *touchAgent) List() ([]*agent.Key, error) {
	return []*agent.Key{{Format: a.key.Type(), Blob: a.key.Marshal(), Comment: "security key"}}, nil
}

func (a *touchAgent) SignWithFlags(ssh.PublicKey, []byte, agent.SignatureFlags) (*ssh.Signature, error) {
	a.once.Do(func() { close(a.asked) })
	<-a.release
	return nil, errors.New("the test released the security key without a touch")
}

func (a *touchAgent) Sign(k ssh.PublicKey, data []byte) (*ssh.Signature, error) {
	return a.SignWithFlags(k, data, 0)
}

// skKey builds an sk-ssh-ed25519@openssh.com public key (the wire form:
// type, Ed25519 key, application).
func skKey(t testing.TB) ssh.PublicKey {
	t.Helper()
	_, pub := testKey(t, 40)
	edKey := pub.(ssh.CryptoPublicKey).CryptoPublicKey().(ed25519.PublicKey)
	blob := ssh.Marshal(struct {
		Type, Key, App string
	}{ssh.KeyAlgoSKED25519, string(edKey), "ssh:"})
	k, err := ssh.ParsePublicKey(blob)
	if err != nil {
		t.Fatal(err)
	}
	if k.Type() != ssh.KeyAlgoSKED25519 {
		t.Fatalf("built a %s key", k.Type())
	}
	return k
}

// ---- a world with a template that requires key signatures ----

const keyedTemplate = "vault-root"

// keyWorld is newWorld plus the vault-root template (it requires key
// signatures) and alex's registered key.
func keyWorld(t *testing.T) (*world, ed25519.PrivateKey, ssh.PublicKey) {
	t.Helper()
	w := newWorld(t)
	w.check(w.svc.AddTemplate(w.ctx, "test", approvals.Template{
		Key: keyedTemplate, AppID: "payments-api", Title: "Vault root token", Type: approvals.TypeApprove,
		Groups: []string{"sre"}, DefaultTTL: 30 * time.Minute, MaxTTL: time.Hour, PendingTimeout: 4 * time.Hour,
		RequireKeySignature: true,
	}))
	priv, pub := testKey(t, 1)
	_, err := w.svc.AddApproverKey(w.ctx, "test", "alex", authorizedLine(pub))
	w.check(err)
	return w, priv, pub
}

func (w *world) submitKeyed() approvals.Request {
	w.t.Helper()
	r := w.submit(keyedTemplate, "priya", "Unseal after the failed rotation", 0, nil)
	w.clock.Set(t0)
	return r
}

func (w *world) detail(id string) approvals.Detail {
	w.t.Helper()
	d, err := w.svc.Get(w.ctx, id)
	w.check(err)
	return d
}

// stillPendingUnreviewed fails the test when anything was recorded.
func stillPendingUnreviewed(t *testing.T, w *world, id string) {
	t.Helper()
	d := w.detail(id)
	if d.Request.Status != approvals.StatusPending || len(d.Reviews) != 0 {
		t.Fatalf("something was recorded: status %s, reviews %+v", d.Request.Status, d.Reviews)
	}
	ks, err := w.svc.KeySignatures(w.ctx, id)
	w.check(err)
	if len(ks) != 0 {
		t.Fatalf("%d key signature(s) stored", len(ks))
	}
}

func keyOpts(w *world, src keysign.Source) Options {
	return Options{Service: w.svc, Login: "alex", KeySource: src}
}

// ---- flows ----

// waitKeyedQueue waits for the queue holding priya's vault-root request.
func waitKeyedQueue(t *testing.T, p probe) {
	t.Helper()
	waitFrame(t, p, "the queue", func(f string) bool {
		return strings.Contains(f, "Needs me (1)") && strings.Contains(f, "› ") && strings.Contains(f, "priya")
	})
}

// Approving on a template that requires key signatures: the confirm says
// which key signs, the approval is recorded with an SSHSIG by that key
// over the statement, the review says so, and every agent opened was
// closed.
func TestFlowKeySignedApproveRecordsTheSignature(t *testing.T) {
	w, priv, pub := keyWorld(t)
	req := w.submitKeyed()
	src := keyringSource(t, priv)
	tm, p := startProgramOpts(t, keyOpts(w, src.source()), 100, 30)
	fp := ssh.FingerprintSHA256(pub)
	waitKeyedQueue(t, p)
	keys(tm, "enter")
	waitText(t, p, "Key signing")
	keys(tm, "a")
	f := waitText(t, p, "signing with ED25519 "+fp)
	mustContain(t, "confirm", f, "Approve this access?", "[ Approve ]")
	keys(tm, "y")
	waitText(t, p, "valid — signed by kid")
	d := approvedWithToken(t, w, req.ID)
	if len(d.Reviews) != 1 || d.Reviews[0].KeySignatureDigest == "" || d.Reviews[0].KeyFingerprint != fp {
		t.Fatalf("review: %+v", d.Reviews)
	}
	stored, err := w.svc.KeySignatures(w.ctx, req.ID)
	w.check(err)
	if len(stored) != 1 || stored[0].Digest != d.Reviews[0].KeySignatureDigest {
		t.Fatalf("stored key signatures: %+v", stored)
	}
	if err := keysign.VerifyKey(stored[0].Armored, stored[0].Statement, pub); err != nil {
		t.Fatalf("the stored SSHSIG does not verify with alex's key: %v", err)
	}
	k, err := approvals.ParseKeyStatement(stored[0].Statement)
	w.check(err)
	if k.RequestID != req.ID || k.Decision != approvals.DecisionApprove || k.Approver != "alex" || k.Digest != d.Digest || k.TTL != 30*time.Minute {
		t.Fatalf("signed statement: %+v", k)
	}
	keys(tm, "esc")
	waitText(t, p, "alex approved at 14:00 · key-signed "+fp)
	if o, c := src.counts(); o != 2 || c != 2 {
		t.Fatalf("agent opened %d time(s), closed %d (want 2 and 2: the check, the signature)", o, c)
	}
}

// A denial on such a template is key-signed too.
func TestFlowKeySignedDeny(t *testing.T) {
	w, priv, pub := keyWorld(t)
	req := w.submitKeyed()
	tm, p := startProgramOpts(t, keyOpts(w, keyringSource(t, priv).source()), 100, 30)
	waitKeyedQueue(t, p)
	keys(tm, "enter")
	waitText(t, p, "Key signing")
	keys(tm, "d")
	waitText(t, p, "deny because:")
	tm.Type("not during the freeze")
	keys(tm, "enter")
	waitText(t, p, "signing with ED25519 "+ssh.FingerprintSHA256(pub))
	keys(tm, "y")
	waitText(t, p, "denied priya's request")
	d := w.detail(req.ID)
	if d.Request.Status != approvals.StatusDenied || len(d.Reviews) != 1 || d.Reviews[0].KeySignatureDigest == "" {
		t.Fatalf("status %s, reviews %+v", d.Request.Status, d.Reviews)
	}
}

// Without an agent, a decision on such a template is refused before it is
// started, with what to do; nothing is recorded.
func TestFlowKeyRequiredWithoutAgentIsRefused(t *testing.T) {
	w, _, _ := keyWorld(t)
	req := w.submitKeyed()
	tm, p := startProgramOpts(t, keyOpts(w, nil), 100, 30)
	waitKeyedQueue(t, p)
	keys(tm, "enter")
	waitText(t, p, "Key signing")
	keys(tm, "a")
	f := waitText(t, p, "no SSH agent: connect with ssh -A or run ssh-add")
	if strings.Contains(f, "Approve this access?") {
		t.Fatalf("the confirm opened although the approval would be refused:\n%s", f)
	}
	// d is refused too, before the comment is asked for: esc after it
	// leaves the review (with the comment field open it would close that).
	keys(tm, "d", "esc")
	waitFrame(t, p, "the queue again", func(f string) bool {
		return strings.Contains(f, "Needs me (1)") && !strings.Contains(f, "Key signing") && !strings.Contains(f, "deny because")
	})
	stillPendingUnreviewed(t, w, req.ID)
}

// The confirm screen itself refuses, with the explanation, when it is
// reached without an agent: y records nothing.
func TestConfirmWithoutAgentRefusesKeyRequiredDecision(t *testing.T) {
	w, _, _ := keyWorld(t)
	req := w.submitKeyed()
	h := newHarnessOpts(t, keyOpts(w, nil), 100, 30)
	h.send(pushMsg{newConfirm(h.m.ctx, decision{approve: true, d: w.detail(req.ID), ttl: 30 * time.Minute, depth: 1})})
	mustContain(t, "confirm", h.plain(), "requires decisions signed with your SSH key", "no SSH agent: connect with ssh -A or run", "Nothing was recorded")
	h.key("y")
	h.key("tab", "enter")
	stillPendingUnreviewed(t, w, req.ID)
}

// An agent that holds none of the approver's keys: the confirm names the
// key to load and refuses the decision; nothing is recorded.
func TestFlowAgentWithAnotherKeyNamesTheKeyToLoad(t *testing.T) {
	w, _, pub := keyWorld(t)
	req := w.submitKeyed()
	other, _ := testKey(t, 99)
	tm, p := startProgramOpts(t, keyOpts(w, keyringSource(t, other).source()), 100, 30)
	waitKeyedQueue(t, p)
	keys(tm, "enter")
	waitText(t, p, "Key signing")
	keys(tm, "a")
	f := waitText(t, p, "your agent holds none of your registered keys")
	mustContain(t, "confirm", f, "ssh-add the key "+ssh.FingerprintSHA256(pub), "esc to go back.")
	// y cannot confirm a refused decision; esc after it leaves, and says
	// nothing was recorded (keys are handled in order).
	keys(tm, "y", "esc")
	waitText(t, p, "Nothing was recorded by you.")
	stillPendingUnreviewed(t, w, req.ID)
}

// A FIDO key: while the agent waits the confirm says to touch the key;
// esc cancels the signature and nothing is recorded.
func TestFlowSecurityKeyTouchAndEscCancels(t *testing.T) {
	w, _, _ := keyWorld(t)
	sk := skKey(t)
	_, err := w.svc.AddApproverKey(w.ctx, "test", "alex", authorizedLine(sk))
	w.check(err)
	req := w.submitKeyed()
	ag := &touchAgent{key: sk, asked: make(chan struct{}), release: make(chan struct{})}
	t.Cleanup(func() { close(ag.release) })
	src := &countedSource{ag: ag}
	tm, p := startProgramOpts(t, keyOpts(w, src.source()), 100, 30)
	waitKeyedQueue(t, p)
	keys(tm, "enter")
	waitText(t, p, "Key signing")
	keys(tm, "a")
	waitText(t, p, "signing with ED25519-SK "+ssh.FingerprintSHA256(sk))
	keys(tm, "y")
	waitText(t, p, "touch your security key")
	<-ag.asked // the agent itself is waiting now
	keys(tm, "esc")
	f := waitText(t, p, "signature cancelled; nothing was recorded")
	mustContain(t, "confirm", f, "Approve this access?")
	stillPendingUnreviewed(t, w, req.ID)
	if o, c := src.counts(); o != 2 || c != 2 {
		t.Fatalf("agent opened %d time(s), closed %d", o, c)
	}
	keys(tm, "esc")
	waitText(t, p, "Not approved: nothing was recorded")
	stillPendingUnreviewed(t, w, req.ID)
}

// A signature that arrives just as esc is pressed records nothing: esc
// wins, whatever the order the agent's answer and the key came in.
func TestEscWinsOverASignatureArrivingLate(t *testing.T) {
	w, priv, _ := keyWorld(t)
	req := w.submitKeyed()
	h := newHarnessOpts(t, keyOpts(w, keyringSource(t, priv).source()), 100, 30)
	h.send(openReviewMsg{req.ID})
	h.key("a")
	c, ok := h.m.top().(*confirmScreen)
	if !ok || !c.key.usable() {
		t.Fatalf("top screen %T, key plan %+v", h.m.top(), c.key)
	}
	answer := c.submit()() // the agent signs…
	if m, ok := answer.(keySignedMsg); !ok || m.err != nil || m.ks == nil {
		t.Fatalf("signing: %#v", answer)
	}
	h.key("esc") // …while the approver presses esc
	h.send(answer)
	mustContain(t, "confirm", h.plain(), "signature cancelled; nothing was recorded")
	stillPendingUnreviewed(t, w, req.ID)
}

// Without the requirement and without an agent, the decision proceeds as
// before; the confirm says it will not be key-signed, the review that it
// was not.
func TestFlowWithoutAgentApprovesNotKeySigned(t *testing.T) {
	w := newWorld(t)
	approve, _ := w.seedStandard()
	tm, p := startProgram(t, w, "alex", 100, 30)
	waitQueue(t, p)
	keys(tm, "enter")
	waitText(t, p, "Debug OOM-killed checkout pods")
	keys(tm, "a")
	waitText(t, p, "not key-signed — no SSH agent")
	keys(tm, "y")
	waitText(t, p, "valid — signed by kid")
	d := approvedWithToken(t, w, approve.ID)
	if d.Reviews[0].KeySignatureDigest != "" {
		t.Fatalf("review: %+v", d.Reviews)
	}
	keys(tm, "esc")
	waitText(t, p, "alex approved at 14:00 · not key-signed")
}

// The Service refuses by itself a decision without a key signature on a
// template that requires one; the confirm shows its explanation. (The
// console refuses such a decision up front; here it is handed a detail
// that does not say the template requires it, as a stale copy might.)
func TestConfirmShowsServiceKeySignatureRefusal(t *testing.T) {
	w, _, _ := keyWorld(t)
	req := w.submitKeyed()
	h := newHarnessOpts(t, keyOpts(w, nil), 100, 30)
	d := w.detail(req.ID)
	d.Template.RequireKeySignature = false
	h.send(pushMsg{newConfirm(h.m.ctx, decision{approve: true, d: d, ttl: d.Request.TTL, depth: 1})})
	mustContain(t, "confirm", h.plain(), "not key-signed — no SSH agent")
	h.key("y")
	mustContain(t, "confirm", h.plain(), "SSH key signature required: template vault-root requires", "ssh -A", "esc to go")
	stillPendingUnreviewed(t, w, req.ID)
}

// Bulk approval leaves out requests whose template requires key
// signatures, saying why, and approves the others.
func TestBulkLeavesOutKeyRequiredRequests(t *testing.T) {
	w, priv, _ := keyWorld(t)
	keyed := w.submit(keyedTemplate, "priya", "Unseal after the failed rotation", 0, nil)
	plain := w.submit("k8s-exec", "mei", "Collect heap profile", 0, map[string]string{"namespace": "gateway"})
	w.clock.Set(t0)
	h := newHarnessOpts(t, keyOpts(w, keyringSource(t, priv).source()), 100, 30)
	h.send(pushMsg{newBulkConfirm(h.m.ctx, []approvals.Request{w.detail(keyed.ID).Request, w.detail(plain.ID).Request})})
	f := h.plain()
	mustContain(t, "bulk", f, "Approve 1 marked request(s)?", "Left out 1 request(s): their template requires a signature with your SSH key")
	h.key("y")
	if d := w.detail(plain.ID); d.Request.Status != approvals.StatusApproved {
		t.Fatalf("the plain request was not approved: %s", d.Request.Status)
	}
	stillPendingUnreviewed(t, w, keyed.ID)
}

// ---- goldens ----

func TestGoldenConfirmKeySigned(t *testing.T) {
	for _, size := range [][2]int{{80, 24}, {160, 48}} {
		t.Run(fmt.Sprintf("%dx%d", size[0], size[1]), func(t *testing.T) {
			w, priv, _ := keyWorld(t)
			req := w.submitKeyed()
			h := newHarnessOpts(t, keyOpts(w, keyringSource(t, priv).source()), size[0], size[1])
			h.send(openReviewMsg{req.ID})
			h.key("a")
			golden(t, fmt.Sprintf("confirm_keysigned_%dx%d", size[0], size[1]), h.plain())
		})
	}
}

// ---- units ----

func TestAcceptableKeysAreActiveKeysAndTheSessionCertificate(t *testing.T) {
	_, k1 := testKey(t, 1)
	_, k2 := testKey(t, 2)
	_, k3 := testKey(t, 3)
	me := approvals.Approver{Login: "alex", SSHKeys: []approvals.SSHKey{
		{AuthorizedKey: authorizedLine(k1)},
		{AuthorizedKey: authorizedLine(k2), RemovedAt: t0},
		{AuthorizedKey: "not a key"},
	}}
	cert := userCert(t, k3)
	got := acceptableKeys(me, cert)
	if len(got) != 2 || string(got[0].Marshal()) != string(k1.Marshal()) || got[1] != ssh.PublicKey(cert) {
		t.Fatalf("acceptable keys: %v", got)
	}
	if got := acceptableKeys(me, k3); len(got) != 1 {
		t.Fatalf("a plain session key is acceptable only when registered: %d keys", len(got))
	}
}

// userCert is a user certificate for key, signed by a test CA.
func userCert(t testing.TB, key ssh.PublicKey) *ssh.Certificate {
	t.Helper()
	caPriv, _ := testKey(t, 77)
	ca, err := ssh.NewSignerFromKey(caPriv)
	if err != nil {
		t.Fatal(err)
	}
	cert := &ssh.Certificate{Key: key, CertType: ssh.UserCert, KeyId: "alex", ValidPrincipals: []string{"alex"}, ValidBefore: ssh.CertTimeInfinity}
	if err := cert.SignCert(rand.Reader, ca); err != nil {
		t.Fatal(err)
	}
	return cert
}

func TestCertificateForNamesTheSessionCertificateOnlyForItsKey(t *testing.T) {
	_, k1 := testKey(t, 1)
	_, k2 := testKey(t, 2)
	cert := userCert(t, k1)
	if got := certificateFor(cert, k1); got != authorizedLine(cert) || !strings.HasPrefix(got, "ssh-ed25519-cert-v01@openssh.com ") {
		t.Fatalf("certificate for its own key: %q", got)
	}
	if got := certificateFor(cert, cert); got == "" {
		t.Fatal("an agent certificate of the same key is not matched")
	}
	if got := certificateFor(cert, k2); got != "" {
		t.Fatalf("certificate named for another key: %q", got)
	}
	if got := certificateFor(k1, k1); got != "" {
		t.Fatalf("a plain session key is not a certificate: %q", got)
	}
}

func TestKeyWhyExplainsWhatToDo(t *testing.T) {
	for _, c := range []struct {
		err  error
		want string
	}{
		{keysign.ErrNoAgent, noAgentWords},
		{fmt.Errorf("%w: refused", keysign.ErrNoAgent), noAgentWords},
		{&keysign.NoMatchingKeyError{Wanted: []string{"SHA256:a", "SHA256:b"}, Held: 3}, "your agent holds none of your registered keys: ssh-add the key SHA256:a or SHA256:b"},
		{&keysign.NoMatchingKeyError{Held: 1}, "you have no registered SSH key to sign with"},
		{&keysign.NoMatchingKeyError{Wanted: []string{"SHA256:\x1b[2J"}}, `ssh-add the key SHA256:\x1b[2J`},
		{context.DeadlineExceeded, "did not answer in time"},
	} {
		if got := keyWhy(c.err); !strings.Contains(got, c.want) {
			t.Errorf("keyWhy(%v) = %q, want it to contain %q", c.err, got, c.want)
		}
	}
	if got := signFailure(context.Canceled, true); got != "signature cancelled; nothing was recorded" {
		t.Errorf("cancelled: %q", got)
	}
	if got := signFailure(context.DeadlineExceeded, false); !strings.Contains(got, "no signature within 1m") {
		t.Errorf("timed out: %q", got)
	}
	if got := explain(fmt.Errorf("approve x: %w: template t requires decisions signed with your SSH key; run ssh-add", approvals.ErrKeySignatureRequired)); !strings.Contains(got, "requires decisions signed with your SSH key; run ssh-add") {
		t.Errorf("explain(ErrKeySignatureRequired) = %q", got)
	}
}

func TestKeyLineSaysWhichKeyOrWhyNone(t *testing.T) {
	for _, c := range []struct {
		plan     keyPlan
		required bool
		want     string
	}{
		{keyPlan{state: keyChecking}, true, "checking your SSH agent"},
		{keyPlan{state: keyReady, describe: "ED25519 SHA256:x"}, false, "signing with ED25519 SHA256:x"},
		{keyPlan{state: keyReady, describe: "ED25519-SK SHA256:x", touch: true}, true, "you will touch it"},
		{keyPlan{state: keyNoSource, why: noAgentWords}, false, "not key-signed — " + noAgentWords},
		{keyPlan{state: keyUnusable, why: "w"}, true, "required by this template — w"},
	} {
		if got := keyLine(c.plan, c.required); !strings.Contains(got, c.want) {
			t.Errorf("keyLine(%+v, %v) = %q, want %q", c.plan, c.required, got, c.want)
		}
	}
	if got := signingText(keyPlan{touch: true}, false); !strings.Contains(got, "touch your security key") {
		t.Errorf("signing with a security key: %q", got)
	}
	if got := signingText(keyPlan{}, false); strings.Contains(got, "touch") {
		t.Errorf("signing with a plain key asks for a touch: %q", got)
	}
}
