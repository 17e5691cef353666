package ui

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/jitdesk/jitdesk/approvals"
	"github.com/jitdesk/jitdesk/keysign"
)

// Key signatures in the console: a decision is also signed with the
// approver's own SSH key (through their agent) when one is reachable and
// holds a key jitdesk knows as theirs. The agent is opened only for as long
// as one listing or one signature takes, and closed again at once: over
// SSH it is the client's forwarded agent, and holding it open would let
// this session use it beyond what the approver asked for.

// keySignTimeout bounds the wait for one signature (a FIDO key waits for a
// touch). When it passes nothing is recorded.
const keySignTimeout = 60 * time.Second

// keyProbeTimeout bounds opening the agent and choosing a key when the
// confirm screen opens (a forwarded agent is a round trip to the client).
const keyProbeTimeout = 15 * time.Second

// noAgentWords is what an approver without a reachable agent is told.
const noAgentWords = "no SSH agent: connect with ssh -A or run ssh-add"

// keyState is how far the confirm screen knows which key will sign.
type keyState int

const (
	keyNoSource keyState = iota // no agent can be reached in this session
	keyChecking                 // the agent is being asked
	keyReady                    // a registered key is in the agent: the decision will be signed
	keyUnusable                 // the agent cannot sign for this approver (why says why)
)

// keyPlan is what the confirm screen shows about the key signature.
type keyPlan struct {
	state    keyState
	describe string // the signer, "ED25519 SHA256:…" (keyReady)
	touch    bool   // the key is a FIDO key: the agent waits for a touch
	why      string // why no key can sign (keyNoSource, keyUnusable); inert
}

// usable reports whether the decision will be key-signed.
func (p keyPlan) usable() bool { return p.state == keyReady }

// keyProbeMsg is the answer to "which key would sign?", asked when the
// confirm screen opens.
type keyProbeMsg struct {
	uid  int
	plan keyPlan
}

// keySignedMsg carries a finished signature (or why there is none).
type keySignedMsg struct {
	uid int
	ks  *approvals.KeySignature
	err error
}

// acceptableKeys are the keys that may sign for an approver: their active
// registered keys, and the certificate the SSH session authenticated with
// (its key is theirs by the user CA's word, registered or not).
func acceptableKeys(me approvals.Approver, session ssh.PublicKey) []ssh.PublicKey {
	var out []ssh.PublicKey
	for _, k := range me.ActiveKeys() {
		pub, _, _, _, err := ssh.ParseAuthorizedKey([]byte(k.AuthorizedKey))
		if err != nil {
			// The Service stores only keys it parsed; one that no longer
			// parses cannot sign, and the others still can.
			continue
		}
		out = append(out, pub)
	}
	if cert, ok := session.(*ssh.Certificate); ok {
		out = append(out, cert)
	}
	return out
}

// chooseKey opens the agent and picks the key that will sign. On success
// the caller closes the returned closer once done with the signer.
func chooseKey(ctx context.Context, src keysign.Source, acceptable []ssh.PublicKey) (*keysign.Signer, io.Closer, error) {
	if src == nil {
		return nil, nil, keysign.ErrNoAgent
	}
	ag, closer, err := src(ctx)
	if err != nil {
		return nil, nil, err
	}
	s, err := keysign.Choose(ag, acceptable)
	if err != nil {
		closer.Close()
		return nil, nil, err
	}
	return s, closer, nil
}

// keyWhy says in plain words why no key signature can be made, and what
// to do about it. The result is inert.
func keyWhy(err error) string {
	var nm *keysign.NoMatchingKeyError
	switch {
	case errors.Is(err, keysign.ErrNoAgent):
		return noAgentWords
	case errors.As(err, &nm):
		if len(nm.Wanted) == 0 {
			return "you have no registered SSH key to sign with: ask an administrator to add yours (jitdesk approver key add)"
		}
		fps := make([]string, len(nm.Wanted))
		for i, fp := range nm.Wanted {
			fps[i] = Inert(fp)
		}
		return "your agent holds none of your registered keys: ssh-add the key " + strings.Join(fps, " or ")
	case errors.Is(err, context.DeadlineExceeded):
		return "your SSH agent did not answer in time"
	}
	return "cannot use your SSH agent: " + explain(err)
}

