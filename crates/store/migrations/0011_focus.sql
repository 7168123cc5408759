-- Focus records: what focused minutes, completed blocks and streaks are
-- worked out from (domain::focus). Nothing here is a counter.
--
-- A run is one stretch in which a block of a session's timer ran without a
-- pause; `completed` is 1 when the block ran out (not paused, skipped or cut
-- by the session's end). `kind` is 'work', 'break' or 'long_break'.
CREATE TABLE timer_runs (
    session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    block      BIGINT NOT NULL,
    kind       TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    ended_at   BIGINT NOT NULL,
    completed  BIGINT NOT NULL
);
CREATE INDEX timer_runs_session ON timer_runs (session_id, started_at);

-- When the timer's current run began, while it is running.
ALTER TABLE sessions ADD COLUMN timer_running_since BIGINT;

-- A person's stays in a session's room, from joining to leaving (NULL while
-- they are in). A seat keeps only the last join; a stay is kept for each.
CREATE TABLE stays (
    session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    joined_at  BIGINT NOT NULL,
    left_at    BIGINT
);
CREATE INDEX stays_user ON stays (user_id, joined_at);
CREATE INDEX stays_session ON stays (session_id, user_id);

-- The stays before this migration, as far as the seats remember them.
INSERT INTO stays (session_id, user_id, joined_at, left_at)
SELECT session_id, user_id, joined_at, left_at FROM participants;
