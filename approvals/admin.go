package approvals

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Administration: the whole lifecycle of approvers, applications,
// templates and rotations. Every change is audited with its actor in the
// same transaction; anything history refers to is disabled, never deleted.

// ApproverUpdate changes an approver; nil fields are left alone.
type ApproverUpdate struct {
	Name         *string
	Email        *string
	AddGroups    []string
	RemoveGroups []string
	Auditor      *bool
}

// UpdateApprover changes an approver's name, email, groups or auditor flag.
func (s *Service) UpdateApprover(ctx context.Context, actor, login string, u ApproverUpdate) (Approver, error) {
	var out Approver
	err := s.store.Update(ctx, func(tx Tx) error {
		a, err := tx.Approver(login)
		if err != nil {
			return err
		}
		changed := map[string]any{}
		if u.Name != nil {
			name := strings.TrimSpace(*u.Name)
			if err := checkPersonName(a.Login, name); err != nil {
				return err
			}
			if name != a.Name {
				a.Name, changed["name"] = name, name
			}
		}
		if u.Email != nil {
			email := strings.TrimSpace(*u.Email)
			if err := checkEmail(a.Login, email); err != nil {
				return err
			}
			if email != a.Email {
				a.Email, changed["email"] = email, email
			}
		}
		for _, g := range u.AddGroups {
			if !ValidLogin(g) {
				return invalidf("approver %s: group %q: use lower-case letters, digits, '.', '_' or '-'", a.Login, g)
			}
			if !slices.Contains(a.Groups, g) {
				a.Groups = append(a.Groups, g)
				changed["groups_added"] = append(asStrings(changed["groups_added"]), g)
			}
		}
		for _, g := range u.RemoveGroups {
			if i := slices.Index(a.Groups, g); i >= 0 {
				a.Groups = slices.Delete(a.Groups, i, i+1)
				changed["groups_removed"] = append(asStrings(changed["groups_removed"]), g)
			} else {
				return invalidf("approver %s is not in group %q (groups: %s)", a.Login, g, joinOrNone(a.Groups))
			}
		}
		if u.Auditor != nil && *u.Auditor != a.Auditor {
			a.Auditor, changed["auditor"] = *u.Auditor, *u.Auditor
		}
		slices.Sort(a.Groups)
		out = a
		if len(changed) == 0 {
			return nil
		}
		if err := tx.UpdateApprover(a); err != nil {
			return err
		}
		return s.audit(tx, s.Now(), actor, NewConfigChange(ActionApproverUpdated, a.Login, NewApproverState(a), changed))
	})
	if err != nil {
		return Approver{}, fmt.Errorf("update approver %s: %w", login, err)
	}
	return out, nil
}

func asStrings(v any) []string {
	ss, _ := v.([]string)
	return ss
}

// checkPersonName is the rule for an approver's full name.
func checkPersonName(login, name string) error {
	if name == "" || len(name) > 128 || hasControl(name) {
		return invalidf("approver %s: --name is required (their full name, as they will sign it; at most 128 characters)", login)
	}
	return checkOperatorText("approver "+login+" name", name)
}

// checkEmail is the rule for an approver's email ("" for none).
func checkEmail(login, email string) error {
	if len(email) > 256 || hasControl(email) || (email != "" && (!strings.Contains(email, "@") || strings.ContainsAny(email, " \t"))) {
		return invalidf("approver %s: email %q is not an address", login, email)
	}
	return checkOperatorText("approver "+login+" email", email)
}

// AddApproverKey registers an SSH public key (an authorized_keys line) for
// an approver; a key this approver had removed comes back.
func (s *Service) AddApproverKey(ctx context.Context, actor, login, authorizedKey string) (SSHKey, error) {
	k, err := ParseSSHKey(authorizedKey)
	if err != nil {
		return SSHKey{}, fmt.Errorf("add key to %s: %w", login, err)
	}
	err = s.store.Update(ctx, func(tx Tx) error {
		a, err := tx.Approver(login)
		if err != nil {
			return err
		}
		for _, have := range a.SSHKeys {
			if have.Fingerprint == k.Fingerprint && have.Active() {
				return fmt.Errorf("%w: %s already has key %s", ErrConflict, login, k.Fingerprint)
			}
		}
		k.AddedAt = s.Now()
		if err := tx.AddSSHKey(login, k); err != nil {
			return err
		}
		st, err := approverState(tx, login)
		if err != nil {
			return err
		}
		return s.audit(tx, k.AddedAt, actor, NewConfigChange(ActionApproverKeyAdded, login, st, map[string]any{"fingerprint": k.Fingerprint}))
	})
	if err != nil {
		return SSHKey{}, fmt.Errorf("add key to %s: %w", login, err)
	}
	return k, nil
}

