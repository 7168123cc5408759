-- A project's timelapses are its owner's; the owner may share them with the
-- people in the project's active sessions (who see the project itself anyway).
ALTER TABLE projects ADD COLUMN timelapses_shared BIGINT NOT NULL DEFAULT 0;
