-- On-call rotations: members hand over every shift in order from start_at;
-- overrides let someone take the pager until a time. A template may name
-- rotations whose current on-call person is eligible to decide.
CREATE TABLE rotations (
    name       TEXT PRIMARY KEY,
    shift_ms   INTEGER NOT NULL CHECK (shift_ms > 0),
    start_at   INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE rotation_members (
    rotation TEXT NOT NULL REFERENCES rotations(name),
    position INTEGER NOT NULL,
    login    TEXT NOT NULL REFERENCES approvers(login),
    PRIMARY KEY (rotation, position)
);

CREATE TABLE rotation_overrides (
    id         INTEGER PRIMARY KEY,
    rotation   TEXT NOT NULL REFERENCES rotations(name),
    login      TEXT NOT NULL REFERENCES approvers(login),
    from_at    INTEGER NOT NULL,
    until_at   INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX rotation_overrides_by_rotation ON rotation_overrides (rotation, until_at);

CREATE TABLE template_oncall (
    template_key TEXT NOT NULL REFERENCES templates(key),
    rotation     TEXT NOT NULL REFERENCES rotations(name),
    PRIMARY KEY (template_key, rotation)
);
CREATE INDEX template_oncall_by_rotation ON template_oncall (rotation, template_key);