// RemoveApproverKey removes an approver's key, named by its authorized_keys
// line or its SHA256 fingerprint. Live SSH sessions using it end.
func (s *Service) RemoveApproverKey(ctx context.Context, actor, login, keyOrFingerprint string) (SSHKey, error) {
	fp := strings.TrimSpace(keyOrFingerprint)
	if !strings.HasPrefix(fp, "SHA256:") {
		k, err := ParseSSHKey(fp)
		if err != nil {
			return SSHKey{}, fmt.Errorf("remove key of %s: give the key (a public-key line or file) or its SHA256:… fingerprint as `jitdesk approver list` shows it: %w", login, err)
		}
		fp = k.Fingerprint
	}
	var out SSHKey
	err := s.store.Update(ctx, func(tx Tx) error {
		a, err := tx.Approver(login)
		if err != nil {
			return err
		}
		var active []string
		for _, k := range a.SSHKeys {
			if k.Active() {
				active = append(active, k.Fingerprint)
			}
			if k.Fingerprint == fp {
				out = k
			}
		}
		if out.Fingerprint == "" || !out.Active() {
			return fmt.Errorf("%w: %s has no active key %s (active keys: %s)", ErrNotFound, login, fp, joinOrNone(active))
		}
		now := s.Now()
		if err := tx.RemoveSSHKey(login, fp, now); err != nil {
			return err
		}
		out.RemovedAt = now
		st, err := approverState(tx, login)
		if err != nil {
			return err
		}
		return s.audit(tx, now, actor, NewConfigChange(ActionApproverKeyRemoved, login, st, map[string]any{"fingerprint": fp}))
	})
	if err != nil {
		return SSHKey{}, fmt.Errorf("remove key of %s: %w", login, err)
	}
	return out, nil
}

// SetApproverEnabled disables (enabled false) or enables an approver. A
// disabled approver decides nothing, appears nowhere as eligible, and
// their live SSH sessions end; history keeps their past decisions.
func (s *Service) SetApproverEnabled(ctx context.Context, actor, login string, enabled bool) (Approver, error) {
	var out Approver
	err := s.store.Update(ctx, func(tx Tx) error {
		a, err := tx.Approver(login)
		if err != nil {
			return err
		}
		if a.Disabled() != enabled {
			out = a
			return nil // already so: nothing to change or audit
		}
		now := s.Now()
		at, action := time.Time{}, ActionApproverEnabled
		if !enabled {
			at, action = now, ActionApproverDisabled
		}
		if err := tx.SetApproverDisabled(login, at, actor); err != nil {
			return err
		}
		a.DisabledAt, a.DisabledBy = at, ""
		if !enabled {
			a.DisabledBy = actor
		}
		out = a
		return s.audit(tx, now, actor, NewConfigChange(action, login, NewApproverState(a), nil))
	})
	if err != nil {
		return Approver{}, fmt.Errorf("%s approver %s: %w", enableVerb(enabled), login, err)
	}
	return out, nil
}

func enableVerb(enabled bool) string {
	if enabled {
		return "enable"
	}
	return "disable"
}

// RotateAppSecret gives an application a new intake secret, returned
// (with its printed form in Secret) once. The old secret stays acceptable
// for overlap (0: not at all), so the application can roll over.
func (s *Service) RotateAppSecret(ctx context.Context, actor, idOrName string, overlap time.Duration) (Application, error) {
	if overlap < 0 || overlap > 30*24*time.Hour {
		return Application{}, invalidf("overlap %s must be between 0 and 30d", FormatDuration(overlap))
	}
	secret, err := newPrintedSecret()
	if err != nil {
		return Application{}, err
	}
	var out Application
	err = s.store.Update(ctx, func(tx Tx) error {
		app, err := s.findApp(tx, idOrName)
		if err != nil {
			return err
		}
		now := s.Now()
		app.PreviousSecret, app.PreviousSecretFormat, app.PreviousSecretUntil = nil, "", time.Time{}
		if overlap > 0 {
			app.PreviousSecret, app.PreviousSecretFormat, app.PreviousSecretUntil = app.Secret, app.SecretFormat, now.Add(overlap)
		}
		if app.Secret, err = s.seal(sealAppSecret, app.ID, secret); err != nil {
			return err
		}
		app.SecretFormat = SecretPrinted
		if err := tx.UpdateApplication(app); err != nil {
			return err
		}
		out = app
		out.Secret = secret
		payload := map[string]any{"overlap": FormatDuration(overlap)}
		if overlap > 0 {
			payload["previous_until"] = app.PreviousSecretUntil.Format(time.RFC3339)
		}
		return s.audit(tx, now, actor, NewConfigChange(ActionApplicationSecret, app.ID, NewApplicationState(app), payload))
	})
	if err != nil {
		return Application{}, fmt.Errorf("rotate secret of %s: %w", idOrName, err)
	}
	out.PreviousSecret = nil
	return out, nil
}

