package approvals

import (
	"context"
	"errors"
	"fmt"

	"github.com/jitdesk/jitdesk/tokens"
)

// Secrets at rest: application intake secrets, webhook secrets and private
// signing keys are sealed (tokens.Sealer, XChaCha20-Poly1305) with a master
// key kept outside the database, each bound to its row, so a copy of the
// database file alone lets nobody mint intake tokens, sign access tokens
// or forge webhooks. Values written before sealing existed are plaintext
// until SealSecrets seals them.

// ErrSealed: a secret is sealed and this process has no (or the wrong)
// master key.
var ErrSealed = errors.New("secrets are sealed")

// masterKeySetting records which master key sealed the database.
const masterKeySetting = "master_key_id"

func sealAD(kind, id string) []byte { return []byte(kind + ":" + id) }

// Kinds of sealed value, each bound to its row's id.
const (
	sealAppSecret     = "application-secret"
	sealWebhookSecret = "webhook-secret"
	sealSigningKey    = "signing-key"
	sealGrantToken    = "grant-token"
)

// openToken returns a stored grant's token in the clear.
func (s *Service) openToken(g Grant) (string, error) {
	tok, err := s.unseal(sealGrantToken, g.ID, []byte(g.Token))
	if err != nil {
		return "", err
	}
	return string(tok), nil
}

// seal seals a secret for storage (plaintext when no master key is
// configured, as in tests that do not exercise sealing).
func (s *Service) seal(kind, id string, plain []byte) ([]byte, error) {
	if s.sealer == nil || len(plain) == 0 {
		return plain, nil
	}
	out, err := s.sealer.Seal(plain, sealAD(kind, id))
	if err != nil {
		return nil, fmt.Errorf("seal %s %s: %w", kind, id, err)
	}
	return out, nil
}

// unseal opens a stored secret (a plaintext one from before sealing is
// returned as is).
func (s *Service) unseal(kind, id string, stored []byte) ([]byte, error) {
	if !tokens.IsSealed(stored) {
		return stored, nil
	}
	if s.sealer == nil {
		return nil, fmt.Errorf("%w: %s %s is sealed and no master key was given (the key file beside the database, or $JITDESK_MASTER_KEY)", ErrSealed, kind, id)
	}
	out, err := s.sealer.Open(stored, sealAD(kind, id))
	if err != nil {
		return nil, fmt.Errorf("%w: %s %s: %w", ErrSealed, kind, id, err)
	}
	return out, nil
}

// SealReport counts what SealSecrets sealed.
type SealReport struct {
	Applications, Webhooks, SigningKeys, Grants int
}

