-- Favourites (docs/RITUAL.md, "Favourites"): the people each person likes to
-- focus with. Their sessions come first on the home page, and scheduling one
-- notifies everyone who keeps them (a 'favourite_scheduled' notification).
-- At most 500 a person, decided on the marker's locked user row.
CREATE TABLE favourites (
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE, -- who keeps the favourite
    favourite_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE, -- whom they marked
    created_at   BIGINT NOT NULL,
    PRIMARY KEY (user_id, favourite_id)
);
-- Who keeps a person: read when that person schedules a session, and by the
-- home page's "With your favourites" through the sessions they are in.
CREATE INDEX favourites_kept_by ON favourites (favourite_id, user_id);
