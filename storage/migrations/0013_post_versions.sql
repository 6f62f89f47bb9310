-- The calendar (Mini App) edits posts from a second screen while the chat flows and the publisher
-- change them too. `version` grows with every change of time, state or content, whoever makes it
-- (a trigger, so no code path can forget), and a move sent with an old version is refused instead
-- of silently undoing someone else's change.
ALTER TABLE posts ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
CREATE TRIGGER posts_version AFTER UPDATE OF due_at, status, source_message_ids ON posts
BEGIN
    UPDATE posts SET version = OLD.version + 1 WHERE id = NEW.id;
END;
CREATE INDEX posts_published ON posts(published_at) WHERE published_at IS NOT NULL;
