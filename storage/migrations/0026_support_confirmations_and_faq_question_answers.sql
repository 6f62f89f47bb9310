-- `support_confirmations`: the bot's "✅ Delivered" under a staff answer and the ticket it
-- belongs to, so a staff reply to it reaches the same member, as one to the relay does.
CREATE TABLE support_confirmations (
    support_chat_id INTEGER NOT NULL,
    message_id      INTEGER NOT NULL,
    ticket_id       INTEGER NOT NULL,
    PRIMARY KEY (support_chat_id, message_id)
);
-- `faq_question_answers`: the FAQ's answer to a member's question (the question's chat and
-- message, the entry, the bot's answer message), so a question edited after it was answered
-- is checked again: a different question gets its answer in place of the old one.
CREATE TABLE faq_question_answers (
    chat_id     INTEGER NOT NULL,
    message_id  INTEGER NOT NULL,
    entry_id    INTEGER NOT NULL,
    answer_id   INTEGER NOT NULL,
    answered_at INTEGER NOT NULL,
    PRIMARY KEY (chat_id, message_id)
);
CREATE INDEX faq_question_answers_at ON faq_question_answers(answered_at);
