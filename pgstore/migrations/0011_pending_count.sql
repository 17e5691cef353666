-- Each application's pending requests, maintained by triggers (see the
-- SQLite store's 0011): the pending cap reads one row.
ALTER TABLE applications ADD COLUMN pending_count BIGINT NOT NULL DEFAULT 0;
UPDATE applications SET pending_count = (SELECT COUNT(*) FROM requests r WHERE r.app_id = applications.id AND r.status = 'pending');
CREATE FUNCTION jitdesk_pending_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF TG_OP = 'INSERT' THEN
		IF NEW.status = 'pending' THEN
			UPDATE applications SET pending_count = pending_count + 1 WHERE id = NEW.app_id;
		END IF;
	ELSIF OLD.status = 'pending' AND NEW.status <> 'pending' THEN
		UPDATE applications SET pending_count = pending_count - 1 WHERE id = NEW.app_id;
	END IF;
	RETURN NULL;
END $$;
CREATE TRIGGER requests_pending_count_insert AFTER INSERT ON requests FOR EACH ROW EXECUTE FUNCTION jitdesk_pending_count();
CREATE TRIGGER requests_pending_count_decide AFTER UPDATE OF status ON requests FOR EACH ROW EXECUTE FUNCTION jitdesk_pending_count();
