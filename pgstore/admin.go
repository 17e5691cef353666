package pgstore

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/jitdesk/jitdesk/approvals"
)

// Administration: changing approvers, templates, rotations and settings.
// Nothing history refers to is deleted: approvers, keys, templates and
// rotations are disabled; templates gain versions.

// UpdateApprover rewrites an approver's name, email, auditor flag and
// groups (keys are added and removed one by one).
func (t *tx) UpdateApprover(a approvals.Approver) error {
	res, err := t.exec(`UPDATE approvers SET name = ?, email = ?, auditor = ? WHERE login = ?`, a.Name, a.Email, a.Auditor, a.Login)
	if err != nil {
		return dbErr(fmt.Sprintf("update approver %s", a.Login), err, approvals.ErrConflict)
	}
	if err := mustAffect(res, "approver", a.Login); err != nil {
		return err
	}
	if _, err := t.exec(`DELETE FROM approver_groups WHERE login = ?`, a.Login); err != nil {
		return fmt.Errorf("update approver %s groups: %w", a.Login, err)
	}
	for _, g := range a.Groups {
		if _, err := t.exec(`INSERT INTO approver_groups (login, group_name) VALUES (?, ?) ON CONFLICT DO NOTHING`, a.Login, g); err != nil {
			return dbErr(fmt.Sprintf("update approver %s group %q", a.Login, g), err, approvals.ErrConflict)
		}
	}
	return nil
}

// SetApproverDisabled disables (at non-zero) or enables (zero) an approver.
func (t *tx) SetApproverDisabled(login string, at time.Time, by string) error {
	var byArg any
	if !at.IsZero() {
		byArg = by
	}
	res, err := t.exec(`UPDATE approvers SET disabled_at = ?, disabled_by = ? WHERE login = ?`, nullMS(at), byArg, login)
	if err != nil {
		return fmt.Errorf("disable approver %s: %w", login, err)
	}
	return mustAffect(res, "approver", login)
}

// AddSSHKey registers a key for an approver, or brings back a key this
// approver had removed; ErrConflict when another approver holds it.
func (t *tx) AddSSHKey(login string, k approvals.SSHKey) error {
	var owner string
	err := t.queryRow(`SELECT login FROM approver_ssh_keys WHERE fingerprint = ?`, k.Fingerprint).Scan(&owner)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		_, err = t.exec(`INSERT INTO approver_ssh_keys (fingerprint, login, authorized_key, added_at) VALUES (?, ?, ?, ?)`, k.Fingerprint, login, k.AuthorizedKey, ms(k.AddedAt))
		return dbErr(fmt.Sprintf("add ssh key %s to %s", k.Fingerprint, login), err, approvals.ErrConflict)
	case err != nil:
		return fmt.Errorf("add ssh key %s: %w", k.Fingerprint, err)
	case owner != login:
		return fmt.Errorf("%w: ssh key %s belongs to approver %s", approvals.ErrConflict, k.Fingerprint, owner)
	}
	_, err = t.exec(`UPDATE approver_ssh_keys SET removed_at = NULL, added_at = ? WHERE fingerprint = ?`, ms(k.AddedAt), k.Fingerprint)
	return err
}

// RemoveSSHKey marks an approver's key removed at "at" (kept for history).
func (t *tx) RemoveSSHKey(login, fingerprint string, at time.Time) error {
	res, err := t.exec(`UPDATE approver_ssh_keys SET removed_at = ? WHERE login = ? AND fingerprint = ? AND removed_at IS NULL`, ms(at), login, fingerprint)
	if err != nil {
		return fmt.Errorf("remove ssh key %s: %w", fingerprint, err)
	}
	return mustAffect(res, "active ssh key of "+login, fingerprint)
}

