-- The expiry sweeper asks for pending requests whose pending timeout has
-- passed, soonest first.
CREATE INDEX requests_pending_by_expiry ON requests (expires_at, id) WHERE status = 'pending';
