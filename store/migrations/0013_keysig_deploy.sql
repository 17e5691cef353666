-- Key signatures (issue 16): a decision may be signed with the approver's
-- own SSH key (SSHSIG over the canonical decision statement). The armored
-- signature is kept with the statement it covers and the key that made it,
-- under the hex SHA-256 of the armored text, which the review, the audit
-- event and the token's jit claim name. History: append-only.
CREATE TABLE key_signatures (
    digest      TEXT PRIMARY KEY,
    request_id  TEXT NOT NULL REFERENCES requests(id),
    approver    TEXT NOT NULL REFERENCES approvers(login),
    decision    TEXT NOT NULL CHECK (decision IN ('approve', 'deny')),
    statement   BLOB NOT NULL,
    signature   TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    public_key  TEXT NOT NULL,
    certificate TEXT NOT NULL DEFAULT '',
    signed_at   INTEGER NOT NULL
);
CREATE INDEX key_signatures_by_request ON key_signatures (request_id, signed_at);
CREATE TRIGGER key_signatures_no_update BEFORE UPDATE ON key_signatures
BEGIN SELECT RAISE(ABORT, 'key_signatures are append-only'); END;
CREATE TRIGGER key_signatures_no_delete BEFORE DELETE ON key_signatures
BEGIN SELECT RAISE(ABORT, 'key_signatures are append-only'); END;

-- A review names its key signature and the key's fingerprint ('' when the
-- decision was not signed with an SSH key); a template may require one.
ALTER TABLE reviews ADD COLUMN key_signature_digest TEXT NOT NULL DEFAULT '';
ALTER TABLE reviews ADD COLUMN key_fingerprint TEXT NOT NULL DEFAULT '';
ALTER TABLE templates ADD COLUMN require_key_signature INTEGER NOT NULL DEFAULT 0;

-- Staged key rotation (issue 15): a key is published from creation and signs
-- from activates_at (NULL: from creation); the key it replaces gets a
-- retired_at in the future, at the same instant.
ALTER TABLE signing_keys ADD COLUMN activates_at INTEGER;

-- Outbox retention and metrics (issue 15). Finished deliveries by when they
-- finished, so the prune is an index range over what is old and never a
-- scan of delivered history; dead ones by id, so counting them reads only
-- them (pending ones are counted through webhook_deliveries_chain). Event
-- bodies are deleted once no delivery refers to them: looking up the
-- deliveries of a seq (also what the foreign key check of such a delete
-- does) needs an index led by seq.
CREATE INDEX webhook_deliveries_done ON webhook_deliveries (done_at) WHERE state <> 'pending';
CREATE INDEX webhook_deliveries_dead ON webhook_deliveries (id) WHERE state = 'dead';
CREATE INDEX webhook_deliveries_by_seq ON webhook_deliveries (seq);