// SetAppEnabled disables or enables an application. A disabled
// application's intake is refused (403); its pending requests stay and can
// still be decided.
func (s *Service) SetAppEnabled(ctx context.Context, actor, idOrName string, enabled bool) (Application, error) {
	var out Application
	err := s.store.Update(ctx, func(tx Tx) error {
		app, err := s.findApp(tx, idOrName)
		if err != nil {
			return err
		}
		out = app
		if app.Disabled != enabled {
			return nil
		}
		app.Disabled = !enabled
		if err := tx.UpdateApplication(app); err != nil {
			return err
		}
		out = app
		action := ActionApplicationEnabled
		if !enabled {
			action = ActionApplicationOff
		}
		return s.audit(tx, s.Now(), actor, NewConfigChange(action, app.ID, NewApplicationState(app), nil))
	})
	if err != nil {
		return Application{}, fmt.Errorf("%s application %s: %w", enableVerb(enabled), idOrName, err)
	}
	out.Secret, out.PreviousSecret = nil, nil
	return out, nil
}

// AppUpdate changes an application; nil fields are left alone.
type AppUpdate struct {
	Name     *string
	Audience *string
	Limits   *AppLimits
}

// UpdateApp changes an application's name, audience or limits. A new
// audience applies to tokens issued from now on; tokens already issued keep
// the old aud until they expire (see AudienceChangeWarning).
func (s *Service) UpdateApp(ctx context.Context, actor, idOrName string, u AppUpdate) (Application, error) {
	var out Application
	err := s.store.Update(ctx, func(tx Tx) error {
		app, err := s.findApp(tx, idOrName)
		if err != nil {
			return err
		}
		changed := map[string]any{}
		if u.Name != nil {
			name := strings.TrimSpace(*u.Name)
			if err := checkAppName(name); err != nil {
				return err
			}
			if name != app.Name {
				if other, err := tx.ApplicationByName(name); err == nil && other.ID != app.ID {
					return fmt.Errorf("%w: application %q", ErrConflict, name)
				}
				app.Name, changed["name"] = name, name
			}
		}
		if u.Audience != nil {
			aud := strings.TrimSpace(*u.Audience)
			if err := checkAudience(aud); err != nil {
				return err
			}
			if aud != app.Audience {
				changed["audience"], changed["previous_audience"] = aud, app.Audience
				app.Audience = aud
			}
		}
		if u.Limits != nil {
			l := *u.Limits
			if l.MaxPending < 0 || l.RatePerSecond < 0 || l.Burst < 0 || l.MaxLongPolls < 0 || l.MaxPending > 1_000_000 || l.RatePerSecond > 100_000 || l.Burst > 1_000_000 {
				return invalidf("limits must be 0 (the default) or positive and sane (max pending ≤ 1,000,000, rate ≤ 100,000/s)")
			}
			if l != app.Limits {
				app.Limits, changed["limits"] = l, map[string]any{"max_pending": l.MaxPending, "rate_per_second": l.RatePerSecond, "burst": l.Burst, "max_long_polls": l.MaxLongPolls}
			}
		}
		out = app
		if len(changed) == 0 {
			return nil
		}
		if err := tx.UpdateApplication(app); err != nil {
			return err
		}
		return s.audit(tx, s.Now(), actor, NewConfigChange(ActionApplicationUpdated, app.ID, NewApplicationState(app), changed))
	})
	if err != nil {
		return Application{}, fmt.Errorf("update application %s: %w", idOrName, err)
	}
	out.Secret, out.PreviousSecret = nil, nil
	return out, nil
}