// SealSecrets checks the master key against the one the database was
// sealed with (refusing another key with ErrSealed) and seals every secret
// still stored in plaintext, in one transaction, audited: how a database
// made before sealing is migrated. Without a master key it does nothing.
func (s *Service) SealSecrets(ctx context.Context, actor string) (SealReport, error) {
	var rep SealReport
	if s.sealer == nil {
		return rep, nil
	}
	err := s.store.Update(ctx, func(tx Tx) error {
		id, ok, err := tx.Setting(masterKeySetting)
		if err != nil {
			return err
		}
		if ok && id != s.sealer.KeyID() {
			return fmt.Errorf("%w: this database was sealed with master key %s, but the key given is %s: use the key file made with it (or its $JITDESK_MASTER_KEY)", ErrSealed, id, s.sealer.KeyID())
		}
		if !ok {
			// No key recorded: values sealed already (by a key whose record
			// was lost) must open with this one before it is recorded.
			keys, err := tx.SigningKeys()
			if err != nil {
				return err
			}
			for _, k := range keys {
				if tokens.IsSealed(k.Private) {
					if _, err := s.unseal(sealSigningKey, k.Kid, k.Private); err != nil {
						return fmt.Errorf("%w: signing key %s is sealed with another master key than the one given (%s)", ErrSealed, k.Kid, s.sealer.KeyID())
					}
				}
			}
		}
		for after := ""; ; {
			page, err := tx.Applications(after, 500)
			if err != nil {
				return err
			}
			for _, a := range page {
				after = a.Name
				app, err := tx.Application(a.ID)
				if err != nil {
					return err
				}
				changed := false
				for _, p := range []*[]byte{&app.Secret, &app.PreviousSecret} {
					if len(*p) > 0 && !tokens.IsSealed(*p) {
						if *p, err = s.seal(sealAppSecret, app.ID, *p); err != nil {
							return err
						}
						changed = true
					}
				}
				if changed {
					if err := tx.UpdateApplication(app); err != nil {
						return err
					}
					rep.Applications++
				}
			}
			if len(page) < 500 {
				break
			}
		}
		for after := ""; ; {
			page, err := tx.Webhooks(after, 500)
			if err != nil {
				return err
			}
			for _, w := range page {
				after = w.ID
				if w.Secret == "" || tokens.IsSealed([]byte(w.Secret)) {
					continue
				}
				sealed, err := s.seal(sealWebhookSecret, w.ID, []byte(w.Secret))
				if err != nil {
					return err
				}
				if err := tx.SetWebhookSecret(w.ID, string(sealed)); err != nil {
					return err
				}
				rep.Webhooks++
			}
			if len(page) < 500 {
				break
			}
		}
		for after := ""; ; {
			page, err := tx.GrantsAfter(after, 500)
			if err != nil {
				return err
			}
			for _, g := range page {
				after = g.ID
				if g.Token == "" || tokens.IsSealed([]byte(g.Token)) {
					continue
				}
				sealed, err := s.seal(sealGrantToken, g.ID, []byte(g.Token))
				if err != nil {
					return err
				}
				if err := tx.SetGrantToken(g.ID, string(sealed)); err != nil {
					return err
				}
				rep.Grants++
			}
			if len(page) < 500 {
				break
			}
		}
		keys, err := tx.SigningKeys()
		if err != nil {
			return err
		}
		for _, k := range keys {
			if tokens.IsSealed(k.Private) {
				continue
			}
			sealed, err := s.seal(sealSigningKey, k.Kid, k.Private)
			if err != nil {
				return err
			}
			if err := tx.SetSigningKeyPrivate(k.Kid, sealed); err != nil {
				return err
			}
			rep.SigningKeys++
		}
		if !ok {
			if err := tx.SetSetting(masterKeySetting, s.sealer.KeyID()); err != nil {
				return err
			}
		}
		if rep == (SealReport{}) && ok {
			return nil
		}
		return s.audit(tx, s.Now(), actor, NewConfigChange(ActionSecretsSealed, masterKeySetting, nil, map[string]any{
			"master_key_id": s.sealer.KeyID(), "applications": rep.Applications, "webhooks": rep.Webhooks, "signing_keys": rep.SigningKeys, "grant_tokens": rep.Grants,
		}))
	})
	if err != nil {
		return SealReport{}, fmt.Errorf("seal secrets: %w", err)
	}
	return rep, nil
}

// SealedWith returns the id of the master key the database's secrets are
// sealed with (ok false when none was recorded yet).
func (s *Service) SealedWith(ctx context.Context) (keyID string, ok bool, err error) {
	err = s.store.View(ctx, func(tx ReadTx) error {
		keyID, ok, err = tx.Setting(masterKeySetting)
		return err
	})
	return keyID, ok, err
}

// sharedSecretPrefix names deployment-wide secrets kept in settings.
const sharedSecretPrefix = "secret:"

// SharedSecret returns the deployment-wide secret called name (the SSH
// host key, the audit checkpoint key), sealed in the database so that
// every node finds the same one with only the connection string and the
// master key; the first caller makes it with create. Racing first callers
// agree: the one that commits first wins and the others read its value.
func (s *Service) SharedSecret(ctx context.Context, name string, create func() ([]byte, error)) ([]byte, error) {
	if s.sealer == nil {
		return nil, fmt.Errorf("%w: the shared secret %s needs the master key", ErrSealed, name)
	}
	key := sharedSecretPrefix + name
	read := func(tx ReadTx) ([]byte, bool, error) {
		v, ok, err := tx.Setting(key)
		if err != nil || !ok {
			return nil, ok, err
		}
		plain, err := s.unseal("shared-secret", name, []byte(v))
		return plain, true, err
	}
	var out []byte
	err := s.store.View(ctx, func(tx ReadTx) error {
		v, ok, err := read(tx)
		if ok {
			out = v
		}
		return err
	})
	if err != nil || out != nil {
		return out, err
	}
	fresh, err := create()
	if err != nil {
		return nil, fmt.Errorf("make shared secret %s: %w", name, err)
	}
	err = s.store.Update(ctx, func(tx Tx) error {
		if v, ok, err := read(tx); err != nil || ok {
			out = v
			return err
		}
		sealed, err := s.seal("shared-secret", name, fresh)
		if err != nil {
			return err
		}
		if err := tx.SetSetting(key, string(sealed)); err != nil {
			return err
		}
		out = fresh
		return s.audit(tx, s.Now(), SystemIssuer, NewConfigChange(ActionSharedSecret, name, nil, map[string]any{"created": name}))
	})
	if err != nil {
		return nil, fmt.Errorf("shared secret %s: %w", name, err)
	}
	return out, nil
}
