-- Reputation watch: complaints sent to the support chat, staff lessons, watched terms and the
-- mentions they found, each chat's daily mood, and the alerts already sent.

CREATE TABLE complaints (
    id              INTEGER PRIMARY KEY,
    chat_id         INTEGER NOT NULL,
    message_id      INTEGER NOT NULL,
    user_id         INTEGER NOT NULL,
    text            TEXT NOT NULL,
    probability     REAL NOT NULL,
    ticket_id       INTEGER,                       -- support_tickets.id, NULL without a support chat
    created_at      INTEGER NOT NULL,
    day             TEXT NOT NULL,                 -- YYYY-MM-DD in TIMEZONE
    dismissed_by    INTEGER,                       -- staff pressed "not a complaint"
    dismissed_at    INTEGER
);
CREATE INDEX complaints_chat_day ON complaints(chat_id, day);
CREATE UNIQUE INDEX complaints_ticket ON complaints(ticket_id);

CREATE TABLE complaint_lessons (
    id           INTEGER PRIMARY KEY,
    text         TEXT NOT NULL,
    is_complaint INTEGER NOT NULL,
    taught_by    INTEGER,
    taught_at    INTEGER NOT NULL
);

CREATE TABLE watches (
    id          INTEGER PRIMARY KEY,
    term        TEXT NOT NULL,
    chat_id     INTEGER,                           -- NULL: every chat Steward is in
    created_by  INTEGER NOT NULL,
    created_at  INTEGER NOT NULL
);

CREATE TABLE mentions (
    id          INTEGER PRIMARY KEY,
    watch_id    INTEGER NOT NULL,                  -- kept when the watch is removed
    term        TEXT NOT NULL,
    chat_id     INTEGER NOT NULL,
    message_id  INTEGER NOT NULL,
    user_id     INTEGER,
    user_name   TEXT,
    text        TEXT NOT NULL,
    complaint   INTEGER NOT NULL DEFAULT 0,
    at          INTEGER NOT NULL,
    reported_at INTEGER                            -- in a mentions digest
);
CREATE INDEX mentions_unreported ON mentions(reported_at, at);

-- Messages seen and complaints among them, per chat and local day.
CREATE TABLE mood_daily (
    chat_id   INTEGER NOT NULL,
    day       TEXT NOT NULL,
    messages  INTEGER NOT NULL DEFAULT 0,
    negative  INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (chat_id, day)
) WITHOUT ROWID;

-- 👎 reactions per message, one row per person (message_reaction updates).
CREATE TABLE message_dislikes (
    chat_id    INTEGER NOT NULL,
    message_id INTEGER NOT NULL,
    user_id    INTEGER NOT NULL,
    PRIMARY KEY (chat_id, message_id, user_id)
) WITHOUT ROWID;

-- Alerts sent, so each goes out once: kind "spike" per chat-day (message_id 0), "dislikes"
-- per message.
CREATE TABLE reputation_alerts (
    chat_id    INTEGER NOT NULL,
    day        TEXT NOT NULL,
    kind       TEXT NOT NULL,
    message_id INTEGER NOT NULL DEFAULT 0,
    sent_at    INTEGER NOT NULL,
    PRIMARY KEY (chat_id, kind, day, message_id)
) WITHOUT ROWID;
