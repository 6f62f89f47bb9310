-- The FAQ and the human support relay.

-- An entry: one answer per language, several phrasings, a scope (one chat, or every chat of
-- this bot when chat_id is NULL). Deleting is soft, so /faq_del can be undone.
CREATE TABLE faq_entries (
    id          INTEGER PRIMARY KEY,
    chat_id     INTEGER,                  -- NULL: all chats
    language    TEXT NOT NULL,            -- the entry's own language; answers may add others
    created_by  INTEGER,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    deleted_at  INTEGER,
    up          INTEGER NOT NULL DEFAULT 0,
    down        INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX faq_entries_scope ON faq_entries(chat_id);

CREATE TABLE faq_phrasings (
    id        INTEGER PRIMARY KEY,
    entry_id  INTEGER NOT NULL REFERENCES faq_entries(id) ON DELETE CASCADE,
    language  TEXT NOT NULL,
    text      TEXT NOT NULL
);
CREATE INDEX faq_phrasings_entry ON faq_phrasings(entry_id);

-- The answer in one language: HTML text, or a message to copy (media answers).
CREATE TABLE faq_answers (
    entry_id          INTEGER NOT NULL REFERENCES faq_entries(id) ON DELETE CASCADE,
    language          TEXT NOT NULL,
    text              TEXT NOT NULL DEFAULT '',
    source_chat_id    INTEGER,
    source_message_id INTEGER,
    PRIMARY KEY (entry_id, language)
);

-- One vote per member and entry; the counters on faq_entries follow it.
CREATE TABLE faq_votes (
    entry_id INTEGER NOT NULL REFERENCES faq_entries(id) ON DELETE CASCADE,
    user_id  INTEGER NOT NULL,
    vote     INTEGER NOT NULL,           -- +1 or -1
    PRIMARY KEY (entry_id, user_id)
);

-- The last answer of an entry in a chat and language, for the cool-down (a link instead of a
-- repeat; a link to an answer in another language would not help).
CREATE TABLE faq_last_answers (
    chat_id     INTEGER NOT NULL,
    entry_id    INTEGER NOT NULL,
    language    TEXT NOT NULL,
    message_id  INTEGER NOT NULL,
    answered_at INTEGER NOT NULL,
    PRIMARY KEY (chat_id, entry_id, language)
);

-- Support relay: where a chat's unanswered questions go (else SUPPORT_CHAT_ID).
CREATE TABLE support_routes (
    chat_id         INTEGER PRIMARY KEY,
    support_chat_id INTEGER NOT NULL
);

-- A question relayed to staff; the staff chat's copy is how a reply finds its way back.
CREATE TABLE support_tickets (
    id                  INTEGER PRIMARY KEY,
    member_id           INTEGER NOT NULL,
    member_name         TEXT,
    language            TEXT,
    chat_id             INTEGER NOT NULL,   -- where it was asked (the member's id for private)
    question_message_id INTEGER NOT NULL,
    question            TEXT NOT NULL DEFAULT '',
    support_chat_id     INTEGER NOT NULL,
    relay_message_id    INTEGER,
    created_at          INTEGER NOT NULL,
    answered_by         INTEGER,
    answered_at         INTEGER,
    answer_chat_id      INTEGER,
    answer_message_id   INTEGER,
    answer_text         TEXT,
    faq_entry_id        INTEGER            -- set once "Add to FAQ" stored it
);
CREATE UNIQUE INDEX support_tickets_relay ON support_tickets(support_chat_id, relay_message_id);

CREATE TABLE support_blocks (
    user_id    INTEGER PRIMARY KEY,
    blocked_by INTEGER,
    blocked_at INTEGER NOT NULL
);
