-- SQLite's 0012 moves its trigram index updates from a row trigger to one
-- statement per transaction. PostgreSQL's pg_trgm GIN index is an ordinary
-- index; this migration keeps the two schemas' versions in step.
SELECT 1;
