-- SQLite's 0010 adds a covering index for short filters over pending rows.
-- PostgreSQL answers every filter through the pg_trgm GIN index (0004), so
-- it needs no such index; this migration keeps the two schemas' versions in
-- step.
SELECT 1;
