-- The support desk's message ids beyond a ticket's header and first copy.
-- `support_relay_parts`: each part of a member's album relayed to the staff, and its copy in
-- the support chat, so an edit of any part finds its ticket and the album is copied again.
CREATE TABLE support_relay_parts (
    chat_id     INTEGER NOT NULL,   -- where the member wrote (their id in private)
    message_id  INTEGER NOT NULL,   -- the member's part
    ticket_id   INTEGER NOT NULL,
    copy_id     INTEGER,            -- its copy in the ticket's support chat
    PRIMARY KEY (chat_id, message_id)
);
CREATE INDEX support_relay_parts_ticket ON support_relay_parts(ticket_id);
CREATE INDEX support_relay_parts_copy ON support_relay_parts(copy_id);
-- `support_answers`: each staff message delivered to a member (each part of an album) and the
-- copy the member got, so a staff member's edit of their answer edits that copy.
CREATE TABLE support_answers (
    staff_chat_id    INTEGER NOT NULL,
    staff_message_id INTEGER NOT NULL,
    ticket_id        INTEGER NOT NULL,
    member_chat_id   INTEGER NOT NULL,
    delivered_id     INTEGER NOT NULL,
    PRIMARY KEY (staff_chat_id, staff_message_id)
);
