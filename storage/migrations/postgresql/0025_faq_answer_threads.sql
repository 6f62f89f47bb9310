-- The FAQ cool-down per conversation: a forum topic or a channel post's comment thread is its
-- own (`thread_id`, 0: the chat's main conversation). An answer in another topic, or under
-- another post, is not where the asker reads, and a link to it in a private discussion group
-- leads a commenter who never joined the group nowhere: the asker's thread gets the answer.
ALTER TABLE faq_last_answers ADD COLUMN thread_id BIGINT NOT NULL DEFAULT 0;
ALTER TABLE faq_last_answers DROP CONSTRAINT faq_last_answers_pkey;
ALTER TABLE faq_last_answers ADD PRIMARY KEY (chat_id, thread_id, entry_id, language);
