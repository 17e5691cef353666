-- Trust boundary and administration.
--
-- Settings: one issuer per deployment (and other deployment-wide values),
-- kept in the database so every process on it agrees.
CREATE TABLE settings (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- Applications: the intake secret is the string as printed (secret_format
-- 'printed'); secrets made before this change were random bytes printed as
-- base64url ('raw'), and keep working both ways until rotated. A rotation
-- keeps the previous secret acceptable until previous_secret_until (unix ms,
-- 0 = not at all). Limits: 0 means the product's default.
ALTER TABLE applications ADD COLUMN secret_format TEXT NOT NULL DEFAULT 'raw';
ALTER TABLE applications ADD COLUMN previous_secret BLOB;
ALTER TABLE applications ADD COLUMN previous_secret_format TEXT NOT NULL DEFAULT 'raw';
ALTER TABLE applications ADD COLUMN previous_secret_until INTEGER NOT NULL DEFAULT 0;
ALTER TABLE applications ADD COLUMN max_pending INTEGER NOT NULL DEFAULT 0;
ALTER TABLE applications ADD COLUMN rate_per_second REAL NOT NULL DEFAULT 0;
ALTER TABLE applications ADD COLUMN rate_burst INTEGER NOT NULL DEFAULT 0;
ALTER TABLE applications ADD COLUMN max_long_polls INTEGER NOT NULL DEFAULT 0;
CREATE INDEX requests_pending_by_app ON requests (app_id) WHERE status = 'pending';

-- Approvers: auditors see every request (read-only); a disabled approver
-- decides nothing and appears nowhere as eligible, but history keeps them.
-- identity is the approver's login under the identity profile (PRECIS,
-- case-folded, confusable skeleton), compared with requesters' identities.
ALTER TABLE approvers ADD COLUMN auditor INTEGER NOT NULL DEFAULT 0;
ALTER TABLE approvers ADD COLUMN disabled_at INTEGER;
ALTER TABLE approvers ADD COLUMN disabled_by TEXT;
ALTER TABLE approvers ADD COLUMN identity TEXT NOT NULL DEFAULT '';
CREATE INDEX approvers_by_email ON approvers (email) WHERE email <> '';

-- A removed SSH key is kept (history and signatures refer to it) but no
-- longer authenticates.
ALTER TABLE approver_ssh_keys ADD COLUMN added_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE approver_ssh_keys ADD COLUMN removed_at INTEGER;

-- Requests carry their requester's identity (see approvers.identity) and
-- the template version they were made under.
ALTER TABLE requests ADD COLUMN requester_identity TEXT NOT NULL DEFAULT '';
ALTER TABLE requests ADD COLUMN template_version INTEGER NOT NULL DEFAULT 1;
ALTER TABLE requests ADD COLUMN decided_comment TEXT NOT NULL DEFAULT '';

-- Templates are versioned: templates holds the current version (the lists
-- and "needs me" join its approver tables); template_versions keeps every
-- version's terms as JSON, so a request is decided on the version it was
-- made under. A disabled template takes no new requests.
ALTER TABLE templates ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
ALTER TABLE templates ADD COLUMN disabled_at INTEGER;
ALTER TABLE templates ADD COLUMN break_glass_groups TEXT NOT NULL DEFAULT '';
CREATE TABLE template_versions (
    template_key TEXT NOT NULL REFERENCES templates(key),
    version      INTEGER NOT NULL,
    terms        TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    created_by   TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (template_key, version)
);
CREATE TRIGGER template_versions_no_update BEFORE UPDATE ON template_versions
BEGIN SELECT RAISE(ABORT, 'template_versions are append-only'); END;
CREATE TRIGGER template_versions_no_delete BEFORE DELETE ON template_versions
BEGIN SELECT RAISE(ABORT, 'template_versions are append-only'); END;

-- Rotations are disabled, never deleted; overrides can be cancelled.
ALTER TABLE rotations ADD COLUMN disabled_at INTEGER;
ALTER TABLE rotation_overrides ADD COLUMN cancelled_at INTEGER;

-- Grants record the token's showings through the audit log; the secret
-- columns of applications, webhooks and signing keys may hold sealed
-- values (the "jds1:" envelope) once a master key is configured.
