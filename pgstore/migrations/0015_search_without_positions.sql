-- SQLite's 0015 rebuilds its FTS5 trigram index without positions and
-- checks candidates with LIKE. PostgreSQL's filters use the pg_trgm GIN
-- index (0004), which already keeps no positions and rechecks each
-- candidate, so nothing changes here; this migration keeps the two
-- schemas' versions in step.
SELECT 1;
