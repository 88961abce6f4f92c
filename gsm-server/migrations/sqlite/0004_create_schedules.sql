-- Cron schedules and the history of their fires.
--
-- Same conventions as 0001 (UUID BLOBs, INTEGER milliseconds, JSON text, STRICT tables).
-- These tables use SQL both backends read alike (see store/schedules.rs): one implementation.
-- A fire is claimed by inserting its (schedule, due_at) row in the transaction that moves the
-- schedule's next_fire_at on with a compare-and-set: the primary key and the compare-and-set
-- are what make a due time fire once across server replicas.

CREATE TABLE schedules (
    id BLOB PRIMARY KEY,
    org BLOB NOT NULL REFERENCES orgs (id),
    name TEXT NOT NULL,
    cron TEXT NOT NULL,
    timezone TEXT NOT NULL,
    -- The job template (kind, hosts, limits) and the fire-time conditions, as gsm-proto types.
    template TEXT NOT NULL,
    conditions TEXT NOT NULL,
    concurrency_policy TEXT NOT NULL,
    starting_deadline_secs INTEGER,
    history_limit INTEGER NOT NULL,
    suspend INTEGER NOT NULL CHECK (suspend IN (0, 1)),
    -- The next due time not yet claimed; NULL only past the year 5000.
    next_fire_at INTEGER,
    last_fire_at INTEGER,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    UNIQUE (org, name)
) STRICT;

-- due_schedules: the scheduler's poll.
CREATE INDEX schedules_due ON schedules (next_fire_at) WHERE NOT suspend;

CREATE TABLE schedule_fires (
    schedule BLOB NOT NULL REFERENCES schedules (id) ON DELETE CASCADE,
    org BLOB NOT NULL,
    due_at INTEGER NOT NULL,
    claimed_at INTEGER NOT NULL,
    -- claimed (jobs being created), started, skipped or missed.
    outcome TEXT NOT NULL,
    reason TEXT,
    jobs TEXT NOT NULL,
    PRIMARY KEY (schedule, due_at)
) STRICT;
