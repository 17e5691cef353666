package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/jitdesk/jitdesk/approvals"
	"github.com/jitdesk/jitdesk/keysign"
)

// keySignTimeout bounds how long a decision waits for the agent (a FIDO key
// waits for a touch).
const keySignTimeout = 60 * time.Second

// keySignMode is how a CLI decision uses the approver's SSH agent.
type keySignMode struct {
	never bool // --no-key-signature: do not sign even when an agent could
}

// registeredKeys parses an approver's active keys.
func registeredKeys(a approvals.Approver) []ssh.PublicKey {
	var out []ssh.PublicKey
	for _, k := range a.ActiveKeys() {
		if pub, _, _, _, err := ssh.ParseAuthorizedKey([]byte(k.AuthorizedKey)); err == nil {
			out = append(out, pub)
		}
	}
	return out
}

// keySignDecision signs a CLI decision with the approver's key through the
// local agent ($SSH_AUTH_SOCK) when one holding a registered key is there.
// Without one it returns nil — unless the template requires key
// signatures, when it says what to do. The service checks the signature
// (and the requirement) again on its own.
func (g *globals) keySignDecision(ctx context.Context, svc *approvals.Service, d approvals.Detail, in approvals.KeyStatementInput, mode keySignMode) (*approvals.KeySignature, error) {
	required := d.Template.RequireKeySignature
	if mode.never {
		if required {
			return nil, fmt.Errorf("%w: template %s requires decisions signed with your SSH key; drop --no-key-signature", approvals.ErrKeySignatureRequired, d.Template.Key)
		}
		return nil, nil
	}
	a, err := svc.Approver(ctx, in.Approver)
	if err != nil {
		return nil, err
	}
	ag, closer, err := keysign.LocalSource(os.Getenv)(ctx)
	if err != nil {
		if required {
			return nil, fmt.Errorf("%w: template %s requires decisions signed with your SSH key: %v; start ssh-agent and `ssh-add` the key you registered (%s)", approvals.ErrKeySignatureRequired, d.Template.Key, err, fingerprints(a))
		}
		if !errors.Is(err, keysign.ErrNoAgent) {
			g.warn("not key-signed: %v\n", err)
		}
		return nil, nil
	}
	defer closer.Close()
	signer, err := keysign.Choose(ag, registeredKeys(a))
	if err != nil {
		if required {
			return nil, fmt.Errorf("%w: template %s requires decisions signed with your SSH key: %v", approvals.ErrKeySignatureRequired, d.Template.Key, err)
		}
		g.warn("not key-signed: %v\n", err)
		return nil, nil
	}
	statement, err := svc.KeyStatement(ctx, in)
	if err != nil {
		return nil, err
	}
	if signer.NeedsTouch() {
		g.warn("signing with %s: touch your security key\n", signer.Describe())
	} else {
		g.warn("signing with %s\n", signer.Describe())
	}
	sctx, cancel := context.WithTimeout(ctx, keySignTimeout)
	defer cancel()
	armored, err := signer.Sign(sctx, statement)
	if err != nil {
		return nil, fmt.Errorf("sign with %s (nothing was recorded): %w", signer.Describe(), err)
	}
	return &approvals.KeySignature{Statement: statement, Armored: armored}, nil
}

// fingerprints lists an approver's active key fingerprints for a hint.
func fingerprints(a approvals.Approver) string {
	keys := a.ActiveKeys()
	if len(keys) == 0 {
		return "none registered: `jitdesk approver key add " + a.Login + " KEY`"
	}
	out := ""
	for i, k := range keys {
		if i > 0 {
			out += ", "
		}
		out += k.Fingerprint
	}
	return out
}
