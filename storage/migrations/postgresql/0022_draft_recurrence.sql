-- PostgreSQL twin of ../0022_draft_recurrence.sql: the same tables, columns and indexes. Integers
-- are BIGINT (Telegram ids exceed 32 bits), REAL is DOUBLE PRECISION, ids are identity columns.
-- A draft's recurrence (`daily 09:00`, `weekly mon 10:00`, five cron fields), typed at the compose
-- panel's Custom… time as /schedule takes it; its posts carry it (posts.recurrence). NULL: once.
ALTER TABLE drafts ADD COLUMN recurrence TEXT;
