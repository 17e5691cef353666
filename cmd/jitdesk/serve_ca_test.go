package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/jitdesk/jitdesk/filewatch"
	"github.com/jitdesk/jitdesk/sshca"
)

// A revocation list rewritten while serve runs (a new file renamed over
// the old one, as ssh-keygen -k -u and editors do) is enforced without a
// SIGHUP, by the same reload serve runs on the watcher's report.
func TestARevocationListWrittenWhileServingIsEnforcedWithoutASignal(t *testing.T) {
	dir := t.TempDir()
	_, caPriv, _ := ed25519.GenerateKey(rand.Reader)
	ca, err := ssh.NewSignerFromSigner(caPriv)
	if err != nil {
		t.Fatal(err)
	}
	caPath, krl := filepath.Join(dir, "ca.pub"), filepath.Join(dir, "revoked")
	writeFile(t, caPath, string(ssh.MarshalAuthorizedKey(ca.PublicKey())))
	writeFile(t, krl, "serial:99\n")
	rc, err := newReloadableCA(userCAFiles{ca: caPath, revoked: krl})
	if err != nil {
		t.Fatal(err)
	}
	_, userPriv, _ := ed25519.GenerateKey(rand.Reader)
	user, _ := ssh.NewSignerFromSigner(userPriv)
	cert := &ssh.Certificate{Key: user.PublicKey(), Serial: 7, CertType: ssh.UserCert, KeyId: "carol-laptop",
		ValidPrincipals: []string{"carol"}, ValidAfter: uint64(time.Now().Add(-time.Hour).Unix()),
		ValidBefore: uint64(time.Now().Add(time.Hour).Unix())}
	if err := cert.SignCert(rand.Reader, ca); err != nil {
		t.Fatal(err)
	}
	if login, err := rc.CheckFrom(cert, nil); err != nil || login != "carol" {
		t.Fatalf("before the revocation: %q, %v", login, err)
	}

	fw, err := filewatch.New([]string{caPath, krl}, 20*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	reloaded := make(chan error, 8)
	go fw.Run(ctx, func([]string) { reloaded <- rc.Reload() })

	tmp := filepath.Join(dir, ".revoked.new")
	writeFile(t, tmp, "serial:99\nserial:7\n")
	if err := os.Rename(tmp, krl); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-reloaded:
		if err != nil {
			t.Fatalf("reload: %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("the rewritten revocation list was never reloaded")
	}
	var refused *sshca.RefusedError
	if _, err := rc.CheckFrom(cert, nil); !errors.As(err, &refused) || refused.Reason != sshca.Revoked {
		t.Fatalf("after the revocation: %v, want a refusal for revocation", err)
	}
}

func writeFile(t *testing.T, path, body string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
}
