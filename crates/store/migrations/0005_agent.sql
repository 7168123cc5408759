-- Which agent worker serves a session: exactly one at a time. A claim lasts
-- until `expires_at`; the worker renews it while it serves the session, and
-- another worker may take it over once it has expired.
CREATE TABLE agent_claims (
    session_id TEXT PRIMARY KEY REFERENCES sessions (id) ON DELETE CASCADE,
    worker_id  TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
