-- The Discord bot: which guild each org linked, which Discord users are which org members, and
-- the one-time codes `/link` hands out.
--
-- Same conventions as 0001 (UUIDs, BIGINT milliseconds, BYTEA hashes). SQL both backends read
-- alike (see store/discord.rs): one implementation. Discord ids (snowflakes) are kept as decimal
-- text, as Discord's own API spells them.

-- A guild belongs to one org and an org has one guild: both keys are unique.
CREATE TABLE discord_guilds (
    guild_id TEXT COLLATE "C" PRIMARY KEY,
    org UUID NOT NULL UNIQUE REFERENCES orgs (id),
    linked_at BIGINT NOT NULL
);

-- A Discord user acts in an org as one member, and a member has one Discord account per org.
CREATE TABLE discord_members (
    org UUID NOT NULL REFERENCES orgs (id),
    discord_user TEXT COLLATE "C" NOT NULL,
    user_id UUID NOT NULL REFERENCES users (id),
    discord_name TEXT NOT NULL,
    linked_at BIGINT NOT NULL,
    PRIMARY KEY (org, discord_user),
    UNIQUE (org, user_id)
);

-- Codes are stored only as SHA-256 hashes, work once and expire within minutes.
CREATE TABLE discord_link_codes (
    code_hash BYTEA PRIMARY KEY CHECK (length(code_hash) = 32),
    org UUID NOT NULL REFERENCES orgs (id),
    discord_user TEXT NOT NULL,
    discord_name TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);

CREATE INDEX discord_link_codes_by_org ON discord_link_codes (org, discord_user);