// UpdateTemplate replaces a template's current terms with tm (its Version
// already raised by the caller) and records the new version. The version
// the change replaces is recorded first when it was never recorded
// (templates made before versions were kept).
func (t *tx) UpdateTemplate(tm approvals.Template, by string, at time.Time) error {
	prev, err := t.Template(tm.Key)
	if err != nil {
		return err
	}
	if _, err := t.TemplateVersion(prev.Key, prev.Version); errors.Is(err, approvals.ErrNotFound) {
		if err := t.insertTemplateVersion(prev, "", prev.CreatedAt); err != nil {
			return err
		}
	}
	res, err := t.exec(`UPDATE templates SET app_id = ?, name = ?, title = ?, type = ?, quorum = ?, default_ttl_ms = ?, max_ttl_ms = ?, pending_timeout_ms = ?,
		min_reason = ?, break_glass_max_ttl_ms = ?, escalate_after_ms = ?, escalate_group = ?, escalate_cap = ?, version = ?, disabled_at = ?, break_glass_groups = ?,
		require_key_signature = ? WHERE key = ?`,
		tm.AppID, tm.Name, tm.Title, string(tm.Type), tm.Quorum, tm.DefaultTTL.Milliseconds(), tm.MaxTTL.Milliseconds(), tm.PendingTimeout.Milliseconds(),
		tm.MinReason, tm.BreakGlassMaxTTL.Milliseconds(), tm.EscalateAfter.Milliseconds(), tm.EscalateGroup, tm.EscalateCap, tm.Version, nullMS(tm.DisabledAt),
		strings.Join(tm.BreakGlassGroups, ","), tm.RequireKeySignature, tm.Key)
	if err != nil {
		return dbErr(fmt.Sprintf("update template %s", tm.Key), err, approvals.ErrConflict)
	}
	if err := mustAffect(res, "template", tm.Key); err != nil {
		return err
	}
	for _, q := range []string{`DELETE FROM template_fields WHERE template_key = ?`, `DELETE FROM template_approvers WHERE template_key = ?`,
		`DELETE FROM template_groups WHERE template_key = ?`, `DELETE FROM template_oncall WHERE template_key = ?`} {
		if _, err := t.exec(q, tm.Key); err != nil {
			return fmt.Errorf("update template %s: %w", tm.Key, err)
		}
	}
	if err := t.insertTemplateChildren(tm); err != nil {
		return err
	}
	return t.insertTemplateVersion(tm, by, at)
}

// SetTemplateDisabled stops (at non-zero) or restarts (zero) new requests
// of a template; not a new version: the terms do not change.
func (t *tx) SetTemplateDisabled(key string, at time.Time) error {
	res, err := t.exec(`UPDATE templates SET disabled_at = ? WHERE key = ?`, nullMS(at), key)
	if err != nil {
		return fmt.Errorf("disable template %s: %w", key, err)
	}
	return mustAffect(res, "template", key)
}

// TemplateVersions lists every recorded version of a template, oldest first.
func (t *tx) TemplateVersions(key string) ([]approvals.TemplateVersionInfo, error) {
	rows, err := t.query(`SELECT version, created_at, created_by FROM template_versions WHERE template_key = ? ORDER BY version`, key)
	if err != nil {
		return nil, fmt.Errorf("versions of template %s: %w", key, err)
	}
	defer rows.Close()
	var out []approvals.TemplateVersionInfo
	for rows.Next() {
		var v approvals.TemplateVersionInfo
		var at int64
		if err := rows.Scan(&v.Version, &at, &v.By); err != nil {
			return nil, err
		}
		v.At = fromMS(at)
		out = append(out, v)
	}
	return out, rows.Err()
}

// TemplatesUsingRotation lists the keys of templates naming a rotation.
func (t *tx) TemplatesUsingRotation(rotation string) ([]string, error) {
	return t.strings(`SELECT template_key FROM template_oncall WHERE rotation = ? ORDER BY template_key`, rotation)
}

