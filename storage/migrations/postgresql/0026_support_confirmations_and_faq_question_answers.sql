-- PostgreSQL twin of ../0026_support_confirmations_and_faq_question_answers.sql.
-- `support_confirmations`: the bot's "✅ Delivered" under a staff answer and the ticket it
-- belongs to, so a staff reply to it reaches the same member, as one to the relay does.
CREATE TABLE support_confirmations (
    support_chat_id BIGINT NOT NULL,
    message_id      BIGINT NOT NULL,
    ticket_id       BIGINT NOT NULL,
    PRIMARY KEY (support_chat_id, message_id)
);
-- `faq_question_answers`: the FAQ's answer to a member's question (the question's chat and
-- message, the entry, the bot's answer message), so a question edited after it was answered
-- is checked again: a different question gets its answer in place of the old one.
CREATE TABLE faq_question_answers (
    chat_id     BIGINT NOT NULL,
    message_id  BIGINT NOT NULL,
    entry_id    BIGINT NOT NULL,
    answer_id   BIGINT NOT NULL,
    answered_at BIGINT NOT NULL,
    PRIMARY KEY (chat_id, message_id)
);
CREATE INDEX faq_question_answers_at ON faq_question_answers(answered_at);
