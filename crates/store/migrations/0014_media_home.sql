-- One media home per session (docs/MEDIA.md, "One media home per session"):
-- the node whose SFU holds the session's media room, and the addresses
-- browsers reach that SFU's UDP socket at (its host candidates, comma
-- separated). Pinned by the first person to join the session's media, in one
-- statement; another node takes it over only once `node_id` has no living row
-- in `nodes` (its heartbeat expired, or the sweep closed it).
CREATE TABLE media_homes (
    session_id    TEXT PRIMARY KEY REFERENCES sessions (id) ON DELETE CASCADE,
    node_id       TEXT NOT NULL,
    media_address TEXT NOT NULL,
    pinned_at     BIGINT NOT NULL
);
CREATE INDEX media_homes_node ON media_homes (node_id);
