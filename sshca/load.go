package sshca

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/crypto/ssh"
)

// maxFile bounds every file this package reads; a KRL revoking a million
// serials is 8 MB.
const maxFile = 64 << 20

// maxLine bounds a text line; a 16384-bit RSA key line is under 3 KB.
const maxLine = 64 << 10

func readFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("sshca: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFile+1))
	if err != nil {
		return nil, fmt.Errorf("sshca: read %s: %w", path, err)
	}
	if len(data) > maxFile {
		return nil, fmt.Errorf("sshca: %s: larger than %d bytes", path, maxFile)
	}
	return data, nil
}

// eachLine calls fn with every line of data that is neither blank nor a
// comment, trimmed, numbered from 1.
func eachLine(name string, data []byte, fn func(n int, line string) error) error {
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), maxLine)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		if err := fn(n, line); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return fmt.Errorf("sshca: %s:%d: line longer than %d bytes", name, n+1, maxLine)
		}
		return fmt.Errorf("sshca: %s:%d: %w", name, n+1, err)
	}
	return nil
}

// LoadCAKeys reads trusted user CA public keys from an authorized_keys-format
// file (what `TrustedUserCAKeys` in sshd_config takes): one key a line, with
// comments and blank lines, optionally prefixed with the "cert-authority"
// option. Any other option is refused, since jitdesk would not honour it. At
// least one key is required; errors name file:line.
func LoadCAKeys(path string) ([]ssh.PublicKey, error) {
	data, err := readFile(path)
	if err != nil {
		return nil, err
	}
	var keys []ssh.PublicKey
	seen := map[string]bool{}
	err = eachLine(path, data, func(n int, line string) error {
		key, _, options, _, err := ssh.ParseAuthorizedKey([]byte(line))
		if err != nil {
			return fmt.Errorf("sshca: %s:%d: not a public key: %v", path, n, err)
		}
		for _, o := range options {
			if !strings.EqualFold(o, "cert-authority") {
				return fmt.Errorf("sshca: %s:%d: option %q not supported (only cert-authority)", path, n, o)
			}
		}
		if _, ok := key.(*ssh.Certificate); ok {
			return fmt.Errorf("sshca: %s:%d: a certificate, not a CA public key", path, n)
		}
		if blob := string(key.Marshal()); !seen[blob] {
			seen[blob] = true
			keys = append(keys, key)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("sshca: %s: no CA keys", path)
	}
	return keys, nil
}

// LoadPrincipalMap reads "principal login" lines, separated by white space,
// with '#' comment lines (and a trailing "# …" comment after the two fields).
// A principal listed twice is an error; errors name file:line.
func LoadPrincipalMap(path string) (map[string]string, error) {
	data, err := readFile(path)
	if err != nil {
		return nil, err
	}
	m := map[string]string{}
	first := map[string]int{}
	err = eachLine(path, data, func(n int, line string) error {
		f := strings.Fields(line)
		if len(f) < 2 || (len(f) > 2 && !strings.HasPrefix(f[2], "#")) {
			return fmt.Errorf("sshca: %s:%d: want \"principal login\", got %d fields", path, n, len(f))
		}
		if prev, dup := first[f[0]]; dup {
			return fmt.Errorf("sshca: %s:%d: principal %q already mapped at line %d", path, n, f[0], prev)
		}
		first[f[0]] = n
		m[f[0]] = f[1]
		return nil
	})
	if err != nil {
		return nil, err
	}
	return m, nil
}
