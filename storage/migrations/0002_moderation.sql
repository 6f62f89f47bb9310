-- Moderation: per-chat settings, warns, approvals, blocklist, audit log, learned spam tokens.

CREATE TABLE chat_settings (
    chat_id              INTEGER PRIMARY KEY,
    rules                TEXT,
    log_chat_id          INTEGER,                    -- NULL: LOG_CHAT_ID from the settings
    warn_limit           INTEGER NOT NULL DEFAULT 3,
    warn_action          TEXT NOT NULL DEFAULT 'mute',   -- mute | ban | kick
    warn_action_seconds  INTEGER DEFAULT 86400,      -- NULL: permanent
    warn_expiry_seconds  INTEGER NOT NULL DEFAULT 2592000,
    spam_mode            TEXT NOT NULL DEFAULT 'enforce', -- off | log | enforce
    spam_action          TEXT NOT NULL DEFAULT 'ban',     -- ban | mute
    new_member_messages  INTEGER NOT NULL DEFAULT 3,
    flood_mode           TEXT NOT NULL DEFAULT 'enforce',
    flood_count          INTEGER NOT NULL DEFAULT 5,
    flood_seconds        INTEGER NOT NULL DEFAULT 10,
    flood_mute_seconds   INTEGER NOT NULL DEFAULT 600,
    blocklist_mode       TEXT NOT NULL DEFAULT 'enforce',
    blocklist_warn       INTEGER NOT NULL DEFAULT 0,
    language_mode        TEXT NOT NULL DEFAULT 'off',
    languages            TEXT,                       -- comma-separated, e.g. "en,nl"
    captcha_mode         TEXT NOT NULL DEFAULT 'off',
    captcha_seconds      INTEGER NOT NULL DEFAULT 120,
    updated_at           TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ','now'))
);

CREATE TABLE warns (
    id          INTEGER PRIMARY KEY,
    chat_id     INTEGER NOT NULL,
    user_id     INTEGER NOT NULL,
    actor_id    INTEGER,
    reason      TEXT,
    created_at  INTEGER NOT NULL,                    -- unix seconds (UTC)
    expires_at  INTEGER NOT NULL,
    removed_at  INTEGER
);
CREATE INDEX warns_active ON warns(chat_id, user_id, removed_at, expires_at);

CREATE TABLE approvals (
    chat_id     INTEGER NOT NULL,
    user_id     INTEGER NOT NULL,
    actor_id    INTEGER,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (chat_id, user_id)
);

CREATE TABLE filters (
    id          INTEGER PRIMARY KEY,
    chat_id     INTEGER NOT NULL,
    pattern     TEXT NOT NULL,
    is_regex    INTEGER NOT NULL DEFAULT 0,
    actor_id    INTEGER,
    created_at  INTEGER NOT NULL,
    UNIQUE (chat_id, pattern, is_regex)
);

-- The audit log: every action, manual or automatic.
CREATE TABLE mod_actions (
    id              INTEGER PRIMARY KEY,
    chat_id         INTEGER NOT NULL,
    actor_id        INTEGER,                 -- NULL: Steward itself (automatic rule)
    actor_name      TEXT,
    target_id       INTEGER,
    target_name     TEXT,
    target_is_chat  INTEGER NOT NULL DEFAULT 0,
    action          TEXT NOT NULL,           -- warn, mute, ban, kick, delete, unmute, unban, ...
    reason          TEXT,
    rule            TEXT,                    -- spam, flood, blocklist, language, captcha, warn_limit
    score           REAL,
    details         TEXT,                    -- JSON: per-signal scores etc.
    message_id      INTEGER,
    message_text    TEXT,
    created_at      INTEGER NOT NULL,
    expires_at      INTEGER,                 -- timed mute/ban: when Telegram lifts it
    undone_at       INTEGER,
    undone_by       INTEGER,
    log_chat_id     INTEGER,
    log_message_id  INTEGER
);
CREATE INDEX mod_actions_chat ON mod_actions(chat_id, id DESC);

-- How many clean messages a member has sent in a chat: "new member" until a threshold.
CREATE TABLE member_activity (
    chat_id         INTEGER NOT NULL,
    user_id         INTEGER NOT NULL,
    clean_messages  INTEGER NOT NULL DEFAULT 0,
    joined_at       INTEGER,
    PRIMARY KEY (chat_id, user_id)
) WITHOUT ROWID;

-- What moderators taught the spam classifier (/spam, /notspam, Undo); defaults ship as files.
CREATE TABLE spam_lessons (
    id          INTEGER PRIMARY KEY,
    text        TEXT NOT NULL,
    is_spam     INTEGER NOT NULL,
    actor_id    INTEGER,
    created_at  INTEGER NOT NULL
);

CREATE TABLE captcha_pending (
    chat_id             INTEGER NOT NULL,
    user_id             INTEGER NOT NULL,
    captcha_message_id  INTEGER,
    join_message_id     INTEGER,
    deadline            INTEGER NOT NULL,
    PRIMARY KEY (chat_id, user_id)
);
