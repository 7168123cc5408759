-- The host's name, kept with the session so every list can show it without a
-- lookup per row. Names are set at sign-up and never change.
ALTER TABLE sessions ADD COLUMN creator_name TEXT NOT NULL DEFAULT '';
UPDATE sessions SET creator_name = (SELECT name FROM users WHERE users.id = sessions.creator_id);
