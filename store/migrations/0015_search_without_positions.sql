-- The trigram search index is the largest part of the intake writer's work
-- per request (issue 13: about a third of it), and most of that is the
-- position lists detail=full keeps for phrase queries, plus one %_docsize
-- row per request for ranking we never do. This rebuilds it without either
-- (detail=none, columnsize=0): a filter is now looked up as the AND of its
-- trigrams, and the candidates are checked against the row with the same
-- LIKE the scan uses (store.narrowFilter), so results are exactly the
-- scan's. Requests are never deleted or rewritten, so the index needs no
-- delete support. template_key is no longer indexed: templates are few,
-- and a filter that matches a template's key or title already takes the
-- scan, which every request of that template matches.
DROP TABLE requests_search;
CREATE VIRTUAL TABLE requests_search USING fts5(
    requester, reason,
    tokenize = 'trigram', content = '', columnsize = 0, detail = none
);
INSERT INTO requests_search (rowid, requester, reason)
    SELECT rowid, requester, reason FROM requests;
