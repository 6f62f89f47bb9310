-- The forum topic of each message the bot saw arrive (or sent) in a forum supergroup, so that
-- /purge in a topic deletes that topic's messages only: message ids run across all topics of a
-- forum, and Telegram offers a bot no way to ask a message's topic. `thread_id` NULL is the
-- General topic. Rows older than 48 hours (a bot cannot delete such messages) are pruned.
CREATE TABLE topic_messages (
    chat_id     INTEGER NOT NULL,
    message_id  INTEGER NOT NULL,
    thread_id   INTEGER,
    seen_at     INTEGER NOT NULL,
    PRIMARY KEY (chat_id, message_id)
) WITHOUT ROWID;
CREATE INDEX topic_messages_seen ON topic_messages(seen_at);
