-- What the AI assistant in a session is doing: off, joining, listening,
-- thinking or speaking. Switching the assistant on makes it "joining" until
-- the agent reports in.
ALTER TABLE sessions ADD COLUMN agent_status TEXT NOT NULL DEFAULT 'off';
UPDATE sessions SET agent_status = 'joining' WHERE ai_agent_enabled = 1 AND status <> 'ended';

-- Timelapse videos of a project. The file lives in the data dir; the row
-- exists only once the whole file is on disk.
CREATE TABLE timelapses (
    id           TEXT PRIMARY KEY,
    project_id   TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    uploader_id  TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    filename     TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size_bytes   BIGINT NOT NULL,
    created_at   BIGINT NOT NULL
);
CREATE INDEX timelapses_project ON timelapses (project_id, created_at);
CREATE INDEX participants_user_status ON participants (user_id, status);
