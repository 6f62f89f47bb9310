-- PostgreSQL twin of ../0016_leases.sql: the same tables, columns and indexes. Integers are
-- BIGINT (Telegram ids exceed 32 bits), REAL is DOUBLE PRECISION, ids are identity columns.
-- Several workers on one database: who does what, for how long.
--
-- `leases` holds one row per singleton duty (the log outbox's sender, the solo worker without
-- Redis): a worker holds it while `expires_at` (unix seconds) is ahead and renews it; another may
-- take it once it has run out. `job_runs` records each occurrence of a timed job (a digest, a
-- prune) claimed by one worker, so the others skip it. Posts and giveaways being sent carry the
-- lease of the worker that claimed them, so a worker's restart does not take another live
-- worker's post for an interrupted one.

CREATE TABLE leases (
    name        TEXT PRIMARY KEY,
    holder      TEXT NOT NULL,
    expires_at  BIGINT NOT NULL
);

CREATE TABLE job_runs (
    name        TEXT NOT NULL,
    occurrence  TEXT NOT NULL,                 -- the scheduled fire time, ISO-8601 UTC
    worker      TEXT NOT NULL,
    claimed_at  BIGINT NOT NULL,
    PRIMARY KEY (name, occurrence)
);

ALTER TABLE posts ADD COLUMN lease_until BIGINT;
ALTER TABLE giveaways ADD COLUMN lease_until BIGINT;
