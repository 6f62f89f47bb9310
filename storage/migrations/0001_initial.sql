-- Chats and users the bot has seen. Times are UTC ISO-8601 strings.
CREATE TABLE chats (
    chat_id     INTEGER PRIMARY KEY,
    type        TEXT NOT NULL,            -- private | group | supergroup | channel
    title       TEXT,
    username    TEXT,
    language    TEXT,                     -- the chat's default language (NULL: bot default)
    bot_status  TEXT,                     -- the bot's own membership status in the chat
    first_seen  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ','now')),
    updated_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ','now'))
);

CREATE TABLE users (
    user_id        INTEGER PRIMARY KEY,
    username       TEXT,
    first_name     TEXT NOT NULL DEFAULT '',
    language_code  TEXT,
    started_bot    INTEGER NOT NULL DEFAULT 0,   -- 1 once the user sent /start in private
    first_seen     TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ','now')),
    updated_at     TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ','now'))
);
CREATE INDEX users_username ON users(lower(username));
