-- PostgreSQL twin of ../0009_topics_and_upgrades.sql: the same tables, columns and indexes. Integers are
-- BIGINT (Telegram ids exceed 32 bits), REAL is DOUBLE PRECISION, ids are identity columns.
-- Forum topics and basic groups upgraded to supergroups.

-- The topic (message_thread_id) a scheduled event was started in, so that every later message
-- of it goes there; NULL: the General topic or a chat without topics.
ALTER TABLE quiz_runs ADD COLUMN thread_id BIGINT;
ALTER TABLE giveaways ADD COLUMN thread_id BIGINT;
ALTER TABLE support_tickets ADD COLUMN thread_id BIGINT;

-- Basic groups that became supergroups: their rows moved to the new id. Kept so that a late
-- update or a configured id (LOG_CHAT_ID, SUPPORT_CHAT_ID) naming the old chat still finds it.
CREATE TABLE chat_migrations (
    old_chat_id  BIGINT PRIMARY KEY,
    new_chat_id  BIGINT NOT NULL,
    migrated_at  BIGINT NOT NULL
);
