-- Users, their org memberships and login sessions; invites; richer API keys; the audit log.
--
-- Same conventions as 0001 (UUIDs, BIGINT milliseconds, SHA-256 digests as BYTEA).
-- Users are never deleted, only marked, so sessions, keys and the audit trail keep pointing at
-- them; an email is unique (case-insensitively, through `email_key`) among live users.

-- Orgs are deleted by marking them: their rows stay for the audit trail, and every credential
-- of the org stops working at once.
ALTER TABLE orgs ADD COLUMN deleted_at BIGINT;

CREATE TABLE users (
    id UUID PRIMARY KEY,
    email TEXT NOT NULL,
    -- The email lowercased: the uniqueness and lookup key.
    email_key TEXT NOT NULL,
    display_name TEXT NOT NULL,
    -- An argon2id PHC string.
    password_hash TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    deleted_at BIGINT
);

CREATE UNIQUE INDEX users_live_email ON users (email_key) WHERE deleted_at IS NULL;

CREATE TABLE memberships (
    org UUID NOT NULL REFERENCES orgs (id),
    user_id UUID NOT NULL REFERENCES users (id),
    role TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'operator', 'viewer')),
    created_at BIGINT NOT NULL,
    PRIMARY KEY (org, user_id)
);

CREATE INDEX memberships_by_user ON memberships (user_id);

-- One row per login; its id is the access token's `sid`. A session is one refresh-token family.
CREATE TABLE sessions (
    id UUID PRIMARY KEY,
    user_id UUID NOT NULL REFERENCES users (id),
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT
);

CREATE INDEX sessions_by_user ON sessions (user_id);

-- Every refresh token a session was given; a used one presented again revokes the session.
CREATE TABLE refresh_tokens (
    token_hash BYTEA PRIMARY KEY CHECK (length(token_hash) = 32),
    session UUID NOT NULL REFERENCES sessions (id),
    created_at BIGINT NOT NULL,
    used_at BIGINT
);

CREATE INDEX refresh_tokens_by_session ON refresh_tokens (session);

ALTER TABLE api_keys ADD COLUMN created_by UUID REFERENCES users (id);
ALTER TABLE api_keys ADD COLUMN expires_at BIGINT;
ALTER TABLE api_keys ADD COLUMN last_used_at BIGINT;

CREATE TABLE invites (
    id UUID PRIMARY KEY,
    org UUID NOT NULL REFERENCES orgs (id),
    email TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'operator', 'viewer')),
    token_hash BYTEA NOT NULL UNIQUE CHECK (length(token_hash) = 32),
    created_by UUID REFERENCES users (id),
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    accepted_at BIGINT,
    accepted_by UUID REFERENCES users (id),
    revoked_at BIGINT
);

CREATE INDEX invites_by_org ON invites (org, created_at);

-- Written in the same transaction as the change it records.
CREATE TABLE audit_log (
    id UUID PRIMARY KEY,
    org UUID NOT NULL REFERENCES orgs (id),
    at BIGINT NOT NULL,
    actor_kind TEXT NOT NULL,
    actor_id TEXT NOT NULL,
    action TEXT NOT NULL,
    target_kind TEXT NOT NULL,
    target_id TEXT NOT NULL,
    client_ip TEXT,
    outcome TEXT NOT NULL
);

-- GET …/audit: an org's entries, newest first, paged by id (time-ordered v7 UUIDs).
CREATE INDEX audit_log_by_org ON audit_log (org, id DESC);
