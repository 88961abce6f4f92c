-- Cron schedules and the history of their fires.
--
-- Same conventions as 0001 (UUIDs, BIGINT milliseconds, JSONB).
-- These tables use SQL both backends read alike (see store/schedules.rs): one implementation.
-- A fire is claimed by inserting its (schedule, due_at) row in the transaction that moves the
-- schedule's next_fire_at on with a compare-and-set: the primary key and the compare-and-set
-- are what make a due time fire once across server replicas.

CREATE TABLE schedules (
    id UUID PRIMARY KEY,
    org UUID NOT NULL REFERENCES orgs (id),
    name TEXT COLLATE "C" NOT NULL,
    cron TEXT NOT NULL,
    timezone TEXT NOT NULL,
    -- The job template (kind, hosts, limits) and the fire-time conditions, as gsm-proto types.
    template JSONB NOT NULL,
    conditions JSONB NOT NULL,
    concurrency_policy TEXT NOT NULL,
    starting_deadline_secs BIGINT,
    history_limit BIGINT NOT NULL,
    suspend BOOLEAN NOT NULL,
    -- The next due time not yet claimed; NULL only past the year 5000.
    next_fire_at BIGINT,
    last_fire_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (org, name)
);

-- due_schedules: the scheduler's poll.
CREATE INDEX schedules_due ON schedules (next_fire_at) WHERE NOT suspend;

CREATE TABLE schedule_fires (
    schedule UUID NOT NULL REFERENCES schedules (id) ON DELETE CASCADE,
    org UUID NOT NULL,
    due_at BIGINT NOT NULL,
    claimed_at BIGINT NOT NULL,
    -- claimed (jobs being created), started, skipped or missed.
    outcome TEXT NOT NULL,
    reason TEXT,
    jobs JSONB NOT NULL,
    PRIMARY KEY (schedule, due_at)
);
