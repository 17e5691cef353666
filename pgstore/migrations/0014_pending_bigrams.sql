-- SQLite's 0014 adds an index of character pairs over pending requests so
-- one- and two-character filters find their rows without a scan. PostgreSQL
-- answers every filter through the pg_trgm GIN index (0004), so it needs no
-- such index; this migration keeps the two schemas' versions in step.
SELECT 1;
