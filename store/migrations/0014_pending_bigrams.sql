-- A filter of one or two characters cannot use the trigram index, so over
-- the pending scope it scanned every pending row's requester and reason
-- (tens of ms at 100,000 pending). This index answers it from the rows that
-- match instead: one token per character position of a pending request's
-- requester and reason, naming that character and the next (the hex of
-- their UTF-8 bytes, the first ASCII-lowercased as LIKE compares; "x" when
-- it is the field's last character). A two-character filter is one token,
-- a one-character filter a prefix of tokens (UTF-8 is prefix-free, so the
-- prefix cannot stop inside a character). Only pending rows are indexed:
-- the pending set is small by nature. The store adds a transaction's new
-- pending requests in one statement before it commits (store.DB.Update,
-- computed in Go: see pendingGrams); a request leaves the index when it
-- stops being pending (requests are never deleted: requests_no_delete).
CREATE VIRTUAL TABLE requests_pending_grams USING fts5(
    grams,
    tokenize = 'ascii', content = '', contentless_delete = 1, detail = none
);
WITH RECURSIVE
    field(rid, s) AS (
        SELECT rowid, lower(requester) FROM requests WHERE status = 'pending' AND requester <> ''
        UNION ALL
        SELECT rowid, lower(reason) FROM requests WHERE status = 'pending' AND reason <> ''
    ),
    pos(rid, s, i) AS (
        SELECT rid, s, 1 FROM field
        UNION ALL
        SELECT rid, s, i + 1 FROM pos WHERE i < length(s)
    )
INSERT INTO requests_pending_grams (rowid, grams)
    SELECT rid, group_concat(hex(substr(s, i, 1)) || CASE WHEN i < length(s) THEN hex(substr(s, i + 1, 1)) ELSE 'x' END, ' ')
    FROM pos GROUP BY rid;
CREATE TRIGGER requests_pending_grams_decide AFTER UPDATE OF status ON requests WHEN OLD.status = 'pending' AND NEW.status <> 'pending'
BEGIN DELETE FROM requests_pending_grams WHERE rowid = OLD.rowid; END;
