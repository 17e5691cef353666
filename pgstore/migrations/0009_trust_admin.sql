-- Trust boundary and administration (see store/migrations/0009_trust_admin.sql).
CREATE TABLE settings (
    name  TEXT COLLATE "C" PRIMARY KEY,
    value TEXT COLLATE "C" NOT NULL
);

ALTER TABLE applications ADD COLUMN secret_format TEXT COLLATE "C" NOT NULL DEFAULT 'raw';
ALTER TABLE applications ADD COLUMN previous_secret BYTEA;
ALTER TABLE applications ADD COLUMN previous_secret_format TEXT COLLATE "C" NOT NULL DEFAULT 'raw';
ALTER TABLE applications ADD COLUMN previous_secret_until BIGINT NOT NULL DEFAULT 0;
ALTER TABLE applications ADD COLUMN max_pending INTEGER NOT NULL DEFAULT 0;
ALTER TABLE applications ADD COLUMN rate_per_second DOUBLE PRECISION NOT NULL DEFAULT 0;
ALTER TABLE applications ADD COLUMN rate_burst INTEGER NOT NULL DEFAULT 0;
ALTER TABLE applications ADD COLUMN max_long_polls INTEGER NOT NULL DEFAULT 0;
CREATE INDEX requests_pending_by_app ON requests (app_id) WHERE status = 'pending';

ALTER TABLE approvers ADD COLUMN auditor BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE approvers ADD COLUMN disabled_at BIGINT;
ALTER TABLE approvers ADD COLUMN disabled_by TEXT COLLATE "C";
ALTER TABLE approvers ADD COLUMN identity TEXT COLLATE "C" NOT NULL DEFAULT '';
CREATE INDEX approvers_by_email ON approvers (email) WHERE email <> '';

ALTER TABLE approver_ssh_keys ADD COLUMN added_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE approver_ssh_keys ADD COLUMN removed_at BIGINT;

ALTER TABLE requests ADD COLUMN requester_identity TEXT COLLATE "C" NOT NULL DEFAULT '';
ALTER TABLE requests ADD COLUMN template_version INTEGER NOT NULL DEFAULT 1;
ALTER TABLE requests ADD COLUMN decided_comment TEXT COLLATE "C" NOT NULL DEFAULT '';

ALTER TABLE templates ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
ALTER TABLE templates ADD COLUMN disabled_at BIGINT;
ALTER TABLE templates ADD COLUMN break_glass_groups TEXT COLLATE "C" NOT NULL DEFAULT '';
CREATE TABLE template_versions (
    template_key TEXT COLLATE "C" NOT NULL REFERENCES templates(key),
    version      INTEGER NOT NULL,
    terms        TEXT COLLATE "C" NOT NULL,
    created_at   BIGINT NOT NULL,
    created_by   TEXT COLLATE "C" NOT NULL DEFAULT '',
    PRIMARY KEY (template_key, version)
);
CREATE TRIGGER template_versions_no_update BEFORE UPDATE OR DELETE ON template_versions
    FOR EACH ROW EXECUTE FUNCTION jitdesk_refuse('template_versions are append-only');
CREATE TRIGGER template_versions_no_truncate BEFORE TRUNCATE ON template_versions
    FOR EACH STATEMENT EXECUTE FUNCTION jitdesk_refuse('template_versions are append-only');

ALTER TABLE rotations ADD COLUMN disabled_at BIGINT;
ALTER TABLE rotation_overrides ADD COLUMN cancelled_at BIGINT;
