-- A trigram index over what the console's filter searches (requester,
-- template key, reason), so a selective filter (ILIKE '%text%', three
-- characters or more) finds its few rows through a bitmap scan instead of
-- walking every request in scope. This replaces SQLite's FTS5 trigram table;
-- PostgreSQL keeps the index current itself.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX requests_search ON requests USING gin (requester gin_trgm_ops, template_key gin_trgm_ops, reason gin_trgm_ops);
