-- PostgreSQL twin of ../0004_stats.sql: the same tables, columns and indexes. Integers are
-- BIGINT (Telegram ids exceed 32 bits), REAL is DOUBLE PRECISION, ids are identity columns.
-- Statistics: daily aggregates per chat (days in the managers' TIMEZONE), kept small on purpose:
-- no row per message. Per-member and per-hour rows are pruned after STATS_RETENTION_DAYS.

CREATE TABLE daily_chat_stats (
    chat_id          BIGINT NOT NULL,
    day              TEXT NOT NULL,            -- YYYY-MM-DD, local to TIMEZONE
    messages         BIGINT NOT NULL DEFAULT 0,
    joins            BIGINT NOT NULL DEFAULT 0,
    leaves           BIGINT NOT NULL DEFAULT 0,
    questions        BIGINT NOT NULL DEFAULT 0,
    faq_answered     BIGINT NOT NULL DEFAULT 0,
    faq_escalated    BIGINT NOT NULL DEFAULT 0,
    faq_up           BIGINT NOT NULL DEFAULT 0,
    faq_down         BIGINT NOT NULL DEFAULT 0,
    reactions        BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (chat_id, day)
);

CREATE TABLE daily_member_stats (
    chat_id    BIGINT NOT NULL,
    day        TEXT NOT NULL,
    user_id    BIGINT NOT NULL,
    name       TEXT NOT NULL DEFAULT '',
    messages   BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (chat_id, day, user_id)
);

CREATE TABLE hourly_activity (
    chat_id    BIGINT NOT NULL,
    day        TEXT NOT NULL,
    hour       BIGINT NOT NULL,              -- 0-23 local
    messages   BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (chat_id, day, hour)
);

CREATE TABLE channel_members (
    chat_id    BIGINT NOT NULL,
    day        TEXT NOT NULL,
    members    BIGINT NOT NULL,
    PRIMARY KEY (chat_id, day)
);

CREATE TABLE channel_posts (
    chat_id          BIGINT NOT NULL,
    message_id       BIGINT NOT NULL,
    posted_at        BIGINT NOT NULL,         -- unix seconds UTC
    members_at_post  BIGINT,
    reactions        BIGINT NOT NULL DEFAULT 0,
    comments         BIGINT NOT NULL DEFAULT 0,
    by_steward       BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (chat_id, message_id)
);
CREATE INDEX channel_posts_time ON channel_posts(chat_id, posted_at);
