-- The focus ritual: a session's shape and its shared timer.
-- `rhythm` is the JSON of `domain::ritual::Rhythm` (null: none chosen).
-- The timer lives in the row, so it survives reloads and restarts and every
-- node's sweep advances it: `timer_ends_at` (running) and `timer_remaining`
-- (paused) are in microseconds, like every other time here;
-- `timer_minutes` is the length of an ad-hoc timer.
ALTER TABLE sessions ADD COLUMN planned_minutes BIGINT;
ALTER TABLE sessions ADD COLUMN rhythm TEXT;
ALTER TABLE sessions ADD COLUMN quiet_work BIGINT NOT NULL DEFAULT 0;
ALTER TABLE sessions ADD COLUMN timer_state TEXT NOT NULL DEFAULT 'not_started';
ALTER TABLE sessions ADD COLUMN timer_block BIGINT NOT NULL DEFAULT 0;
ALTER TABLE sessions ADD COLUMN timer_ends_at BIGINT;
ALTER TABLE sessions ADD COLUMN timer_remaining BIGINT;
ALTER TABLE sessions ADD COLUMN timer_minutes BIGINT;
CREATE INDEX sessions_timer_due ON sessions (timer_ends_at) WHERE timer_state = 'running';
