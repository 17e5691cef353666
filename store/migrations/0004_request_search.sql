-- A trigram index over what the console's filter searches (requester,
-- template key, reason), so a selective filter finds its few rows at once
-- instead of scanning every request in scope. Contentless: the text lives in
-- requests; this holds only the index. Request content never changes, so an
-- insert trigger keeps it current.
CREATE VIRTUAL TABLE requests_search USING fts5(
    requester, template_key, reason,
    tokenize = 'trigram', content = '', contentless_delete = 1
);
INSERT INTO requests_search (rowid, requester, template_key, reason)
    SELECT rowid, requester, template_key, reason FROM requests;
CREATE TRIGGER requests_search_insert AFTER INSERT ON requests
BEGIN
    INSERT INTO requests_search (rowid, requester, template_key, reason)
        VALUES (new.rowid, new.requester, new.template_key, new.reason);
END;
