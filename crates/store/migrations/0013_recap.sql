-- The assistant's written summary of an ended session (docs/RITUAL.md,
-- "The recap"). A row is made when a session with the assistant on ends:
-- the summary is then wanted. A worker claims it until `claim_expires_at`
-- (another may take it over after that), and the first text written for
-- the worker holding the claim is kept for good: `text` is null until then.
-- `written_by`: 'assistant' (the model's text held to the facts) or 'facts'
-- (it did not, or there was none: composed from the session's facts).
CREATE TABLE session_summaries (
    session_id       TEXT PRIMARY KEY REFERENCES sessions (id) ON DELETE CASCADE,
    wanted_at        BIGINT NOT NULL,
    worker_id        TEXT,
    claim_expires_at BIGINT,
    text             TEXT,
    written_by       TEXT,
    provider         TEXT,
    latency_ms       BIGINT,
    written_at       BIGINT
);
CREATE INDEX session_summaries_unwritten ON session_summaries (wanted_at) WHERE text IS NULL;
