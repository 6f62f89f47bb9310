"""Fields that aiogram types as optional but a handler's own routing already guarantees.

Telegram leaves a field out of some updates: a channel post has no sender, a button under an
inline-mode message brings no message, and one under a message the bot can no longer see
brings an InaccessibleMessage without text or edit methods. The handlers that use these
helpers only receive updates that carry the field (members' messages in private chats and
groups, buttons under the bot's own messages). Saying so once keeps the handlers' types exact;
if it ever does not hold, the update fails here by name (the error handler then apologises)
rather than with an AttributeError further down.
"""

from __future__ import annotations

from aiogram.types import CallbackQuery, InaccessibleMessage, Message, User


class MissingField(RuntimeError):
    """An update lacked a field that its handler's routing guarantees."""


def sender(message: Message) -> User:
    """Who wrote `message` (every message but a channel's posts has a sender)."""
    if message.from_user is None:
        raise MissingField(f"message {message.message_id} in {message.chat.id} has no sender")
    return message.from_user


def button_message(query: CallbackQuery) -> Message | InaccessibleMessage:
    """The message whose button was pressed: its chat and id, whether or not the bot can still
    see it (absent only under inline-mode messages, which Steward never sends)."""
    if query.message is None:
        raise MissingField(f"callback {query.id} comes without a message (inline mode)")
    return query.message


def accessible_message(query: CallbackQuery) -> Message:
    """The message whose button was pressed, as the bot can still read and edit it."""
    message = button_message(query)
    if not isinstance(message, Message):
        raise MissingField(f"callback {query.id}: its message is no longer accessible")
    return message
