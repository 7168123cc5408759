-- Live: chat, notifications, reminders, calendar feeds and presence.
-- The timed work (departures, empty sessions, reminders) is kept as state with
-- a due time in these rows; every node sweeps for due rows and changes each
-- one in a transaction that re-checks it, so each happens once.

-- When participant_count last fell to 0; NULL while anyone is in.
ALTER TABLE sessions ADD COLUMN emptied_at BIGINT;
-- When this person's last live connection to the session closed; NULL while
-- they are connected (or never were).
ALTER TABLE participants ADD COLUMN departed_at BIGINT;

CREATE TABLE messages (
    id         TEXT PRIMARY KEY,
    session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    body       TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX messages_session ON messages (session_id, created_at, id);

CREATE TABLE notifications (
    id         TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind       TEXT NOT NULL,
    session_id TEXT REFERENCES sessions (id) ON DELETE CASCADE,
    message    TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (user_id, kind, session_id)
);
CREATE INDEX notifications_user ON notifications (user_id, created_at);

CREATE TABLE reminders (
    session_id  TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    user_id     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at  BIGINT NOT NULL,
    notified_at BIGINT,
    PRIMARY KEY (session_id, user_id)
);
CREATE INDEX reminders_user ON reminders (user_id);
CREATE INDEX reminders_pending ON reminders (notified_at);

-- The secret in a person's calendar feed URL, hashed like every token.
CREATE TABLE calendar_secrets (
    user_id     TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    secret_hash TEXT NOT NULL UNIQUE,
    created_at  BIGINT NOT NULL
);

-- Every running node, with its last sign of life.
CREATE TABLE nodes (
    id           TEXT PRIMARY KEY,
    heartbeat_at BIGINT NOT NULL
);

-- Who holds a live connection to which session, on which node.
CREATE TABLE presence (
    node_id    TEXT NOT NULL,
    session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    PRIMARY KEY (node_id, session_id, user_id)
);
CREATE INDEX presence_member ON presence (session_id, user_id);
CREATE INDEX sessions_emptied ON sessions (status, emptied_at);
CREATE INDEX participants_departed ON participants (status, departed_at);
