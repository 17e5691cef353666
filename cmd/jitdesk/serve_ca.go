package main

import (
	"fmt"
	"net"
	"sync"

	"golang.org/x/crypto/ssh"

	"github.com/jitdesk/jitdesk/sshca"
)

// userCAFiles name the files an SSH user CA is read from.
type userCAFiles struct {
	ca, principals, revoked string
}

// load builds an Authority from the files.
func (f userCAFiles) load() (*sshca.Authority, error) {
	keys, err := sshca.LoadCAKeys(f.ca)
	if err != nil {
		return nil, fmt.Errorf("--ssh-user-ca: %w", err)
	}
	cfg := sshca.Config{CAKeys: keys}
	if f.principals != "" {
		if cfg.PrincipalMap, err = sshca.LoadPrincipalMap(f.principals); err != nil {
			return nil, fmt.Errorf("--ssh-principal-map: %w", err)
		}
	}
	if f.revoked != "" {
		if cfg.Revoked, err = sshca.LoadRevocations(f.revoked); err != nil {
			return nil, fmt.Errorf("--ssh-revoked-keys: %w", err)
		}
	}
	return sshca.New(cfg)
}

// reloadableCA is the SSH user CA the Service trusts, swapped whole when
// serve reloads its files on SIGHUP (a new revocation list), so a check
// never sees half of an old configuration and half of a new one.
type reloadableCA struct {
	files userCAFiles
	mu    sync.RWMutex
	a     *sshca.Authority
}

func newReloadableCA(files userCAFiles) (*reloadableCA, error) {
	a, err := files.load()
	if err != nil {
		return nil, err
	}
	return &reloadableCA{files: files, a: a}, nil
}

func (r *reloadableCA) current() *sshca.Authority {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.a
}

// CheckFrom implements approvals.UserCA with the current Authority.
func (r *reloadableCA) CheckFrom(key ssh.PublicKey, remote net.Addr) (string, error) {
	return r.current().CheckFrom(key, remote)
}

// CheckSigner implements approvals.UserCA with the current Authority.
func (r *reloadableCA) CheckSigner(key ssh.PublicKey) (string, error) {
	return r.current().CheckSigner(key)
}

// Reload reads the files again; on an error the previous Authority stays.
func (r *reloadableCA) Reload() error {
	a, err := r.files.load()
	if err != nil {
		return err
	}
	r.mu.Lock()
	r.a = a
	r.mu.Unlock()
	return nil
}
