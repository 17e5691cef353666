-- The trigram index is no longer fed by a row trigger: FTS5 flushes its
-- pending terms at every statement's savepoint, so a trigger made each
-- request its own index segment (~10% of intake's CPU). The store now adds
-- a transaction's new requests to the index in one statement before it
-- commits (store.DB.Update), so a group-committed intake batch is one
-- segment.
DROP TRIGGER requests_search_insert;
