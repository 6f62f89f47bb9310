-- Scheduled posts. The posts table is the single source of truth; timers only wake the bot.

CREATE TABLE channels (
    chat_id     INTEGER PRIMARY KEY,
    title       TEXT,
    username    TEXT,
    can_post    INTEGER NOT NULL DEFAULT 0,
    can_edit    INTEGER NOT NULL DEFAULT 0,
    can_delete  INTEGER NOT NULL DEFAULT 0,
    can_pin     INTEGER NOT NULL DEFAULT 0,
    updated_at  INTEGER NOT NULL
);

CREATE TABLE posts (
    id                 INTEGER PRIMARY KEY,
    channel_id         INTEGER NOT NULL,
    source_chat_id     INTEGER NOT NULL,          -- the manager's private chat
    source_message_ids TEXT NOT NULL,             -- JSON list: one message, or an album
    due_at             INTEGER NOT NULL,          -- UTC seconds
    status             TEXT NOT NULL DEFAULT 'scheduled',
        -- scheduled | publishing | published | failed | cancelled | needs_decision
    attempts           INTEGER NOT NULL DEFAULT 0,
    silent             INTEGER NOT NULL DEFAULT 0,
    pin                INTEGER NOT NULL DEFAULT 0,
    delete_after_hours INTEGER,
    buttons            TEXT,                      -- JSON [[{"text","url"}]]
    recurrence         TEXT,
    created_by         INTEGER,
    created_at         INTEGER NOT NULL,
    published_at       INTEGER,
    published_ids      TEXT,                      -- JSON list of channel message ids
    error              TEXT
);
CREATE INDEX posts_due ON posts(status, due_at);
