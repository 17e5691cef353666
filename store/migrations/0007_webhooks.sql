-- Webhooks with a transactional outbox. An event worth announcing is
-- enqueued in the same transaction as the change it reports (and its audit
-- event): one webhook_events row holding the signed body, one
-- webhook_deliveries row per subscribed hook. A deliverer (jitdesk serve)
-- claims due deliveries, POSTs them and records the outcome here.

CREATE TABLE webhooks (
    id          TEXT PRIMARY KEY,
    url         TEXT NOT NULL,
    secret      TEXT NOT NULL,
    events      TEXT NOT NULL DEFAULT '', -- comma-separated filter, '' = every event
    created_at  INTEGER NOT NULL,
    created_by  TEXT NOT NULL DEFAULT '',
    disabled_at INTEGER,
    disabled_by TEXT
);

-- One row per (event type, active hook); '*' stands for every type. Removing
-- a hook deletes its rows, so enqueueing reads only active subscriptions.
CREATE TABLE webhook_subscriptions (
    event   TEXT NOT NULL,
    hook_id TEXT NOT NULL REFERENCES webhooks(id),
    PRIMARY KEY (event, hook_id)
);

-- The body of each announced event, keyed by its audit seq (one body, the
-- same bytes for every hook).
CREATE TABLE webhook_events (
    seq        INTEGER PRIMARY KEY,
    type       TEXT NOT NULL,
    request_id TEXT NOT NULL,
    at         INTEGER NOT NULL,
    body       TEXT NOT NULL
);

-- One row per (hook, event). next_attempt_at is set only on the head of each
-- (hook, request) chain: later events of the same request wait with NULL
-- until the head is delivered or given up, which keeps order per request and
-- makes claiming due work a plain index range. While a deliverer holds a row
-- (claim set), next_attempt_at is its lease expiry.
CREATE TABLE webhook_deliveries (
    id              INTEGER PRIMARY KEY,
    hook_id         TEXT NOT NULL REFERENCES webhooks(id),
    seq             INTEGER NOT NULL REFERENCES webhook_events(seq) DEFERRABLE INITIALLY DEFERRED,
    request_id      TEXT NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'dead', 'cancelled')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER,
    claim           TEXT NOT NULL DEFAULT '',
    created_at      INTEGER NOT NULL,
    last_attempt_at INTEGER,
    last_status     INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT NOT NULL DEFAULT '',
    done_at         INTEGER,
    UNIQUE (hook_id, seq),
    CHECK (state = 'pending' OR next_attempt_at IS NULL)
);
-- Due work per hook: the scheduled heads, soonest first. Claims walk the
-- (few) active hooks and take a few from each, so a hook with a large backlog
-- cannot crowd the others out.
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (hook_id, next_attempt_at, id) WHERE state = 'pending' AND next_attempt_at IS NOT NULL;
-- Chains: is anything of this (hook, request) still pending, and which is next.
CREATE INDEX webhook_deliveries_chain ON webhook_deliveries (hook_id, request_id, seq) WHERE state = 'pending';
-- The log of one hook, newest first.
CREATE INDEX webhook_deliveries_by_hook ON webhook_deliveries (hook_id, id);
