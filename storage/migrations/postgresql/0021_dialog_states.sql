-- PostgreSQL twin of ../0021_dialog_states.sql: the same tables, columns and indexes. Integers are
-- BIGINT (Telegram ids exceed 32 bits), REAL is DOUBLE PRECISION, ids are identity columns.
-- What the bot waits for a person to type (aiogram's FSM state and data, e.g. the new time after
-- /queue's Reschedule), one row per dialogue key, so a restart of a single-process bot keeps the
-- question it asked instead of reading the answer as something else. A row goes when its
-- dialogue ends (no state, no data). With REDIS_URL the shared Redis keeps them instead.
CREATE TABLE dialog_states (
    fsm_key    TEXT PRIMARY KEY,
    state      TEXT,
    data       TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);
