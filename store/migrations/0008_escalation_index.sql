-- The escalation sweeper (every few seconds, in every console and server)
-- asks for pending requests of escalating templates. Escalating templates are
-- few while pending requests may be many, so it walks each escalating
-- template's pending requests by age and stops at the youngest that could be
-- due, instead of every pending row of every template.
CREATE INDEX requests_pending_by_template ON requests (template_key, created_at, id) WHERE status = 'pending';
