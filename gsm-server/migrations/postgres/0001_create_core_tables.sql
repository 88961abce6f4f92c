-- The core tables: orgs, API keys, hosts and their join tokens, jobs and their output.
--
-- Conventions (the same in the SQLite schema, so one set of row types reads both):
-- ids are UUIDs; timestamps are BIGINT milliseconds since the Unix epoch; structured values are
-- JSONB; secrets are SHA-256 digests (BYTEA); counts are BIGINT.
-- Hosts are never deleted, only marked: jobs, tokens and the audit trail keep pointing at them.
-- Every table carries its org except job_logs, which reaches it through jobs.

CREATE TABLE orgs (
    id UUID PRIMARY KEY,
    name TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE api_keys (
    key_id TEXT PRIMARY KEY,
    org UUID NOT NULL REFERENCES orgs (id),
    name TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'operator', 'viewer')),
    secret_hash BYTEA NOT NULL CHECK (length(secret_hash) = 32),
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);

CREATE INDEX api_keys_by_org ON api_keys (org);

CREATE TABLE hosts (
    id UUID PRIMARY KEY,
    org UUID NOT NULL REFERENCES orgs (id),
    -- Byte order, whatever the database's collation: list_hosts pages by name, and SQLite
    -- orders the same way.
    name TEXT COLLATE "C" NOT NULL,
    labels JSONB NOT NULL,
    idempotency_key TEXT,
    created_at BIGINT NOT NULL,
    -- Set when an agent redeems a join token; the credential is replaced on re-enrollment.
    enrolled_at BIGINT,
    credential_hash BYTEA CHECK (length(credential_hash) = 32),
    facts JSONB,
    last_heartbeat_at BIGINT,
    last_heartbeat JSONB,
    -- Set when the host is deleted; the credential is cleared at the same moment.
    deleted_at BIGINT,
    -- The target of the (org, host) foreign keys, which keep a job or token in its host's org.
    UNIQUE (org, id)
);

-- A name is unique among an org's live hosts, so a deleted host's name can be used again.
CREATE UNIQUE INDEX hosts_live_name ON hosts (org, name) WHERE deleted_at IS NULL;
CREATE UNIQUE INDEX hosts_idempotency_key ON hosts (org, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
CREATE UNIQUE INDEX hosts_credential_hash ON hosts (credential_hash)
    WHERE credential_hash IS NOT NULL;

CREATE TABLE join_tokens (
    token_hash BYTEA PRIMARY KEY CHECK (length(token_hash) = 32),
    org UUID NOT NULL,
    host UUID NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT,
    FOREIGN KEY (org, host) REFERENCES hosts (org, id)
);

CREATE INDEX join_tokens_by_host ON join_tokens (host);

CREATE TABLE jobs (
    id UUID PRIMARY KEY,
    org UUID NOT NULL,
    host UUID NOT NULL,
    kind JSONB NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('queued', 'dispatched', 'running', 'succeeded',
        'failed', 'timed_out', 'cancelled', 'lost', 'rejected')),
    reason TEXT,
    result JSONB,
    attempt BIGINT NOT NULL CHECK (attempt >= 0),
    timeout_secs BIGINT CHECK (timeout_secs >= 0),
    output_cap_bytes BIGINT CHECK (output_cap_bytes >= 0),
    requested_by JSONB NOT NULL,
    idempotency_key TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    deadline_at BIGINT NOT NULL,
    -- How many chunks the agent said it sent, once the job ended.
    chunks_total BIGINT CHECK (chunks_total >= 0),
    -- How many chunks from seq 0 are stored without a gap: a watermark kept by the store, so
    -- appending a batch only looks at chunks past it.
    chunks_stored BIGINT NOT NULL DEFAULT 0 CHECK (chunks_stored >= 0),
    FOREIGN KEY (org, host) REFERENCES hosts (org, id)
);

CREATE UNIQUE INDEX jobs_idempotency_key ON jobs (org, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
-- list_jobs: an org's jobs, newest first, paged by (created_at, id).
CREATE INDEX jobs_by_org_created ON jobs (org, created_at DESC, id DESC);
-- pending_jobs_for_host, and list_jobs filtered by host.
CREATE INDEX jobs_by_host_state ON jobs (host, state);
-- overdue_jobs.
CREATE INDEX jobs_by_state_deadline ON jobs (state, deadline_at);

CREATE TABLE job_logs (
    job UUID NOT NULL REFERENCES jobs (id),
    seq BIGINT NOT NULL CHECK (seq >= 0),
    stream TEXT NOT NULL CHECK (stream IN ('stdout', 'stderr')),
    data BYTEA NOT NULL,
    PRIMARY KEY (job, seq)
);
