-- The FAQ cool-down per conversation: a forum topic or a channel post's comment thread is its
-- own (`thread_id`, 0: the chat's main conversation). An answer in another topic, or under
-- another post, is not where the asker reads, and a link to it in a private discussion group
-- leads a commenter who never joined the group nowhere: the asker's thread gets the answer.
CREATE TABLE faq_last_answers_new (
    chat_id     INTEGER NOT NULL,
    entry_id    INTEGER NOT NULL,
    language    TEXT NOT NULL,
    message_id  INTEGER NOT NULL,
    answered_at INTEGER NOT NULL,
    thread_id   INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (chat_id, thread_id, entry_id, language)
);
INSERT INTO faq_last_answers_new (chat_id, entry_id, language, message_id, answered_at)
    SELECT chat_id, entry_id, language, message_id, answered_at FROM faq_last_answers;
DROP TABLE faq_last_answers;
ALTER TABLE faq_last_answers_new RENAME TO faq_last_answers;
