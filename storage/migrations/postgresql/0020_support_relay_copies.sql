-- PostgreSQL twin of ../0020_support_relay_copies.sql.
-- A member's media, or a text too long to sit beside the relay's header, is copied under the
-- header in the support chat: a staff reply to that copy answers the ticket too.
ALTER TABLE support_tickets ADD COLUMN relay_copy_id BIGINT;
CREATE UNIQUE INDEX support_tickets_relay_copy ON support_tickets(support_chat_id, relay_copy_id);