// AudienceChangeWarning is what an operator is told when an audience changes.
const AudienceChangeWarning = "tokens already issued keep the old audience until they expire; services checking the new audience will refuse them (revoke them or wait for them to expire)"

func checkAppName(name string) error {
	if !nameRe.MatchString(name) {
		return invalidf("application name %q: use 1-64 letters, digits, spaces, '.', '_' or '-'", name)
	}
	return nil
}

func checkAudience(audience string) error {
	if audience == "" || len(audience) > 256 || hasControl(audience) {
		return invalidf("audience %q: give the aud that services expect in tokens (1-256 printable characters)", audience)
	}
	return checkOperatorText("audience", audience)
}

// TemplateVersionInfo is one recorded version of a template.
type TemplateVersionInfo struct {
	Version int
	At      time.Time
	By      string
}

// UpdateTemplate changes a template: change edits a copy of the current
// terms, which are checked like a new template's and stored as the next
// version. Pending requests stay bound to the version they were made under
// and are decided on those terms.
func (s *Service) UpdateTemplate(ctx context.Context, actor, key string, change func(*Template) error) (Template, error) {
	var out Template
	err := s.store.Update(ctx, func(tx Tx) error {
		cur, err := tx.Template(key)
		if err != nil {
			return err
		}
		next := cloneTemplate(cur)
		if err := change(&next); err != nil {
			return err
		}
		next.Key, next.CreatedAt, next.DisabledAt = cur.Key, cur.CreatedAt, cur.DisabledAt
		if err := s.checkTemplate(tx, &next); err != nil {
			return err
		}
		diff := templateDiff(cur, next)
		out = cur
		if len(diff) == 0 {
			return nil
		}
		next.Version = cur.Version + 1
		now := s.Now()
		if err := tx.UpdateTemplate(next, actor, now); err != nil {
			return err
		}
		out = next
		return s.audit(tx, now, actor, NewConfigChange(ActionTemplateUpdated, key, NewTemplateState(next), diff))
	})
	if err != nil {
		return Template{}, fmt.Errorf("update template %s: %w", key, err)
	}
	return out, nil
}

func cloneTemplate(t Template) Template {
	t.Fields = slices.Clone(t.Fields)
	t.Approvers = slices.Clone(t.Approvers)
	t.Groups = slices.Clone(t.Groups)
	t.OnCall = slices.Clone(t.OnCall)
	t.BreakGlassGroups = slices.Clone(t.BreakGlassGroups)
	return t
}

// SetTemplateEnabled stops (false) or restarts (true) new requests of a
// template. Pending requests stay decidable.
func (s *Service) SetTemplateEnabled(ctx context.Context, actor, key string, enabled bool) (Template, error) {
	var out Template
	err := s.store.Update(ctx, func(tx Tx) error {
		t, err := tx.Template(key)
		if err != nil {
			return err
		}
		out = t
		if t.Disabled() != enabled {
			return nil
		}
		now := s.Now()
		at, action := time.Time{}, ActionTemplateEnabled
		if !enabled {
			at, action = now, ActionTemplateDisabled
		}
		if err := tx.SetTemplateDisabled(key, at); err != nil {
			return err
		}
		out.DisabledAt = at
		return s.audit(tx, now, actor, NewConfigChange(action, key, NewTemplateState(out), nil))
	})
	if err != nil {
		return Template{}, fmt.Errorf("%s template %s: %w", enableVerb(enabled), key, err)
	}
	return out, nil
}

