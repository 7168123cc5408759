-- Portable SQL: the same schema runs on SQLite and PostgreSQL.
-- Timestamps are microseconds since the Unix epoch (BIGINT) and booleans are
-- 0/1 (BIGINT), so both backends store and compare them the same way.

CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    email         TEXT NOT NULL UNIQUE,
    name          TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at    BIGINT NOT NULL
);

-- Only a SHA-256 of each token is kept: a leaked table opens no account.
CREATE TABLE tokens (
    token_hash TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL
);
CREATE INDEX tokens_user ON tokens (user_id);

CREATE TABLE projects (
    id          TEXT PRIMARY KEY,
    owner_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    description TEXT,
    repo_url    TEXT,
    tech_stack  TEXT NOT NULL, -- a JSON array of strings
    created_at  BIGINT NOT NULL
);
CREATE INDEX projects_owner ON projects (owner_id, created_at);

CREATE TABLE sessions (
    id                TEXT PRIMARY KEY,
    creator_id        TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    title             TEXT NOT NULL,
    description       TEXT,
    session_type      TEXT NOT NULL,
    status            TEXT NOT NULL,
    scheduled_start   BIGINT,
    started_at        BIGINT,
    ended_at          BIGINT,
    project_id        TEXT REFERENCES projects (id) ON DELETE SET NULL,
    max_participants  BIGINT NOT NULL,
    ai_agent_enabled  BIGINT NOT NULL,
    -- Seats taken right now, kept in the same transaction as the participant
    -- rows: the seat check is a read of this row under its write lock.
    participant_count BIGINT NOT NULL DEFAULT 0,
    -- Grows on every change to the session or its participants; every write
    -- transaction starts by bumping it, which takes the row's lock.
    version           BIGINT NOT NULL DEFAULT 0,
    created_at        BIGINT NOT NULL
);
CREATE INDEX sessions_active ON sessions (status, started_at, id);
CREATE INDEX sessions_upcoming ON sessions (status, scheduled_start, id);
CREATE INDEX sessions_project ON sessions (project_id);

CREATE TABLE participants (
    session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role       TEXT NOT NULL,
    status     TEXT NOT NULL,
    joined_at  BIGINT NOT NULL,
    left_at    BIGINT,
    PRIMARY KEY (session_id, user_id)
);
CREATE INDEX participants_user ON participants (user_id);

CREATE TABLE ai_logs (
    id         TEXT PRIMARY KEY,
    session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    user_id    TEXT REFERENCES users (id) ON DELETE SET NULL,
    question   TEXT NOT NULL,
    answer     TEXT NOT NULL,
    trigger_kind TEXT NOT NULL,
    error      TEXT,
    latency_ms TEXT NOT NULL, -- JSON object, stage name to milliseconds
    providers  TEXT NOT NULL, -- JSON object {stt, llm, tts}
    created_at BIGINT NOT NULL
);
CREATE INDEX ai_logs_session ON ai_logs (session_id, created_at, id);
CREATE INDEX ai_logs_user ON ai_logs (user_id, created_at, id);

CREATE TABLE ai_log_votes (
    log_id   TEXT NOT NULL REFERENCES ai_logs (id) ON DELETE CASCADE,
    user_id  TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    helpful  BIGINT NOT NULL,
    voted_at BIGINT NOT NULL,
    PRIMARY KEY (log_id, user_id)
);
