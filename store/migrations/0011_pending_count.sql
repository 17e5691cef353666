-- Each application's pending requests, maintained by triggers, so the
-- per-application pending cap is one row read instead of a count over the
-- pending index on every intake batch (linear in what is pending).
ALTER TABLE applications ADD COLUMN pending_count INTEGER NOT NULL DEFAULT 0;
UPDATE applications SET pending_count = (SELECT COUNT(*) FROM requests r WHERE r.app_id = applications.id AND r.status = 'pending');
CREATE TRIGGER requests_pending_count_insert AFTER INSERT ON requests WHEN NEW.status = 'pending'
BEGIN UPDATE applications SET pending_count = pending_count + 1 WHERE id = NEW.app_id; END;
CREATE TRIGGER requests_pending_count_decide AFTER UPDATE OF status ON requests WHEN OLD.status = 'pending' AND NEW.status <> 'pending'
BEGIN UPDATE applications SET pending_count = pending_count - 1 WHERE id = NEW.app_id; END;
