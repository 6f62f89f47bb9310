-- PostgreSQL twin of ../0013_post_versions.sql: the same tables, columns and indexes. Integers are
-- BIGINT (Telegram ids exceed 32 bits), REAL is DOUBLE PRECISION, ids are identity columns.
-- The calendar (Mini App) edits posts from a second screen while the chat flows and the publisher
-- change them too. `version` grows with every change of time, state or content, whoever makes it
-- (a trigger, so no code path can forget), and a move sent with an old version is refused instead
-- of silently undoing someone else's change.
ALTER TABLE posts ADD COLUMN version BIGINT NOT NULL DEFAULT 1;
-- PostgreSQL: a BEFORE trigger sets the new row's version (SQLite's AFTER trigger updates the
-- row again); both fire when one of the columns is in the UPDATE's SET, changed or not.
CREATE FUNCTION posts_bump_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.version := OLD.version + 1;
    RETURN NEW;
END;
$$;
CREATE TRIGGER posts_version BEFORE UPDATE OF due_at, status, source_message_ids ON posts
    FOR EACH ROW EXECUTE FUNCTION posts_bump_version();
CREATE INDEX posts_published ON posts(published_at) WHERE published_at IS NOT NULL;
