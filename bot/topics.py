"""Forum topics: where a message the bot sends because of another message belongs.

In a forum supergroup a message that is not a reply lands in the General topic unless it names
the topic (`message_thread_id`), and General itself is addressed by leaving the id out: sending
`message_thread_id=1` fails with "message thread not found". A message in General, or in an
ordinary group's reply chain, may still carry a `message_thread_id` without `is_topic_message`;
that id is no topic. These helpers are the one place that rule lives.
"""

from __future__ import annotations

from typing import Protocol

# Read-only members, so that aiogram's Message (whose fields are narrower types) satisfies them.


class _Replied(Protocol):
    @property
    def message_id(self) -> int: ...
    @property
    def forum_topic_created(self) -> object | None: ...


class _Message(Protocol):
    @property
    def message_thread_id(self) -> int | None: ...
    @property
    def is_topic_message(self) -> bool | None: ...
    @property
    def reply_to_message(self) -> _Replied | None: ...


class _Inaccessible(Protocol):
    """A callback's message the bot can no longer see (aiogram's InaccessibleMessage)."""

    @property
    def message_id(self) -> int: ...
    @property
    def date(self) -> object: ...


def thread_of(message: _Message | _Inaccessible | None) -> int | None:
    """The topic to send into because of `message`: its topic, or None for General and for
    chats without topics."""
    # getattr: a callback's message may be an InaccessibleMessage without these fields
    if message is None or not getattr(message, "is_topic_message", None):
        return None
    thread: int | None = getattr(message, "message_thread_id", None)
    return thread


def replies_to_topic_root(message: _Message) -> bool:
    """Telegram makes every message in a topic a "reply" to the topic's creation message; that
    is where the message was written, not whom it answers."""
    reply = message.reply_to_message
    if reply is None or not message.is_topic_message:
        return False
    return reply.forum_topic_created is not None or reply.message_id == message.message_thread_id
