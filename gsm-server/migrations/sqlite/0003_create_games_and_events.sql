-- Game servers per host, the events agents parse from their logs, and the players they saw.
--
-- Same conventions as 0001 (UUID BLOBs, INTEGER milliseconds, JSON text, STRICT tables).
-- These tables use SQL both backends read alike (see store/games.rs): one implementation.
-- A game's settings name where its console password is read on the agent's host, never the
-- password itself.

CREATE TABLE games (
    org BLOB NOT NULL,
    host BLOB NOT NULL,
    name TEXT NOT NULL,
    game TEXT NOT NULL,
    settings TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (host, name),
    FOREIGN KEY (org, host) REFERENCES hosts (org, id)
) STRICT;

CREATE TABLE game_events (
    -- Chosen by the agent (a v7 UUID, so ids order events by time); a re-sent event is ignored.
    id BLOB NOT NULL,
    org BLOB NOT NULL,
    host BLOB NOT NULL,
    instance TEXT NOT NULL,
    game TEXT NOT NULL,
    kind TEXT NOT NULL,
    player_id TEXT,
    player_name TEXT,
    at INTEGER NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (host, id),
    FOREIGN KEY (org, host) REFERENCES hosts (org, id)
) STRICT;

-- list_game_events: an org's events, newest first, paged by id; and filtered by host.
CREATE INDEX game_events_by_org ON game_events (org, id DESC);
CREATE INDEX game_events_by_org_host ON game_events (org, host, id DESC);

CREATE TABLE game_players (
    org BLOB NOT NULL,
    host BLOB NOT NULL,
    instance TEXT NOT NULL,
    player_id TEXT NOT NULL,
    name TEXT NOT NULL,
    online INTEGER NOT NULL CHECK (online IN (0, 1)),
    first_seen_at INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    PRIMARY KEY (host, instance, player_id),
    FOREIGN KEY (org, host) REFERENCES hosts (org, id)
) STRICT;
