-- Escalation: a request of a template with escalate_after_ms still pending
-- after that long reaches the next person in the rotation (level 1), after
-- twice that the one after (level 2), … up to escalate_cap; from level 1 the
-- template's escalate_group may decide too.
ALTER TABLE templates ADD COLUMN escalate_after_ms BIGINT NOT NULL DEFAULT 0;
ALTER TABLE templates ADD COLUMN escalate_group TEXT COLLATE "C" NOT NULL DEFAULT '';
ALTER TABLE templates ADD COLUMN escalate_cap INTEGER NOT NULL DEFAULT 0;
ALTER TABLE requests ADD COLUMN escalation INTEGER NOT NULL DEFAULT 0;
