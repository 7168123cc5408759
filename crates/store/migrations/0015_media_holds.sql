-- What the host switched off for someone (docs/MEDIA.md, "The host's
-- controls"): the media server forwards nothing of it until the person turns
-- it off and on again. Kept here, not only in the SFU room, so that a hold
-- outlives the connection it was made on: a page joining media again, on
-- this node or on a new media home, is held again. `media`: microphone,
-- camera or screen. A row goes when the hold is let go.
CREATE TABLE media_holds (
    session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    media      TEXT NOT NULL,
    held_at    BIGINT NOT NULL,
    PRIMARY KEY (session_id, user_id, media)
);
