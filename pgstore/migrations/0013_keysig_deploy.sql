-- Key signatures, staged key rotation and outbox retention (see the SQLite
-- store's 0013_keysig_deploy.sql).
CREATE TABLE key_signatures (
    digest      TEXT COLLATE "C" PRIMARY KEY,
    request_id  TEXT COLLATE "C" NOT NULL REFERENCES requests(id),
    approver    TEXT COLLATE "C" NOT NULL REFERENCES approvers(login),
    decision    TEXT COLLATE "C" NOT NULL CHECK (decision IN ('approve', 'deny')),
    statement   BYTEA NOT NULL,
    signature   TEXT COLLATE "C" NOT NULL,
    fingerprint TEXT COLLATE "C" NOT NULL,
    public_key  TEXT COLLATE "C" NOT NULL,
    certificate TEXT COLLATE "C" NOT NULL DEFAULT '',
    signed_at   BIGINT NOT NULL
);
CREATE INDEX key_signatures_by_request ON key_signatures (request_id, signed_at);
CREATE TRIGGER key_signatures_no_update BEFORE UPDATE OR DELETE ON key_signatures
    FOR EACH ROW EXECUTE FUNCTION jitdesk_refuse('key_signatures are append-only');
CREATE TRIGGER key_signatures_no_truncate BEFORE TRUNCATE ON key_signatures
    FOR EACH STATEMENT EXECUTE FUNCTION jitdesk_refuse('key_signatures are append-only');

ALTER TABLE reviews ADD COLUMN key_signature_digest TEXT COLLATE "C" NOT NULL DEFAULT '';
ALTER TABLE reviews ADD COLUMN key_fingerprint TEXT COLLATE "C" NOT NULL DEFAULT '';
ALTER TABLE templates ADD COLUMN require_key_signature BOOLEAN NOT NULL DEFAULT FALSE;

ALTER TABLE signing_keys ADD COLUMN activates_at BIGINT;

CREATE INDEX webhook_deliveries_done ON webhook_deliveries (done_at) WHERE state <> 'pending';
CREATE INDEX webhook_deliveries_dead ON webhook_deliveries (id) WHERE state = 'dead';
CREATE INDEX webhook_deliveries_by_seq ON webhook_deliveries (seq);
