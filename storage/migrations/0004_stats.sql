-- Statistics: daily aggregates per chat (days in the managers' TIMEZONE), kept small on purpose:
-- no row per message. Per-member and per-hour rows are pruned after STATS_RETENTION_DAYS.

CREATE TABLE daily_chat_stats (
    chat_id          INTEGER NOT NULL,
    day              TEXT NOT NULL,            -- YYYY-MM-DD, local to TIMEZONE
    messages         INTEGER NOT NULL DEFAULT 0,
    joins            INTEGER NOT NULL DEFAULT 0,
    leaves           INTEGER NOT NULL DEFAULT 0,
    questions        INTEGER NOT NULL DEFAULT 0,
    faq_answered     INTEGER NOT NULL DEFAULT 0,
    faq_escalated    INTEGER NOT NULL DEFAULT 0,
    faq_up           INTEGER NOT NULL DEFAULT 0,
    faq_down         INTEGER NOT NULL DEFAULT 0,
    reactions        INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (chat_id, day)
) WITHOUT ROWID;

CREATE TABLE daily_member_stats (
    chat_id    INTEGER NOT NULL,
    day        TEXT NOT NULL,
    user_id    INTEGER NOT NULL,
    name       TEXT NOT NULL DEFAULT '',
    messages   INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (chat_id, day, user_id)
) WITHOUT ROWID;

CREATE TABLE hourly_activity (
    chat_id    INTEGER NOT NULL,
    day        TEXT NOT NULL,
    hour       INTEGER NOT NULL,              -- 0-23 local
    messages   INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (chat_id, day, hour)
) WITHOUT ROWID;

CREATE TABLE channel_members (
    chat_id    INTEGER NOT NULL,
    day        TEXT NOT NULL,
    members    INTEGER NOT NULL,
    PRIMARY KEY (chat_id, day)
) WITHOUT ROWID;

CREATE TABLE channel_posts (
    chat_id          INTEGER NOT NULL,
    message_id       INTEGER NOT NULL,
    posted_at        INTEGER NOT NULL,         -- unix seconds UTC
    members_at_post  INTEGER,
    reactions        INTEGER NOT NULL DEFAULT 0,
    comments         INTEGER NOT NULL DEFAULT 0,
    by_steward       INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (chat_id, message_id)
) WITHOUT ROWID;
CREATE INDEX channel_posts_time ON channel_posts(chat_id, posted_at);
