package keysign

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
)

// needTool skips the test when an OpenSSH client tool is not installed (CI
// installs them).
func needTool(t *testing.T, names ...string) {
	t.Helper()
	for _, n := range names {
		if _, err := exec.LookPath(n); err != nil {
			t.Skipf("%s not in PATH: OpenSSH interop not tested", n)
		}
	}
}

func run(t *testing.T, stdin []byte, name string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Stdin = bytes.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// sshKeygenVerify runs stock `ssh-keygen -Y verify` as the export
// instructions do.
func sshKeygenVerify(t *testing.T, dir, login string, key ssh.PublicKey, sig, msg []byte) (string, error) {
	t.Helper()
	line, err := AllowedSignersLine(login, key)
	if err != nil {
		t.Fatal(err)
	}
	allowed := filepath.Join(dir, "allowed_signers")
	sigPath := filepath.Join(dir, "statement.sig")
	if err := os.WriteFile(allowed, []byte(line+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(sigPath, sig, 0o600); err != nil {
		t.Fatal(err)
	}
	return run(t, msg, "ssh-keygen", "-Y", "verify", "-f", allowed, "-I", login, "-n", Namespace, "-s", sigPath)
}

func TestSSHKeygenVerifiesOurSignatures(t *testing.T) {
	needTool(t, "ssh-keygen")
	for _, kind := range kinds {
		t.Run(kind, func(t *testing.T) {
			k := genKey(t, kind)
			armored := signWith(t, keyring(t, k), k.pub, statement)
			dir := t.TempDir()
			if out, err := sshKeygenVerify(t, dir, "alice", k.pub, armored, statement); err != nil {
				t.Fatalf("ssh-keygen -Y verify refused our signature: %v\n%s", err, out)
			}
			changed := bytes.Clone(statement)
			changed[len(changed)/2] ^= 0x20
			if out, err := sshKeygenVerify(t, dir, "alice", k.pub, armored, changed); err == nil {
				t.Fatalf("ssh-keygen -Y verify accepted a changed statement:\n%s", out)
			}
			other := genKey(t, kind)
			if out, err := sshKeygenVerify(t, dir, "alice", other.pub, armored, statement); err == nil {
				t.Fatalf("ssh-keygen -Y verify accepted the signature for another key:\n%s", out)
			}
		})
	}
}

func TestSSHKeygenChecksThePrincipalOfTheLine(t *testing.T) {
	needTool(t, "ssh-keygen")
	k := genKey(t, "ed25519")
	armored := signWith(t, keyring(t, k), k.pub, statement)
	dir := t.TempDir()
	line, err := AllowedSignersLine("alice", k.pub)
	if err != nil {
		t.Fatal(err)
	}
	allowed, sigPath := filepath.Join(dir, "allowed_signers"), filepath.Join(dir, "s.sig")
	if err := os.WriteFile(allowed, []byte(line+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(sigPath, armored, 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := run(t, statement, "ssh-keygen", "-Y", "verify", "-f", allowed, "-I", "bob", "-n", Namespace, "-s", sigPath); err == nil {
		t.Fatalf("ssh-keygen accepted identity bob for alice's line:\n%s", out)
	}
	if out, err := run(t, statement, "ssh-keygen", "-Y", "verify", "-f", allowed, "-I", "alice", "-n", "file", "-s", sigPath); err == nil {
		t.Fatalf("ssh-keygen accepted the signature under namespace file:\n%s", out)
	}
}

func sshKeygenKey(t *testing.T, dir, kind string) (path string, pub ssh.PublicKey) {
	t.Helper()
	path = filepath.Join(dir, "id_"+kind)
	args := []string{"-q", "-t", kind, "-N", "", "-C", "test", "-f", path}
	if kind == "rsa" {
		args = append(args, "-b", "2048")
	}
	if out, err := run(t, nil, "ssh-keygen", args...); err != nil {
		t.Fatalf("ssh-keygen -t %s: %v\n%s", kind, err, out)
	}
	b, err := os.ReadFile(path + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	pub, _, _, _, err = ssh.ParseAuthorizedKey(b)
	if err != nil {
		t.Fatal(err)
	}
	return path, pub
}

func TestVerifyAcceptsSSHKeygenSignatures(t *testing.T) {
	needTool(t, "ssh-keygen")
	for _, kind := range []string{"ed25519", "ecdsa", "rsa"} {
		t.Run(kind, func(t *testing.T) {
			dir := t.TempDir()
			key, pub := sshKeygenKey(t, dir, kind)
			msgPath := filepath.Join(dir, "statement")
			if err := os.WriteFile(msgPath, statement, 0o600); err != nil {
				t.Fatal(err)
			}
			if out, err := run(t, nil, "ssh-keygen", "-Y", "sign", "-f", key, "-n", Namespace, msgPath); err != nil {
				t.Fatalf("ssh-keygen -Y sign: %v\n%s", err, out)
			}
			armored, err := os.ReadFile(msgPath + ".sig")
			if err != nil {
				t.Fatal(err)
			}
			if err := VerifyKey(armored, statement, pub); err != nil {
				t.Fatalf("VerifyKey of an ssh-keygen signature: %v", err)
			}
			if _, err := Verify(armored, append([]byte("x"), statement...)); !errors.Is(err, ErrBadSignature) {
				t.Fatalf("changed statement: err = %v, want ErrBadSignature", err)
			}

			// Another path: ssh-keygen does not replace an existing .sig.
			otherPath := filepath.Join(dir, "file")
			if err := os.WriteFile(otherPath, statement, 0o600); err != nil {
				t.Fatal(err)
			}
			if out, err := run(t, nil, "ssh-keygen", "-Y", "sign", "-f", key, "-n", "file", otherPath); err != nil {
				t.Fatalf("ssh-keygen -Y sign -n file: %v\n%s", err, out)
			}
			fileSig, err := os.ReadFile(otherPath + ".sig")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := Verify(fileSig, statement); !errors.Is(err, ErrBadSignature) {
				t.Fatalf("namespace file: err = %v, want ErrBadSignature", err)
			}
		})
	}
}

// startSSHAgent runs a real `ssh-agent -D` on a fresh socket and returns the
// socket path; the agent is killed when the test ends.
func startSSHAgent(t *testing.T) string {
	t.Helper()
	// Not t.TempDir: a unix socket path must fit in 108 bytes, and test
	// names make TempDir paths long.
	dir, err := os.MkdirTemp("", "ks")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "agent.sock")
	cmd := exec.Command("ssh-agent", "-D", "-a", sock)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	// ssh-agent prints its environment once the socket listens.
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "SSH_AUTH_SOCK=") {
		t.Fatalf("ssh-agent did not start: %q %v", line, err)
	}
	return sock
}

func TestLocalSourceSignsWithARealSSHAgent(t *testing.T) {
	needTool(t, "ssh-keygen", "ssh-agent", "ssh-add")
	sock := startSSHAgent(t)
	dir := t.TempDir()
	decoyPath, _ := sshKeygenKey(t, dir, "ecdsa")
	keyPath, pub := sshKeygenKey(t, dir, "ed25519")
	_, absent := sshKeygenKey(t, dir, "rsa")
	env := func(name string) string {
		if name == "SSH_AUTH_SOCK" {
			return sock
		}
		return ""
	}
	for _, p := range []string{decoyPath, keyPath} {
		cmd := exec.Command("ssh-add", p)
		cmd.Env = append(os.Environ(), "SSH_AUTH_SOCK="+sock)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("ssh-add %s: %v\n%s", p, err, out)
		}
	}

	ag, closer, err := LocalSource(env)(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer closer.Close()

	_, err = Choose(ag, []ssh.PublicKey{absent})
	var nm *NoMatchingKeyError
	if !errors.As(err, &nm) || nm.Held != 2 || len(nm.Wanted) != 1 || nm.Wanted[0] != ssh.FingerprintSHA256(absent) {
		t.Fatalf("key not loaded: err = %v, want NoMatchingKeyError{Wanted: [%s], Held: 2}", err, ssh.FingerprintSHA256(absent))
	}

	s, err := Choose(ag, []ssh.PublicKey{absent, pub})
	if err != nil {
		t.Fatal(err)
	}
	out, err := run(t, nil, "ssh-keygen", "-l", "-f", keyPath+".pub")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, s.Fingerprint()) || !strings.HasSuffix(strings.TrimSpace(out), "(ED25519)") {
		t.Fatalf("fingerprint %s does not match ssh-keygen -l: %s", s.Fingerprint(), out)
	}
	armored, err := s.Sign(context.Background(), statement)
	if err != nil {
		t.Fatal(err)
	}
	if err := VerifyKey(armored, statement, pub); err != nil {
		t.Fatal(err)
	}
	if out, err := sshKeygenVerify(t, dir, "alice", pub, armored, statement); err != nil {
		t.Fatalf("ssh-keygen -Y verify: %v\n%s", err, out)
	}
}
