-- Composing posts with buttons, posting slots, and what happens after publishing.

-- A post being composed in the manager's private chat. Kept in the database rather than in
-- memory so that a restart mid-composition loses nothing.
CREATE TABLE drafts (
    id                 INTEGER PRIMARY KEY,
    manager_id         INTEGER NOT NULL,
    source_chat_id     INTEGER NOT NULL,
    source_message_ids TEXT NOT NULL,            -- JSON list: one message, or an album
    summary            TEXT NOT NULL DEFAULT '', -- JSON {"kind","preview","count"} for the panel
    panel_message_id   INTEGER,
    channels           TEXT NOT NULL DEFAULT '[]', -- JSON list of chat ids
    due_at             INTEGER,                  -- UTC seconds, NULL until a time is chosen
    time_choice        TEXT,                     -- which preset chose it, for the panel
    silent             INTEGER NOT NULL DEFAULT 0,
    pin                INTEGER NOT NULL DEFAULT 0,
    delete_after_hours INTEGER,
    buttons            TEXT,                     -- JSON [[{"text","url"}]]
    created_at         INTEGER NOT NULL
);

-- Posting slots: local times of day, per channel, or for every channel (channel_id 0).
CREATE TABLE slots (
    channel_id INTEGER PRIMARY KEY,
    times      TEXT NOT NULL                      -- "09:00,13:00,19:00"
);

-- A button row cannot ride on an album; it goes out as a follow-up message instead.
ALTER TABLE posts ADD COLUMN followup_ids TEXT;  -- JSON list of follow-up message ids
ALTER TABLE posts ADD COLUMN deleted_at INTEGER; -- when delete-after removed the post
