-- PostgreSQL twin of ../0001_initial.sql: the same tables, columns and indexes. Integers are
-- BIGINT (Telegram ids exceed 32 bits), REAL is DOUBLE PRECISION, ids are identity columns.
-- Chats and users the bot has seen. Times are UTC ISO-8601 strings.
CREATE TABLE chats (
    chat_id     BIGINT PRIMARY KEY,
    type        TEXT NOT NULL,            -- private | group | supergroup | channel
    title       TEXT,
    username    TEXT,
    language    TEXT,                     -- the chat's default language (NULL: bot default)
    bot_status  TEXT,                     -- the bot's own membership status in the chat
    first_seen  TEXT NOT NULL DEFAULT (to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')),
    updated_at  TEXT NOT NULL DEFAULT (to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'))
);

CREATE TABLE users (
    user_id        BIGINT PRIMARY KEY,
    username       TEXT,
    first_name     TEXT NOT NULL DEFAULT '',
    language_code  TEXT,
    started_bot    BIGINT NOT NULL DEFAULT 0,   -- 1 once the user sent /start in private
    first_seen     TEXT NOT NULL DEFAULT (to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')),
    updated_at     TEXT NOT NULL DEFAULT (to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'))
);
CREATE INDEX users_username ON users(lower(username));