// TemplateHistory returns a template's recorded versions, oldest first.
func (s *Service) TemplateHistory(ctx context.Context, key string) ([]TemplateVersionInfo, error) {
	var out []TemplateVersionInfo
	err := s.store.View(ctx, func(tx ReadTx) error {
		if _, err := tx.Template(key); err != nil {
			return err
		}
		var err error
		out, err = tx.TemplateVersions(key)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("versions of template %s: %w", key, err)
	}
	return out, nil
}

// TemplateAt returns the terms of one version of a template.
func (s *Service) TemplateAt(ctx context.Context, key string, version int) (Template, error) {
	var out Template
	err := s.store.View(ctx, func(tx ReadTx) error {
		cur, err := tx.Template(key)
		if err != nil {
			return err
		}
		if version == cur.Version {
			out = cur
			return nil
		}
		out, err = tx.TemplateVersion(key, version)
		return err
	})
	if err != nil {
		return Template{}, fmt.Errorf("template %s version %d: %w", key, version, err)
	}
	return out, nil
}

// RotationUpdate changes a rotation; nil fields are left alone.
type RotationUpdate struct {
	Members []string // when non-nil, the new hand-over order
	Shift   *time.Duration
	Start   *time.Time
}

// UpdateRotation changes a rotation's members, shift or start.
func (s *Service) UpdateRotation(ctx context.Context, actor, name string, u RotationUpdate) (Rotation, error) {
	var out Rotation
	err := s.store.Update(ctx, func(tx Tx) error {
		now := s.Now()
		r, err := tx.Rotation(name, now)
		if err != nil {
			return err
		}
		if !r.DisabledAt.IsZero() {
			return fmt.Errorf("%w: rotation %s was removed at %s", ErrDisabled, name, r.DisabledAt.Format(time.RFC3339))
		}
		changed := map[string]any{}
		if u.Members != nil {
			m := dedupe(u.Members)
			if len(m) == 0 {
				return invalidf("rotation %s: give at least one member", name)
			}
			for _, l := range m {
				if _, err := s.activeApprover(tx, l); err != nil {
					return fmt.Errorf("member %q: %w", l, err)
				}
			}
			if !slices.Equal(m, r.Members) {
				r.Members, changed["members"] = m, m
			}
		}
		if u.Shift != nil && *u.Shift != r.Shift {
			if *u.Shift < time.Minute {
				return invalidf("rotation %s: shift must be at least 1m", name)
			}
			r.Shift, changed["shift"] = *u.Shift, FormatDuration(*u.Shift)
		}
		if start := u.Start; start != nil && !start.UTC().Truncate(time.Millisecond).Equal(r.Start) {
			r.Start = start.UTC().Truncate(time.Millisecond) // as the store keeps it
			changed["start"] = auditTime(r.Start)
		}
		out = r
		if len(changed) == 0 {
			return nil
		}
		if err := tx.UpdateRotation(r); err != nil {
			return err
		}
		return s.audit(tx, now, actor, NewConfigChange(ActionRotationUpdated, name, NewRotationState(r), changed))
	})
	if err != nil {
		return Rotation{}, fmt.Errorf("update rotation %s: %w", name, err)
	}
	return out, nil
}

// RemoveRotation disables a rotation; refused while a template names it.
func (s *Service) RemoveRotation(ctx context.Context, actor, name string) error {
	err := s.store.Update(ctx, func(tx Tx) error {
		now := s.Now()
		r, err := tx.Rotation(name, now)
		if err != nil {
			return err
		}
		if !r.DisabledAt.IsZero() {
			return nil
		}
		users, err := tx.TemplatesUsingRotation(name)
		if err != nil {
			return err
		}
		if len(users) > 0 {
			return invalidf("rotation %s is named by template(s) %s: change them first (jitdesk template update KEY --oncall …)", name, strings.Join(users, ", "))
		}
		if err := tx.SetRotationDisabled(name, now); err != nil {
			return err
		}
		r.DisabledAt = now
		return s.audit(tx, now, actor, NewConfigChange(ActionRotationRemoved, name, NewRotationState(r), nil))
	})
	if err != nil {
		return fmt.Errorf("remove rotation %s: %w", name, err)
	}
	return nil
}

// CancelOverride ends a rotation's current and future overrides, giving
// the pager back to the schedule.
func (s *Service) CancelOverride(ctx context.Context, actor, rotation string) (int, error) {
	var n int
	err := s.store.Update(ctx, func(tx Tx) error {
		now := s.Now()
		if _, err := tx.Rotation(rotation, now); err != nil {
			return err
		}
		var err error
		if n, err = tx.CancelOverrides(rotation, now); err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("%w: rotation %s has no override holding or to come", ErrNotFound, rotation)
		}
		return s.audit(tx, now, actor, NewConfigChange(ActionOverrideCancelled, rotation, nil, map[string]any{"cancelled": n}))
	})
	if err != nil {
		return 0, fmt.Errorf("cancel override of %s: %w", rotation, err)
	}
	return n, nil
}

// issuerSetting names the stored issuer.
const issuerSetting = "issuer"

// StoredIssuer returns the issuer stored in the database ("" when none).
func (s *Service) StoredIssuer(ctx context.Context) (string, error) {
	var v string
	err := s.store.View(ctx, func(tx ReadTx) error {
		var err error
		v, _, err = tx.Setting(issuerSetting)
		return err
	})
	return v, err
}

