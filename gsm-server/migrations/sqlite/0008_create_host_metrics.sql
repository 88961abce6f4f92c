-- A host's heartbeat metrics, one row per host and minute, kept seven days.
--
-- Same conventions as 0001. The heartbeat flush folds each stored heartbeat into its minute's
-- row in the transaction that updates the host's latest heartbeat: sums and counts for averages,
-- maxima, and the last reading of slow-moving figures (memory and disk sizes). A background sweep
-- deletes rows older than seven days in bounded batches, by the `minute` index.

CREATE TABLE host_metrics (
    org BLOB NOT NULL,
    host BLOB NOT NULL,
    -- The minute's start, in milliseconds since the Unix epoch (a multiple of 60,000).
    minute INTEGER NOT NULL CHECK (minute % 60000 = 0),
    samples INTEGER NOT NULL CHECK (samples > 0),
    -- The 1-minute load average: sum and count of the heartbeats that carried one, and the most.
    load_sum REAL NOT NULL,
    load_count INTEGER NOT NULL CHECK (load_count >= 0),
    load_max REAL,
    memory_used_max INTEGER CHECK (memory_used_max >= 0),
    memory_total INTEGER CHECK (memory_total >= 0),
    -- The fullest file system (by share used) of the minute's last heartbeat.
    disk_used INTEGER CHECK (disk_used >= 0),
    disk_total INTEGER CHECK (disk_total >= 0),
    players_max INTEGER NOT NULL CHECK (players_max >= 0),
    PRIMARY KEY (host, minute),
    FOREIGN KEY (org, host) REFERENCES hosts (org, id)
) STRICT;

-- The age sweep.
CREATE INDEX host_metrics_by_minute ON host_metrics (minute);