// probeKey opens the agent, chooses the key that would sign for login and
// closes the agent again. It reads the approver's keys afresh, so a key
// added or removed since the session started counts as it is now.
func probeKey(ctx context.Context, svc *approvals.Service, src keysign.Source, login string, session ssh.PublicKey) keyPlan {
	ctx, cancel := context.WithTimeout(ctx, keyProbeTimeout)
	defer cancel()
	me, err := svc.Approver(ctx, login)
	if err != nil {
		return keyPlan{state: keyUnusable, why: "cannot read your registered keys: " + explain(err)}
	}
	s, closer, err := chooseKey(ctx, src, acceptableKeys(me, session))
	if err != nil {
		return keyPlan{state: keyUnusable, why: keyWhy(err)}
	}
	defer closer.Close()
	return keyPlan{state: keyReady, describe: s.Describe(), touch: s.NeedsTouch()}
}

// signDecision makes the key signature of one decision: the statement the
// Service stamps now, signed by the approver's key in the agent. ctx ends
// the wait for the agent (timeout, or esc); the agent is closed on return.
func signDecision(ctx context.Context, svc *approvals.Service, src keysign.Source, session ssh.PublicKey, in approvals.KeyStatementInput) (*approvals.KeySignature, error) {
	statement, err := svc.KeyStatement(ctx, in)
	if err != nil {
		return nil, err
	}
	me, err := svc.Approver(ctx, in.Approver)
	if err != nil {
		return nil, err
	}
	s, closer, err := chooseKey(ctx, src, acceptableKeys(me, session))
	if err != nil {
		return nil, agentError{err}
	}
	defer closer.Close()
	armored, err := s.Sign(ctx, statement)
	if err != nil {
		return nil, agentError{err}
	}
	return &approvals.KeySignature{Statement: statement, Armored: armored, Certificate: certificateFor(session, s.PublicKey())}, nil
}

// certificateFor is the authorized_keys form of the session's certificate
// when signer is its key (the Service then checks the certificate rather
// than the registered keys); "" otherwise.
func certificateFor(session, signer ssh.PublicKey) string {
	cert, ok := session.(*ssh.Certificate)
	if !ok || signer == nil {
		return ""
	}
	if !bytes.Equal(keysign.PlainKey(signer).Marshal(), cert.Key.Marshal()) {
		return ""
	}
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(cert)))
}

// keyLine is the confirm screen's "SSH key" value: which key will sign,
// or that none will and why. Pure; plan.why is already inert.
func keyLine(plan keyPlan, required bool) string {
	switch {
	case plan.state == keyChecking:
		return "checking your SSH agent…"
	case plan.usable():
		v := "signing with " + Inert(plan.describe)
		if plan.touch {
			v += " (a security key: you will touch it)"
		}
		return v
	case required:
		return "required by this template — " + plan.why
	}
	return "not key-signed — " + plan.why
}

// keyRefusal is why a decision on a template that requires a key
// signature cannot be taken without one; back is the key that goes back.
func keyRefusal(why, back string) string {
	return "This template requires decisions signed with your SSH key, and " + why + ". Nothing was recorded. " + back + " to go back."
}

// signingText is what the confirm screen says while the agent signs.
func signingText(plan keyPlan, cancelling bool) string {
	switch {
	case cancelling:
		return "cancelling the signature…"
	case plan.touch:
		return "signing… touch your security key"
	}
	return "signing…"
}

// reviewKeyWords says whether a recorded review was key-signed. Pure.
func reviewKeyWords(rv approvals.Review) string {
	if rv.KeySignatureDigest == "" {
		return "not key-signed"
	}
	return "key-signed " + Inert(rv.KeyFingerprint)
}

// agentError marks a failure of the agent (opening it, choosing a key,
// signing), as opposed to the Service's, so each is explained in its words.
type agentError struct{ err error }

func (e agentError) Error() string { return "SSH agent: " + e.err.Error() }
func (e agentError) Unwrap() error { return e.err }

// signFailure says why a signature was not made; nothing was recorded.
func signFailure(err error, cancelled bool) string {
	var ae agentError
	switch {
	case cancelled && errors.Is(err, context.Canceled):
		return "signature cancelled; nothing was recorded"
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Sprintf("no signature within %s; nothing was recorded", approvals.FormatDuration(keySignTimeout))
	case errors.As(err, &ae):
		return "the decision could not be key-signed: " + keyWhy(ae.err) + "; nothing was recorded"
	}
	return "the decision could not be key-signed: " + explain(err) + "; nothing was recorded"
}
