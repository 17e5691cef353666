-- jitdesk schema, version 1 (PostgreSQL translation of store/migrations).
-- Times are unix milliseconds (UTC) in BIGINT; durations are milliseconds.
-- Text is COLLATE "C" so ordering and keyset paging compare bytes, exactly
-- as SQLite does, whatever the database's default collation. Requests,
-- reviews, signatures, grants and audit events are history: nothing
-- deletes them.

CREATE TABLE applications (
    id         TEXT COLLATE "C" PRIMARY KEY,
    name       TEXT COLLATE "C" NOT NULL UNIQUE,
    audience   TEXT COLLATE "C" NOT NULL,
    secret     BYTEA NOT NULL,
    disabled   BOOLEAN NOT NULL DEFAULT FALSE,
    created_at BIGINT NOT NULL
);

CREATE TABLE approvers (
    login      TEXT COLLATE "C" PRIMARY KEY,
    name       TEXT COLLATE "C" NOT NULL,
    email      TEXT COLLATE "C" NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL
);

CREATE TABLE approver_groups (
    login      TEXT COLLATE "C" NOT NULL REFERENCES approvers(login),
    group_name TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (login, group_name)
);
CREATE INDEX approver_groups_by_group ON approver_groups (group_name, login);

CREATE TABLE approver_ssh_keys (
    fingerprint    TEXT COLLATE "C" PRIMARY KEY,
    login          TEXT COLLATE "C" NOT NULL REFERENCES approvers(login),
    authorized_key TEXT COLLATE "C" NOT NULL
);
CREATE INDEX approver_ssh_keys_by_login ON approver_ssh_keys (login);

CREATE TABLE templates (
    key                TEXT COLLATE "C" PRIMARY KEY,
    app_id             TEXT COLLATE "C" NOT NULL REFERENCES applications(id),
    name               TEXT COLLATE "C" NOT NULL,
    title              TEXT COLLATE "C" NOT NULL,
    type               TEXT COLLATE "C" NOT NULL CHECK (type IN ('approve', 'sign_and_approve')),
    quorum             INTEGER NOT NULL CHECK (quorum >= 1),
    default_ttl_ms     BIGINT NOT NULL,
    max_ttl_ms         BIGINT NOT NULL,
    pending_timeout_ms BIGINT NOT NULL,
    min_reason         INTEGER NOT NULL DEFAULT 0,
    created_at         BIGINT NOT NULL
);

CREATE TABLE template_fields (
    template_key  TEXT COLLATE "C" NOT NULL REFERENCES templates(key),
    position      INTEGER NOT NULL,
    name          TEXT COLLATE "C" NOT NULL,
    default_value TEXT COLLATE "C" NOT NULL DEFAULT '',
    required      BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (template_key, name)
);

CREATE TABLE template_approvers (
    template_key TEXT COLLATE "C" NOT NULL REFERENCES templates(key),
    login        TEXT COLLATE "C" NOT NULL REFERENCES approvers(login),
    PRIMARY KEY (template_key, login)
);
CREATE INDEX template_approvers_by_login ON template_approvers (login, template_key);

CREATE TABLE template_groups (
    template_key TEXT COLLATE "C" NOT NULL REFERENCES templates(key),
    group_name   TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (template_key, group_name)
);
CREATE INDEX template_groups_by_group ON template_groups (group_name, template_key);

CREATE TABLE requests (
    id           TEXT COLLATE "C" PRIMARY KEY,
    template_key TEXT COLLATE "C" NOT NULL REFERENCES templates(key),
    app_id       TEXT COLLATE "C" NOT NULL REFERENCES applications(id),
    requester    TEXT COLLATE "C" NOT NULL,
    reason       TEXT COLLATE "C" NOT NULL,
    metadata     TEXT COLLATE "C" NOT NULL DEFAULT '{}',
    ttl_ms       BIGINT NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    status       TEXT COLLATE "C" NOT NULL CHECK (status IN ('pending', 'approved', 'denied', 'expired', 'cancelled')),
    decided_at   BIGINT,
    decided_by   TEXT COLLATE "C",
    approvals    INTEGER NOT NULL DEFAULT 0,
    CHECK ((status = 'pending') = (decided_at IS NULL))
);
-- One index per list the console and API run, matching WHERE … ORDER BY.
CREATE INDEX requests_by_status_created ON requests (status, created_at, id);
CREATE INDEX requests_by_created ON requests (created_at, id);
CREATE INDEX requests_by_decided ON requests (decided_at, id) WHERE decided_at IS NOT NULL;
CREATE INDEX requests_by_requester ON requests (requester, created_at, id);

