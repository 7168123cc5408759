-- Host controls, reports and blocks (docs/RITUAL.md, "Host controls").
-- `locked`: the host closed the room to anyone not in it yet.
-- `removed_at`: when the host removed the person (their status is 'left'
-- too); null: never removed. A removed person cannot join that session again.
ALTER TABLE sessions ADD COLUMN locked BIGINT NOT NULL DEFAULT 0;
ALTER TABLE participants ADD COLUMN removed_at BIGINT;

-- Whom each person keeps out of the sessions they host.
CREATE TABLE blocks (
    blocker_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    blocked_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (blocker_id, blocked_id)
);

-- What people reported about each other, for the operator (`lockin reports`).
CREATE TABLE reports (
    id          TEXT PRIMARY KEY,
    session_id  TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    reporter_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    reported_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    reason      TEXT NOT NULL,
    note        TEXT,
    created_at  BIGINT NOT NULL
);
CREATE INDEX reports_newest ON reports (created_at);
