package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	gossh "golang.org/x/crypto/ssh"
	"golang.org/x/mod/sumdb/note"

	"github.com/jitdesk/jitdesk/approvals"
)

// Keys every node of a deployment must share. On SQLite they stay in
// files beside the database (one machine; existing checkpoints and
// known_hosts entries keep working). On PostgreSQL there is no "beside":
// they live in the database, sealed with the master key
// (approvals.Service.SharedSecret), so a second node needs only the
// connection string and that key, and clients see one host key and one
// checkpoint signer whichever node answers.

// Names of the shared secrets in the database.
const (
	sharedSSHHostKey      = "ssh_host_key"
	sharedCheckpointKey   = "audit_checkpoint_key"
	checkpointKeyName     = "jitdesk-audit"
	checkpointKeyFile     = "audit-checkpoint.key"
	sshHostKeyFile        = "ssh_host_ed25519_key"
	sshHostKeyPEMComment  = "jitdesk host key"
	sharedHostKeyTempName = "ssh_host_key"
	sharedHostKeyTempDir  = "jitdesk-host-key-"
)

// checkpointSigner returns the audit checkpoint signer and its verifier
// key: the --key file when given, else the file beside a SQLite database
// (created on first use), else the database's shared key (created on
// first use by whichever node asks first).
func checkpointSigner(ctx context.Context, svc *approvals.Service, db database, keyFlag string) (note.Signer, string, error) {
	if path, ok := checkpointKeyPath(db, keyFlag); ok {
		return loadOrCreateSigner(path)
	}
	b, err := svc.SharedSecret(ctx, sharedCheckpointKey, newCheckpointKey)
	if err != nil {
		return nil, "", err
	}
	return parseCheckpointKey(b, "the database's checkpoint key")
}

// checkpointVerifier is the verifier for `audit verify --checkpoint`:
// --verifier, else the verifier line of the key checkpointSigner uses.
func checkpointVerifier(ctx context.Context, svc *approvals.Service, db database, keyFlag, explicit string) (note.Verifier, error) {
	if explicit != "" {
		return loadVerifier(explicit, "")
	}
	if path, ok := checkpointKeyPath(db, keyFlag); ok {
		return loadVerifier("", path)
	}
	b, err := svc.SharedSecret(ctx, sharedCheckpointKey, func() ([]byte, error) {
		return nil, fmt.Errorf("no checkpoint key in the database yet, so no checkpoint can have been signed with it: pass --verifier KEY")
	})
	if err != nil {
		return nil, err
	}
	_, vkey, err := parseCheckpointKey(b, "the database's checkpoint key")
	if err != nil {
		return nil, err
	}
	return loadVerifier(vkey, "")
}

// checkpointKeyPath is the checkpoint key file, ok false when the key
// lives in the database (PostgreSQL without --key).
func checkpointKeyPath(db database, keyFlag string) (string, bool) {
	if keyFlag != "" {
		return keyFlag, true
	}
	if p, ok := sqlitePath(db); ok {
		return filepath.Join(filepath.Dir(p), checkpointKeyFile), true
	}
	return "", false
}

// newCheckpointKey makes a note signing key in the key file's form: the
// signer line and the verifier line.
func newCheckpointKey() ([]byte, error) {
	skey, vkey, err := note.GenerateKey(rand.Reader, checkpointKeyName)
	if err != nil {
		return nil, err
	}
	return []byte(skey + "\n" + vkey + "\n"), nil
}

// parseCheckpointKey reads the signer and verifier lines; where names the
// key in errors (never its content).
func parseCheckpointKey(b []byte, where string) (note.Signer, string, error) {
	lines := strings.Fields(string(b))
	if len(lines) != 2 {
		return nil, "", fmt.Errorf("checkpoint key %s: expected a signer key and a verifier key line", where)
	}
	s, err := note.NewSigner(lines[0])
	if err != nil {
		return nil, "", fmt.Errorf("checkpoint key %s: %w", where, err)
	}
	return s, lines[1], nil
}

// newSSHHostKey makes an ed25519 host key as an OpenSSH PEM block.
func newSSHHostKey() ([]byte, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	block, err := gossh.MarshalPrivateKey(priv, sshHostKeyPEMComment)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(block), nil
}

// sharedHostKeyFile writes the deployment's shared SSH host key (made by
// the first node that asks) to a private temporary file for the SSH
// server to load, and returns its path and a function removing it. The
// server reads the file once while it is built, so the caller removes it
// right after: the plaintext key is on disk only for that moment.
func sharedHostKeyFile(ctx context.Context, svc *approvals.Service) (string, func(), error) {
	pemBytes, err := svc.SharedSecret(ctx, sharedSSHHostKey, newSSHHostKey)
	if err != nil {
		return "", nil, err
	}
	if _, err := gossh.ParsePrivateKey(pemBytes); err != nil {
		return "", nil, fmt.Errorf("the database's shared SSH host key does not parse: %w", err)
	}
	dir, err := os.MkdirTemp("", sharedHostKeyTempDir)
	if err != nil {
		return "", nil, fmt.Errorf("ssh host key: %w", err)
	}
	remove := func() { os.RemoveAll(dir) }
	path := filepath.Join(dir, sharedHostKeyTempName)
	if err := os.WriteFile(path, pemBytes, 0o600); err != nil {
		remove()
		return "", nil, fmt.Errorf("ssh host key: %w", err)
	}
	return path, remove, nil
}
