-- PostgreSQL twin of ../0021_topic_messages.sql.
-- The forum topic of each message the bot saw arrive (or sent) in a forum supergroup, so that
-- /purge in a topic deletes that topic's messages only: message ids run across all topics of a
-- forum, and Telegram offers a bot no way to ask a message's topic. `thread_id` NULL is the
-- General topic. Rows older than 48 hours (a bot cannot delete such messages) are pruned.
CREATE TABLE topic_messages (
    chat_id     BIGINT NOT NULL,
    message_id  BIGINT NOT NULL,
    thread_id   BIGINT,
    seen_at     BIGINT NOT NULL,
    PRIMARY KEY (chat_id, message_id)
);
CREATE INDEX topic_messages_seen ON topic_messages(seen_at);
