-- PostgreSQL twin of ../0011_own_posts_and_reach.sql: the same tables, columns and indexes. Integers are
-- BIGINT (Telegram ids exceed 32 bits), REAL is DOUBLE PRECISION, ids are identity columns.
-- Issue 12. Telegram never sends a bot its own channel posts, so the posts Steward publishes are
-- recorded from its send call; an album or a post with a button follow-up is one post made of
-- several messages, and reactions arrive per message. Every part of a post gets a row here (the
-- first message's id names the post in channel_posts); the post's reactions are the parts' sum.
CREATE TABLE channel_post_parts (
    chat_id     BIGINT NOT NULL,
    message_id  BIGINT NOT NULL,
    post_id     BIGINT NOT NULL,             -- channel_posts.message_id of the whole post
    reactions   BIGINT NOT NULL DEFAULT 0,   -- latest total Telegram reported for this message
    PRIMARY KEY (chat_id, message_id)
);

INSERT INTO channel_post_parts(chat_id, message_id, post_id, reactions)
    SELECT chat_id, message_id, message_id, reactions FROM channel_posts;

-- Whether the bot could last write to a user in private, as Telegram answered the last try:
-- reachable | not_started | blocked | deactivated (NULL: never tried). Only a hint: the bot
-- always tries, since people start or unblock it without the bot being told.
ALTER TABLE users ADD COLUMN private_status TEXT;
ALTER TABLE users ADD COLUMN private_checked_at BIGINT;
