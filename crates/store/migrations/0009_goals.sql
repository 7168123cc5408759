-- Goals and check-outs, kept on each person's seat in a session.
-- `goal_tasks` is the JSON of a `Vec<domain::goal::Task>`; `check_out` is
-- 'done', 'partly' or 'not_yet'. Times are microseconds, like every other.
ALTER TABLE participants ADD COLUMN goal TEXT;
ALTER TABLE participants ADD COLUMN goal_tasks TEXT;
ALTER TABLE participants ADD COLUMN goal_set_at BIGINT;
ALTER TABLE participants ADD COLUMN check_out TEXT;
ALTER TABLE participants ADD COLUMN check_out_note TEXT;
ALTER TABLE participants ADD COLUMN checked_out_at BIGINT;
