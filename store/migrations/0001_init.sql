-- jitdesk schema, version 1. Times are unix milliseconds (UTC); durations are
-- milliseconds. Requests, reviews, signatures, grants and audit events are
-- history: nothing deletes them.

CREATE TABLE applications (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    audience   TEXT NOT NULL,
    secret     BLOB NOT NULL,
    disabled   INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL
);

CREATE TABLE approvers (
    login      TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    email      TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL
);

CREATE TABLE approver_groups (
    login      TEXT NOT NULL REFERENCES approvers(login),
    group_name TEXT NOT NULL,
    PRIMARY KEY (login, group_name)
);
CREATE INDEX approver_groups_by_group ON approver_groups (group_name, login);

CREATE TABLE approver_ssh_keys (
    fingerprint    TEXT PRIMARY KEY,
    login          TEXT NOT NULL REFERENCES approvers(login),
    authorized_key TEXT NOT NULL
);
CREATE INDEX approver_ssh_keys_by_login ON approver_ssh_keys (login);

CREATE TABLE templates (
    key                TEXT PRIMARY KEY,
    app_id             TEXT NOT NULL REFERENCES applications(id),
    name               TEXT NOT NULL,
    title              TEXT NOT NULL,
    type               TEXT NOT NULL CHECK (type IN ('approve', 'sign_and_approve')),
    quorum             INTEGER NOT NULL CHECK (quorum >= 1),
    default_ttl_ms     INTEGER NOT NULL,
    max_ttl_ms         INTEGER NOT NULL,
    pending_timeout_ms INTEGER NOT NULL,
    min_reason         INTEGER NOT NULL DEFAULT 0,
    created_at         INTEGER NOT NULL
);

CREATE TABLE template_fields (
    template_key  TEXT NOT NULL REFERENCES templates(key),
    position      INTEGER NOT NULL,
    name          TEXT NOT NULL,
    default_value TEXT NOT NULL DEFAULT '',
    required      INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (template_key, name)
);

CREATE TABLE template_approvers (
    template_key TEXT NOT NULL REFERENCES templates(key),
    login        TEXT NOT NULL REFERENCES approvers(login),
    PRIMARY KEY (template_key, login)
);
CREATE INDEX template_approvers_by_login ON template_approvers (login, template_key);

CREATE TABLE template_groups (
    template_key TEXT NOT NULL REFERENCES templates(key),
    group_name   TEXT NOT NULL,
    PRIMARY KEY (template_key, group_name)
);
CREATE INDEX template_groups_by_group ON template_groups (group_name, template_key);

CREATE TABLE requests (
    id           TEXT PRIMARY KEY,
    template_key TEXT NOT NULL REFERENCES templates(key),
    app_id       TEXT NOT NULL REFERENCES applications(id),
    requester    TEXT NOT NULL,
    reason       TEXT NOT NULL,
    metadata     TEXT NOT NULL DEFAULT '{}',
    ttl_ms       INTEGER NOT NULL,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'denied', 'expired', 'cancelled')),
    decided_at   INTEGER,
    decided_by   TEXT,
    approvals    INTEGER NOT NULL DEFAULT 0,
    CHECK ((status = 'pending') = (decided_at IS NULL))
);
-- One index per list the console and API run, matching WHERE … ORDER BY.
CREATE INDEX requests_by_status_created ON requests (status, created_at, id);
CREATE INDEX requests_by_created ON requests (created_at, id);
CREATE INDEX requests_by_decided ON requests (decided_at, id) WHERE decided_at IS NOT NULL;
CREATE INDEX requests_by_requester ON requests (requester, created_at, id);

CREATE TABLE reviews (
    request_id       TEXT NOT NULL REFERENCES requests(id),
    approver         TEXT NOT NULL REFERENCES approvers(login),
    decision         TEXT NOT NULL CHECK (decision IN ('approve', 'deny')),
    comment          TEXT NOT NULL DEFAULT '',
    signature_digest TEXT NOT NULL DEFAULT '',
    grant_ttl_ms     INTEGER NOT NULL DEFAULT 0,
    at               INTEGER NOT NULL,
    PRIMARY KEY (request_id, approver)
);

CREATE TABLE signatures (
    digest     TEXT PRIMARY KEY,
    request_id TEXT NOT NULL REFERENCES requests(id),
    approver   TEXT NOT NULL REFERENCES approvers(login),
    kind       TEXT NOT NULL,
    canonical  BLOB NOT NULL,
    signed_at  INTEGER NOT NULL
);
CREATE INDEX signatures_by_request ON signatures (request_id);

CREATE TABLE grants (
    id            TEXT PRIMARY KEY,
    request_id    TEXT NOT NULL UNIQUE REFERENCES requests(id),
    app_id        TEXT NOT NULL REFERENCES applications(id),
    subject       TEXT NOT NULL,
    audience      TEXT NOT NULL,
    scope         TEXT NOT NULL,
    issued_at     INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL,
    kid           TEXT NOT NULL,
    token         TEXT NOT NULL,
    revoked_at    INTEGER,
    revoked_by    TEXT,
    revoke_reason TEXT
);

CREATE TABLE intake_jtis (
    app_id TEXT NOT NULL,
    jti    TEXT NOT NULL,
    exp    INTEGER NOT NULL,
    PRIMARY KEY (app_id, jti)
);
CREATE INDEX intake_jtis_by_exp ON intake_jtis (exp);

CREATE TABLE signing_keys (
    kid           TEXT PRIMARY KEY,
    alg           TEXT NOT NULL,
    private       BLOB NOT NULL,
    created_at    INTEGER NOT NULL,
    retired_at    INTEGER,
    publish_until INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE audit_events (
    seq       INTEGER PRIMARY KEY,
    at        INTEGER NOT NULL,
    actor     TEXT NOT NULL,
    action    TEXT NOT NULL,
    subject   TEXT NOT NULL,
    payload   TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash      TEXT NOT NULL
);

-- History is append-only: the database itself refuses to rewrite it.
CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN SELECT RAISE(ABORT, 'audit_events are append-only'); END;
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
BEGIN SELECT RAISE(ABORT, 'audit_events are append-only'); END;
CREATE TRIGGER signatures_no_update BEFORE UPDATE ON signatures
BEGIN SELECT RAISE(ABORT, 'signatures are append-only'); END;
CREATE TRIGGER signatures_no_delete BEFORE DELETE ON signatures
BEGIN SELECT RAISE(ABORT, 'signatures are append-only'); END;
CREATE TRIGGER requests_no_delete BEFORE DELETE ON requests
BEGIN SELECT RAISE(ABORT, 'requests are kept forever'); END;
CREATE TRIGGER reviews_no_delete BEFORE DELETE ON reviews
BEGIN SELECT RAISE(ABORT, 'reviews are kept forever'); END;
CREATE TRIGGER grants_no_delete BEFORE DELETE ON grants
BEGIN SELECT RAISE(ABORT, 'grants are kept forever'); END;