CREATE TABLE reviews (
    request_id       TEXT COLLATE "C" NOT NULL REFERENCES requests(id),
    approver         TEXT COLLATE "C" NOT NULL REFERENCES approvers(login),
    decision         TEXT COLLATE "C" NOT NULL CHECK (decision IN ('approve', 'deny')),
    comment          TEXT COLLATE "C" NOT NULL DEFAULT '',
    signature_digest TEXT COLLATE "C" NOT NULL DEFAULT '',
    grant_ttl_ms     BIGINT NOT NULL DEFAULT 0,
    at               BIGINT NOT NULL,
    PRIMARY KEY (request_id, approver)
);

CREATE TABLE signatures (
    digest     TEXT COLLATE "C" PRIMARY KEY,
    request_id TEXT COLLATE "C" NOT NULL REFERENCES requests(id),
    approver   TEXT COLLATE "C" NOT NULL REFERENCES approvers(login),
    kind       TEXT COLLATE "C" NOT NULL,
    canonical  BYTEA NOT NULL,
    signed_at  BIGINT NOT NULL
);
CREATE INDEX signatures_by_request ON signatures (request_id);

CREATE TABLE grants (
    id            TEXT COLLATE "C" PRIMARY KEY,
    request_id    TEXT COLLATE "C" NOT NULL UNIQUE REFERENCES requests(id),
    app_id        TEXT COLLATE "C" NOT NULL REFERENCES applications(id),
    subject       TEXT COLLATE "C" NOT NULL,
    audience      TEXT COLLATE "C" NOT NULL,
    scope         TEXT COLLATE "C" NOT NULL,
    issued_at     BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL,
    kid           TEXT COLLATE "C" NOT NULL,
    token         TEXT COLLATE "C" NOT NULL,
    revoked_at    BIGINT,
    revoked_by    TEXT COLLATE "C",
    revoke_reason TEXT COLLATE "C"
);

CREATE TABLE intake_jtis (
    app_id TEXT COLLATE "C" NOT NULL,
    jti    TEXT COLLATE "C" NOT NULL,
    exp    BIGINT NOT NULL,
    PRIMARY KEY (app_id, jti)
);
CREATE INDEX intake_jtis_by_exp ON intake_jtis (exp);

CREATE TABLE signing_keys (
    kid           TEXT COLLATE "C" PRIMARY KEY,
    alg           TEXT COLLATE "C" NOT NULL,
    private       BYTEA NOT NULL,
    created_at    BIGINT NOT NULL,
    retired_at    BIGINT,
    publish_until BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE audit_events (
    seq       BIGINT PRIMARY KEY,
    at        BIGINT NOT NULL,
    actor     TEXT COLLATE "C" NOT NULL,
    action    TEXT COLLATE "C" NOT NULL,
    subject   TEXT COLLATE "C" NOT NULL,
    payload   TEXT COLLATE "C" NOT NULL,
    prev_hash TEXT COLLATE "C" NOT NULL,
    hash      TEXT COLLATE "C" NOT NULL
);

-- History is append-only: the database itself refuses to rewrite it. Row
-- triggers do not fire on TRUNCATE, so each such table has a statement
-- trigger for that too. The message is the trigger's argument.
CREATE FUNCTION jitdesk_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '%', TG_ARGV[0] USING ERRCODE = 'restrict_violation';
END;
$$;
CREATE TRIGGER audit_events_no_update BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION jitdesk_refuse('audit_events are append-only');
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION jitdesk_refuse('audit_events are append-only');
CREATE TRIGGER signatures_no_update BEFORE UPDATE OR DELETE ON signatures
    FOR EACH ROW EXECUTE FUNCTION jitdesk_refuse('signatures are append-only');
CREATE TRIGGER signatures_no_truncate BEFORE TRUNCATE ON signatures
    FOR EACH STATEMENT EXECUTE FUNCTION jitdesk_refuse('signatures are append-only');
CREATE TRIGGER requests_no_delete BEFORE DELETE ON requests
    FOR EACH ROW EXECUTE FUNCTION jitdesk_refuse('requests are kept forever');
CREATE TRIGGER requests_no_truncate BEFORE TRUNCATE ON requests
    FOR EACH STATEMENT EXECUTE FUNCTION jitdesk_refuse('requests are kept forever');
CREATE TRIGGER reviews_no_delete BEFORE DELETE ON reviews
    FOR EACH ROW EXECUTE FUNCTION jitdesk_refuse('reviews are kept forever');
CREATE TRIGGER reviews_no_truncate BEFORE TRUNCATE ON reviews
    FOR EACH STATEMENT EXECUTE FUNCTION jitdesk_refuse('reviews are kept forever');
CREATE TRIGGER grants_no_delete BEFORE DELETE ON grants
    FOR EACH ROW EXECUTE FUNCTION jitdesk_refuse('grants are kept forever');
CREATE TRIGGER grants_no_truncate BEFORE TRUNCATE ON grants
    FOR EACH STATEMENT EXECUTE FUNCTION jitdesk_refuse('grants are kept forever');
