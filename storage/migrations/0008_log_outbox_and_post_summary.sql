-- The durable outbox of the moderation log: what still has to be posted to a log chat.
-- One background worker posts the entries of each log chat in order (priority first, then id);
-- an entry stored before a stop is posted after the next start. The audit row (mod_actions)
-- stays the source of truth: an action entry is rendered from it when it is posted.
CREATE TABLE log_outbox (
    id          INTEGER PRIMARY KEY,
    chat_id     INTEGER NOT NULL,                 -- the log chat, resolved when queued
    kind        TEXT NOT NULL,                    -- action | report
    action_id   INTEGER,                          -- kind=action: mod_actions.id
    payload     TEXT,                             -- kind=report: JSON text and buttons
    priority    INTEGER NOT NULL DEFAULT 0,       -- higher first (reports before log entries)
    state       TEXT NOT NULL DEFAULT 'pending',  -- pending | sending | sent | failed
    attempts    INTEGER NOT NULL DEFAULT 0,
    maybe_sent  INTEGER NOT NULL DEFAULT 0,       -- a request of an earlier run may have arrived
    created_at  INTEGER NOT NULL,                 -- unix seconds (UTC)
    sent_at     INTEGER,
    message_id  INTEGER,
    error       TEXT
);
CREATE INDEX log_outbox_due ON log_outbox(state, chat_id, priority DESC, id);

-- Who undid an action, by name, so an entry posted after the undo can say so.
ALTER TABLE mod_actions ADD COLUMN undone_by_name TEXT;

-- What a queued post is (kind, text or caption, album size), kept when it is queued or edited:
-- the post is copied from the manager's messages at publishing time, and the Bot API cannot read
-- a message back by id, so /queue could not otherwise say which post is which.
ALTER TABLE posts ADD COLUMN summary TEXT;  -- JSON {"kind","text","count"}
