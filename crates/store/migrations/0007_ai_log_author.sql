-- Who wrote an AI log entry: the assistant (through its worker) or a person
-- logging by hand. Entries from before this was kept cannot be told apart
-- and are not claimed for the assistant.
ALTER TABLE ai_logs ADD COLUMN logged_by TEXT NOT NULL DEFAULT 'person';
