-- Game servers per host, the events agents parse from their logs, and the players they saw.
--
-- Same conventions as 0001 (UUIDs, BIGINT milliseconds, JSONB).
-- These tables use SQL both backends read alike (see store/games.rs): one implementation.
-- A game's settings name where its console password is read on the agent's host, never the
-- password itself.

CREATE TABLE games (
    org UUID NOT NULL,
    host UUID NOT NULL,
    name TEXT COLLATE "C" NOT NULL,
    game TEXT NOT NULL,
    settings JSONB NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (host, name),
    FOREIGN KEY (org, host) REFERENCES hosts (org, id)
);

CREATE TABLE game_events (
    -- Chosen by the agent (a v7 UUID, so ids order events by time); a re-sent event is ignored.
    id UUID NOT NULL,
    org UUID NOT NULL,
    host UUID NOT NULL,
    instance TEXT NOT NULL,
    game TEXT NOT NULL,
    kind TEXT NOT NULL,
    player_id TEXT,
    player_name TEXT,
    at BIGINT NOT NULL,
    data JSONB NOT NULL,
    PRIMARY KEY (host, id),
    FOREIGN KEY (org, host) REFERENCES hosts (org, id)
);

-- list_game_events: an org's events, newest first, paged by id; and filtered by host.
CREATE INDEX game_events_by_org ON game_events (org, id DESC);
CREATE INDEX game_events_by_org_host ON game_events (org, host, id DESC);

CREATE TABLE game_players (
    org UUID NOT NULL,
    host UUID NOT NULL,
    instance TEXT COLLATE "C" NOT NULL,
    player_id TEXT COLLATE "C" NOT NULL,
    name TEXT NOT NULL,
    online BOOLEAN NOT NULL,
    first_seen_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    PRIMARY KEY (host, instance, player_id),
    FOREIGN KEY (org, host) REFERENCES hosts (org, id)
);
