package store

import (
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/jitdesk/jitdesk/approvals"
)

// The configuration cache: templates, approvers, applications, signing
// keys and webhook subscriptions change rarely and are read by every
// decision (ten statements of an approval's twenty-three). Each process
// keeps what it read, tagged with the configuration version: a counter in
// settings that every configuration change bumps in its own transaction.
// A transaction reads the version once (one statement) and uses the cache
// only when it matches, so a change made by another process is seen by the
// next transaction here; a transaction that changed configuration itself
// bypasses the cache for the rest of its life.

const configVersionSetting = "config_version"

type configCache struct {
	mu        sync.Mutex
	version   int64 // -1: nothing cached yet
	templates map[string]approvals.Template
	approvers map[string]approvals.Approver
	apps      map[string]approvals.Application
	keys      []approvals.SigningKey
	keysOK    bool
	hooks     map[string]bool // event types some active hook subscribes to ("*" = all)
	hooksOK   bool
}

func newConfigCache() *configCache {
	c := &configCache{}
	c.reset(-1)
	return c
}

// invalidate empties the cache after this process committed a
// configuration change: what is read without a transaction
// (CachedApplication, for intake in the HTTP goroutine) must not outlive
// the change it predates. Another process's change is seen by the next
// transaction's version read.
func (c *configCache) invalidate() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.reset(-1)
}

func (c *configCache) reset(v int64) {
	c.version = v
	c.templates = map[string]approvals.Template{}
	c.approvers = map[string]approvals.Approver{}
	c.apps = map[string]approvals.Application{}
	c.keys, c.keysOK = nil, false
	c.hooks, c.hooksOK = nil, false
}

// at locks the cache at version v (resetting it when v is another
// version) and returns the unlock.
func (c *configCache) at(v int64) func() {
	c.mu.Lock()
	if c.version != v {
		c.reset(v)
	}
	return c.mu.Unlock
}

// configVersion reads the configuration version once per transaction.
func (t *tx) configVersion() (int64, error) {
	if t.cfgRead {
		return t.cfgVersion, nil
	}
	var s string
	err := t.queryRow(`SELECT value FROM settings WHERE name = ?`, configVersionSetting).Scan(&s)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		t.cfgVersion = 0
	case err != nil:
		return 0, fmt.Errorf("read configuration version: %w", err)
	default:
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("configuration version %q: %w", s, err)
		}
		t.cfgVersion = v
	}
	t.cfgRead = true
	return t.cfgVersion, nil
}

// useCache reports whether this transaction may read and fill the cache,
// and at which version.
func (t *tx) useCache() (int64, bool) {
	if t.cfg == nil || t.cfgDirty {
		return 0, false
	}
	v, err := t.configVersion()
	if err != nil {
		return 0, false // the caller reads the table, which reports the error
	}
	return v, true
}

// configChanged bumps the configuration version (once per transaction)
// and stops this transaction from using the cache.
func (t *tx) configChanged() error {
	if t.cfgDirty {
		return nil
	}
	_, err := t.exec(`INSERT INTO settings (name, value) VALUES (?, '1')
		ON CONFLICT (name) DO UPDATE SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT)`, configVersionSetting)
	if err != nil {
		return fmt.Errorf("bump configuration version: %w", err)
	}
	t.cfgDirty = true
	return nil
}

func cloneStrings(ss []string) []string {
	if ss == nil {
		return nil
	}
	return slices.Clone(ss)
}

func cloneTemplate(tm approvals.Template) approvals.Template {
	tm.Fields = slices.Clone(tm.Fields)
	tm.Approvers, tm.Groups, tm.OnCall, tm.BreakGlassGroups = cloneStrings(tm.Approvers), cloneStrings(tm.Groups), cloneStrings(tm.OnCall), cloneStrings(tm.BreakGlassGroups)
	return tm
}

func cloneApprover(a approvals.Approver) approvals.Approver {
	a.Groups = cloneStrings(a.Groups)
	a.SSHKeys = slices.Clone(a.SSHKeys)
	return a
}

