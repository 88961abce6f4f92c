-- The Discord bot: which guild each org linked, which Discord users are which org members, and
-- the one-time codes `/link` hands out.
--
-- Same conventions as 0001 (UUID BLOBs, INTEGER milliseconds, STRICT tables). SQL both backends
-- read alike (see store/discord.rs): one implementation. Discord ids (snowflakes) are kept as
-- decimal text, as Discord's own API spells them.

-- A guild belongs to one org and an org has one guild: both keys are unique.
CREATE TABLE discord_guilds (
    guild_id TEXT PRIMARY KEY NOT NULL,
    org BLOB NOT NULL UNIQUE REFERENCES orgs (id),
    linked_at INTEGER NOT NULL
) STRICT;

-- A Discord user acts in an org as one member, and a member has one Discord account per org.
CREATE TABLE discord_members (
    org BLOB NOT NULL REFERENCES orgs (id),
    discord_user TEXT NOT NULL,
    user_id BLOB NOT NULL REFERENCES users (id),
    discord_name TEXT NOT NULL,
    linked_at INTEGER NOT NULL,
    PRIMARY KEY (org, discord_user),
    UNIQUE (org, user_id)
) STRICT;

-- Codes are stored only as SHA-256 hashes, work once and expire within minutes.
CREATE TABLE discord_link_codes (
    code_hash BLOB PRIMARY KEY NOT NULL CHECK (length(code_hash) = 32),
    org BLOB NOT NULL REFERENCES orgs (id),
    discord_user TEXT NOT NULL,
    discord_name TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) STRICT;

CREATE INDEX discord_link_codes_by_org ON discord_link_codes (org, discord_user);
