-- Filters of one or two characters cannot use the trigram index, so over the
-- pending scope they scan rows. This covering index holds just what such a
-- filter reads, only for pending rows (few by nature), so the scan reads a
-- narrow index instead of every pending row's full record.
CREATE INDEX requests_pending_search ON requests (created_at, id, template_key, requester, reason) WHERE status = 'pending';