// UpdateRotation rewrites a rotation's members, shift and start.
func (t *tx) UpdateRotation(r approvals.Rotation) error {
	res, err := t.exec(`UPDATE rotations SET shift_ms = ?, start_at = ? WHERE name = ?`, r.Shift.Milliseconds(), ms(r.Start), r.Name)
	if err != nil {
		return fmt.Errorf("update rotation %s: %w", r.Name, err)
	}
	if err := mustAffect(res, "rotation", r.Name); err != nil {
		return err
	}
	if _, err := t.exec(`DELETE FROM rotation_members WHERE rotation = ?`, r.Name); err != nil {
		return fmt.Errorf("update rotation %s: %w", r.Name, err)
	}
	for i, m := range r.Members {
		if _, err := t.exec(`INSERT INTO rotation_members (rotation, position, login) VALUES (?, ?, ?)`, r.Name, i, m); err != nil {
			return dbErr(fmt.Sprintf("update rotation %s member %q", r.Name, m), err, approvals.ErrConflict)
		}
	}
	return nil
}

// SetRotationDisabled disables (at non-zero) or restores (zero) a rotation.
func (t *tx) SetRotationDisabled(name string, at time.Time) error {
	res, err := t.exec(`UPDATE rotations SET disabled_at = ? WHERE name = ?`, nullMS(at), name)
	if err != nil {
		return fmt.Errorf("disable rotation %s: %w", name, err)
	}
	return mustAffect(res, "rotation", name)
}

// CancelOverrides ends every override of a rotation still holding or to
// come at "at", returning how many it cancelled.
func (t *tx) CancelOverrides(rotation string, at time.Time) (int, error) {
	res, err := t.exec(`UPDATE rotation_overrides SET cancelled_at = ?, until_at = GREATEST(from_at, ?) WHERE rotation = ? AND until_at > ? AND cancelled_at IS NULL`,
		ms(at), ms(at), rotation, ms(at))
	if err != nil {
		return 0, fmt.Errorf("cancel overrides of %s: %w", rotation, err)
	}
	n, err := res.RowsAffected()
	return int(n), err
}

// Setting returns a deployment setting ("" and false when unset).
func (t *tx) Setting(name string) (string, bool, error) {
	var v string
	err := t.queryRow(`SELECT value FROM settings WHERE name = ?`, name).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("read setting %s: %w", name, err)
	}
	return v, true, nil
}

// SetSetting stores a deployment setting.
func (t *tx) SetSetting(name, value string) error {
	_, err := t.exec(`INSERT INTO settings (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value`, name, value)
	if err != nil {
		return fmt.Errorf("store setting %s: %w", name, err)
	}
	return nil
}

// LatestGrant returns the newest grant, token included.
func (t *tx) LatestGrant() (approvals.Grant, bool, error) {
	g, err := scanGrant(t.queryRow(`SELECT ` + grantCols + ` FROM grants ORDER BY issued_at DESC, id DESC LIMIT 1`))
	if errors.Is(err, pgx.ErrNoRows) {
		return approvals.Grant{}, false, nil
	}
	if err != nil {
		return approvals.Grant{}, false, fmt.Errorf("newest grant: %w", err)
	}
	return g, true, nil
}

// SetWebhookSecret rewrites a hook's stored secret.
func (t *tx) SetWebhookSecret(id, secret string) error {
	res, err := t.exec(`UPDATE webhooks SET secret = ? WHERE id = ?`, secret, id)
	if err != nil {
		return fmt.Errorf("store webhook %s secret: %w", id, err)
	}
	return mustAffect(res, "webhook", id)
}

// SetSigningKeyPrivate rewrites a signing key's stored private bytes.
func (t *tx) SetSigningKeyPrivate(kid string, private []byte) error {
	res, err := t.exec(`UPDATE signing_keys SET private = ? WHERE kid = ?`, private, kid)
	if err != nil {
		return fmt.Errorf("store signing key %s: %w", kid, err)
	}
	return mustAffect(res, "signing key", kid)
}

// SetGrantToken rewrites a grant's stored token.
func (t *tx) SetGrantToken(id, token string) error {
	res, err := t.exec(`UPDATE grants SET token = ? WHERE id = ?`, token, id)
	if err != nil {
		return fmt.Errorf("store grant %s token: %w", id, err)
	}
	return mustAffect(res, "grant", id)
}
