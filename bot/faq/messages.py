"""Which Telegram messages ask the FAQ, and where: the group pipeline's FAQ stage, a
"Did you mean…" pick and an edited question read a message the same way. A Telegram adapter
(like bot/topics and bot/guards): it reads aiogram's Message and hands the FAQ's domain code
(bot/faq/questions, bot/faq/service) plain text and ids."""

from __future__ import annotations

from aiogram.types import Message

from bot.faq.questions import MessageForm, message_form
from bot.topics import thread_of


def group_message_form(message: Message) -> MessageForm:
    """What a member's group message is to the FAQ (`message_form`): a question, a statement
    the FAQ may answer when sure, or nothing; nothing for a reply to another member (a
    conversation between people is theirs). A comment under the linked channel's post
    (forwarded as the channel, Telegram's 777000 in `from`) is no such reply: it is a question
    to the community. A screenshot's caption asks like a text does; a message forwarded from
    elsewhere is someone else's words, not this member's question."""
    reply = message.reply_to_message
    if reply is not None and written_by_a_person(reply):
        return MessageForm.NONE
    if message.forward_origin is not None:
        return MessageForm.NONE
    return message_form(question_text(message))


def conversation_of(message: Message) -> int:
    """Where a question is asked, for the cool-down: its forum topic, or the comments under a
    channel post (a reply to the post Telegram forwarded into the discussion group); 0: the
    chat's own conversation. Members read one of them at a time, and a commenter who never
    joined a private discussion group cannot open a link into it."""
    topic = thread_of(message)
    if topic is not None:
        return topic
    reply = message.reply_to_message
    return reply.message_id if reply is not None and reply.is_automatic_forward else 0


def question_text(message: Message) -> str:
    """What a member asks: a text, or the caption of their photo, video or document."""
    return message.text or message.caption or ""


def written_by_a_person(message: Message) -> bool:
    """A member, also one posting as the group (an anonymous admin) or as their own channel;
    not a bot, and not the linked channel's post that Telegram forwards into the group."""
    if message.is_automatic_forward:
        return False
    if message.sender_chat is not None:
        return True
    return not (message.from_user and message.from_user.is_bot)
