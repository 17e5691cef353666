package main

import (
	"fmt"

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
// serve reloads its files (they changed, or SIGHUP), so a check never sees
// half of an old configuration and half of a new one.
type reloadableCA struct {
	sshca.Current
	files userCAFiles
}

func newReloadableCA(files userCAFiles) (*reloadableCA, error) {
	a, err := files.load()
	if err != nil {
		return nil, err
	}
	r := &reloadableCA{files: files}
	r.Set(a)
	return r, nil
}

// Reload reads the files again; on an error the previous Authority stays.
func (r *reloadableCA) Reload() error {
	a, err := r.files.load()
	if err != nil {
		return err
	}
	r.Set(a)
	return nil
}