// IssuerMismatchError says a process was started with an issuer that
// disagrees with the one stored in the database.
type IssuerMismatchError struct{ Stored, Given string }

func (e *IssuerMismatchError) Error() string {
	return fmt.Sprintf("the database's issuer is %q but this process was given %q (--issuer or $JITDESK_ISSUER): drop the flag, or change the deployment's issuer with `jitdesk config set issuer URL`", e.Stored, e.Given)
}

// ResolveIssuer settles which issuer this Service uses: the stored one;
// given (from a flag or the environment), when set, must agree with it.
// A database made before issuers were stored adopts the issuer its tokens
// carry, else given, else DefaultIssuer, and records it.
func (s *Service) ResolveIssuer(ctx context.Context, given string) (string, error) {
	stored, err := s.StoredIssuer(ctx)
	if err != nil {
		return "", err
	}
	if stored != "" {
		if given != "" && given != stored {
			return "", &IssuerMismatchError{Stored: stored, Given: given}
		}
		s.issuer = stored
		return stored, nil
	}
	adopt := given
	err = s.store.Update(ctx, func(tx Tx) error {
		if v, ok, err := tx.Setting(issuerSetting); err != nil {
			return err
		} else if ok {
			adopt = v
			return nil
		}
		if g, ok, err := tx.LatestGrant(); err != nil {
			return err
		} else if iss := s.grantIssuer(g); ok && iss != "" {
			if given != "" && given != iss {
				return &IssuerMismatchError{Stored: iss, Given: given}
			}
			adopt = iss
		}
		if adopt == "" {
			adopt = s.issuer // the process's own (Options.Issuer, else DefaultIssuer)
		}
		if err := tx.SetSetting(issuerSetting, adopt); err != nil {
			return err
		}
		return s.audit(tx, s.Now(), SystemMigration, NewConfigChange(ActionIssuerSet, issuerSetting, map[string]any{"issuer": adopt}, map[string]any{"adopted": true}))
	})
	if err != nil {
		var mm *IssuerMismatchError
		if errors.As(err, &mm) {
			return "", err
		}
		return "", fmt.Errorf("store issuer: %w", err)
	}
	s.issuer = adopt
	return adopt, nil
}

// IssuerChangeWarning is what an operator is told when the issuer changes.
const IssuerChangeWarning = "tokens issued before now carry the old issuer: verifiers configured with the new issuer refuse them, and introspection here reports them inactive; applications must sign intake tokens with aud = the new issuer from now on"

// SetIssuer changes the deployment's issuer (audited).
func (s *Service) SetIssuer(ctx context.Context, actor, issuer string) (string, error) {
	issuer = strings.TrimSpace(issuer)
	if issuer == "" || len(issuer) > 256 || hasControl(issuer) || strings.ContainsAny(issuer, " \t") {
		return "", invalidf("issuer %q: give a URL (https://jitdesk.example.com) or a URN, without spaces", issuer)
	}
	var prev string
	err := s.store.Update(ctx, func(tx Tx) error {
		var err error
		if prev, _, err = tx.Setting(issuerSetting); err != nil {
			return err
		}
		if prev == issuer {
			return nil
		}
		if err := tx.SetSetting(issuerSetting, issuer); err != nil {
			return err
		}
		return s.audit(tx, s.Now(), actor, NewConfigChange(ActionIssuerSet, issuerSetting, map[string]any{"issuer": issuer}, map[string]any{"previous": prev}))
	})
	if err != nil {
		return "", fmt.Errorf("set issuer: %w", err)
	}
	s.issuer = issuer
	return prev, nil
}

// tokenIssuer reads the iss of a token this database issued, without
// verifying it (only to adopt the issuer an old database already used).
func (s *Service) grantIssuer(g Grant) string {
	tok, err := s.openToken(g)
	if err != nil {
		return ""
	}
	return tokenIssuer(tok)
}

func tokenIssuer(token string) string {
	var c jwt.RegisteredClaims
	if _, _, err := jwt.NewParser().ParseUnverified(token, &c); err != nil {
		return ""
	}
	return c.Issuer
}

// approverState reads an approver's state as audited, after a change in tx.
func approverState(tx ReadTx, login string) (ApproverState, error) {
	a, err := tx.Approver(login)
	if err != nil {
		return ApproverState{}, err
	}
	return NewApproverState(a), nil
}
