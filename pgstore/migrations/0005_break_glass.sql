-- Break-glass: a template may let a requester approve their own request in
-- an emergency, capped at break_glass_max_ttl_ms; such grants wait in a
-- post-review queue until an eligible reviewer acknowledges them.
ALTER TABLE templates ADD COLUMN break_glass_max_ttl_ms BIGINT NOT NULL DEFAULT 0;
ALTER TABLE grants ADD COLUMN break_glass BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE grants ADD COLUMN reviewed_at BIGINT;
ALTER TABLE grants ADD COLUMN reviewed_by TEXT COLLATE "C";
ALTER TABLE grants ADD COLUMN review_comment TEXT COLLATE "C";
CREATE INDEX grants_awaiting_review ON grants (issued_at, id) WHERE break_glass AND reviewed_at IS NULL;