func cloneApp(a approvals.Application) approvals.Application {
	a.Secret, a.PreviousSecret = slices.Clone(a.Secret), slices.Clone(a.PreviousSecret)
	return a
}

func cloneKeys(ks []approvals.SigningKey) []approvals.SigningKey {
	out := slices.Clone(ks)
	for i := range out {
		out[i].Private = slices.Clone(out[i].Private)
	}
	return out
}

// cachedTemplate returns the template from the cache or load.
func (t *tx) cachedTemplate(key string, load func() (approvals.Template, error)) (approvals.Template, error) {
	v, ok := t.useCache()
	if ok {
		unlock := t.cfg.at(v)
		tm, hit := t.cfg.templates[key]
		unlock()
		if hit {
			return cloneTemplate(tm), nil
		}
	}
	tm, err := load()
	if err == nil && ok {
		unlock := t.cfg.at(v)
		t.cfg.templates[key] = cloneTemplate(tm)
		unlock()
	}
	return tm, err
}

func (t *tx) cachedApprover(login string, load func() (approvals.Approver, error)) (approvals.Approver, error) {
	v, ok := t.useCache()
	if ok {
		unlock := t.cfg.at(v)
		a, hit := t.cfg.approvers[login]
		unlock()
		if hit {
			return cloneApprover(a), nil
		}
	}
	a, err := load()
	if err == nil && ok {
		unlock := t.cfg.at(v)
		t.cfg.approvers[login] = cloneApprover(a)
		unlock()
	}
	return a, err
}

func (t *tx) cachedApp(id string, load func() (approvals.Application, error)) (approvals.Application, error) {
	v, ok := t.useCache()
	if ok {
		unlock := t.cfg.at(v)
		a, hit := t.cfg.apps[id]
		unlock()
		if hit {
			return cloneApp(a), nil
		}
	}
	a, err := load()
	if err == nil && ok {
		unlock := t.cfg.at(v)
		t.cfg.apps[id] = cloneApp(a)
		unlock()
	}
	return a, err
}

func (t *tx) cachedKeys(load func() ([]approvals.SigningKey, error)) ([]approvals.SigningKey, error) {
	v, ok := t.useCache()
	if ok {
		unlock := t.cfg.at(v)
		ks, hit := t.cfg.keys, t.cfg.keysOK
		unlock()
		if hit {
			return cloneKeys(ks), nil
		}
	}
	ks, err := load()
	if err == nil && ok {
		unlock := t.cfg.at(v)
		t.cfg.keys, t.cfg.keysOK = cloneKeys(ks), true
		unlock()
	}
	return ks, err
}

// keyPublishedUntil is the cached publication end of a key, when known at
// the current version (the zero time and false otherwise).
func (t *tx) keyPublishedUntil(kid string) (time.Time, bool) {
	v, ok := t.useCache()
	if !ok {
		return time.Time{}, false
	}
	unlock := t.cfg.at(v)
	defer unlock()
	if !t.cfg.keysOK {
		return time.Time{}, false
	}
	for _, k := range t.cfg.keys {
		if k.Kid == kid {
			return k.PublishUntil, true
		}
	}
	return time.Time{}, false
}

// hookSubscribed reports whether some active hook may want events of typ:
// false lets the enqueue statement be skipped. Unknown means true.
func (t *tx) hookSubscribed(typ string) bool {
	v, ok := t.useCache()
	if !ok {
		return true
	}
	unlock := t.cfg.at(v)
	hooks, known := t.cfg.hooks, t.cfg.hooksOK
	unlock()
	if !known {
		types, err := t.strings(`SELECT DISTINCT event FROM webhook_subscriptions`)
		if err != nil {
			return true
		}
		hooks = map[string]bool{}
		for _, e := range types {
			hooks[e] = true
		}
		unlock := t.cfg.at(v)
		t.cfg.hooks, t.cfg.hooksOK = hooks, true
		unlock()
	}
	return hooks["*"] || hooks[typ]
}
