-- The escalation sweeper asks for pending requests of escalating templates:
-- it walks each escalating template's pending requests by age.
CREATE INDEX requests_pending_by_template ON requests (template_key, created_at, id) WHERE status = 'pending';
