-- Alert rules, the alerts they raised, the delivery outbox, in-app notifications, Discord
-- webhooks and org settings.
--
-- Same conventions as 0001 (UUIDs, BIGINT milliseconds, JSONB).
-- These tables use SQL both backends read alike (see store/alerts.rs): one implementation.
-- A rule's matching spec is one JSON document (the REST body, validated by the server): the
-- store never filters on its fields, and new optional fields need no migration.
-- Numbered 0005: 0004 belongs to schedules, built in parallel; sqlx applies any version it has
-- not applied yet, so the gap is harmless in either merge order.

CREATE TABLE alert_rules (
    id UUID PRIMARY KEY NOT NULL,
    org UUID NOT NULL REFERENCES orgs (id),
    name TEXT COLLATE "C" NOT NULL,
    spec JSONB NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (org, name)
);

CREATE TABLE alerts (
    -- v7: ids order alerts by time, the list's cursor.
    id UUID PRIMARY KEY NOT NULL,
    org UUID NOT NULL REFERENCES orgs (id),
    rule UUID NOT NULL,
    rule_name TEXT COLLATE "C" NOT NULL,
    -- The subject as one key (`<host>/<game>`, parts empty when absent), so uniqueness holds
    -- without NULL semantics.
    subject TEXT NOT NULL,
    host UUID,
    game TEXT,
    kind TEXT NOT NULL,
    severity TEXT NOT NULL CHECK (severity IN ('info', 'warning', 'critical')),
    message TEXT NOT NULL,
    -- `open` until resolved; `fired` for one-shot alerts (nothing resolves them).
    status TEXT NOT NULL CHECK (status IN ('open', 'resolved', 'fired')),
    raised_at BIGINT NOT NULL,
    resolved_at BIGINT
);

CREATE INDEX alerts_by_org ON alerts (org, id DESC);
-- One open alert per rule and subject: a second raise conflicts instead of duplicating.
CREATE UNIQUE INDEX alerts_open ON alerts (rule, subject) WHERE status = 'open';

-- Deliveries not yet done: one row per alert change and channel, written in the alert's
-- transaction, deleted never (delivered rows keep their outcome).
CREATE TABLE alert_outbox (
    id UUID PRIMARY KEY NOT NULL,
    org UUID NOT NULL REFERENCES orgs (id),
    alert UUID NOT NULL REFERENCES alerts (id),
    -- `raised` or `resolved`.
    change TEXT NOT NULL CHECK (change IN ('raised', 'resolved')),
    -- `in_app` or `discord:<webhook name>`.
    channel TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts BIGINT NOT NULL,
    next_at BIGINT NOT NULL,
    last_error TEXT,
    created_at BIGINT NOT NULL,
    done_at BIGINT
);

CREATE INDEX alert_outbox_due ON alert_outbox (next_at) WHERE state = 'pending';

CREATE TABLE notifications (
    id UUID PRIMARY KEY NOT NULL,
    org UUID NOT NULL REFERENCES orgs (id),
    alert UUID NOT NULL REFERENCES alerts (id),
    -- The outbox row it delivers: a retried delivery inserts nothing twice.
    outbox UUID NOT NULL UNIQUE,
    change TEXT NOT NULL,
    severity TEXT NOT NULL,
    title TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    read_at BIGINT
);

CREATE INDEX notifications_by_org ON notifications (org, id DESC);

CREATE TABLE discord_webhooks (
    org UUID NOT NULL REFERENCES orgs (id),
    name TEXT COLLATE "C" NOT NULL,
    -- A secret: never returned whole, never logged.
    url TEXT NOT NULL,
    -- Set when Discord refused a delivery for good (a 4xx other than 429).
    broken_reason TEXT,
    broken_at BIGINT,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (org, name)
);

CREATE TABLE org_settings (
    org UUID PRIMARY KEY NOT NULL REFERENCES orgs (id),
    -- The channels a rule without its own list delivers to (JSON array).
    default_channels JSONB NOT NULL,
    updated_at BIGINT NOT NULL
);
