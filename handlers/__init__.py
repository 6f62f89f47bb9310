"""Feature routers, composed in one place and in a fixed order.

Order matters: aiogram offers each update to routers in sequence and stops at the first handler
that takes it. Moderation must see every group message before anything answers it, and
catch-alls must come last so they never shadow a feature.
"""

from __future__ import annotations

from collections.abc import Sequence

from aiogram import BaseMiddleware, Dispatcher, Router
from aiogram.types import Message

from bot.middlewares import addressed_to_bot
from handlers import (
    campaigns,
    compose,
    errors,
    faq,
    faq_entries,
    giveaways,
    membership,
    moderation,
    posting,
    quizzes,
    reputation,
    start,
    stats,
    support,
)


def build_routers(command_middlewares: Sequence[BaseMiddleware] = ()) -> list[Router]:
    """Fresh routers per app, so several bots (tests, benchmarks) can live in one process.

    Moderation runs before all of them, as a middleware. The features people address the bot
    with sit under one parent router whose filter lets in only messages addressed to the bot
    (private chats, and in groups a command or an `@admin` call): ordinary group chat skips
    them all at once instead of being offered to each, which the pipeline benchmark counts.
    Their other updates (buttons, poll answers, channel posts) are not filtered.

    `command_middlewares` (the role check) wrap only the messages addressed to the bot: every
    middleware level costs each group message, and ordinary chat needs no roles."""
    commands = Router(name="commands")
    commands.message.filter(addressed_to_bot)
    for middleware in command_middlewares:
        commands.message.middleware(middleware)
    commands.include_routers(
        moderation.create_router(),  # moderator commands, log buttons, reports
        start.create_router(),  # /start, /help
        quizzes.create_router(),  # quizzes and poll answers
        giveaways.create_router(),  # giveaways and their button
        stats.create_router(),  # reports; channel posts and reaction counts
        campaigns.create_router(),  # campaign links and their reports
        reputation.create_router(),  # /watch, complaint buttons, 👎 reactions
        posting.create_router(),  # scheduled posts
        posting.create_input_router(),  # a manager's answer to "send the new time"
        faq_entries.create_router(),  # /faq_add, /faq_edit, … and undo
        faq.create_router(),  # /faq, 👍/👎 and "Did you mean…"
        support.create_router(),  # /setsupport, /block, staff replies in private, Add to FAQ
        compose.create_router(),  # a manager's message in private becomes a draft post
        support.create_relay_router(),  # a member's message in private goes to the team
        start.create_unknown_command_router(),  # any other command in private: see /help
    )
    return [
        membership.create_router(),  # joins, leaves, captcha
        commands,
        # ordinary group messages no router took go to the FAQ stage, a middleware (see
        # handlers.faq.GroupMessagesMiddleware): one more router level would cost every message
    ]


async def reaches_routers(message: Message) -> bool:
    """Whether any router can take this message: one addressed to the bot (the `commands`
    parent's filter) or a join's service message (`membership`). Checked once at the top, so
    ordinary group chat, most of what the bot sees, skips the router tree (two router levels,
    about 45 µs of the 376 an ordinary message cost in bench/pipeline.py) and goes back to the
    outer middlewares unhandled, as it did after visiting every router.

    A new router that takes group messages not addressed to the bot must widen this;
    tests/test_command_table.py fails until it does."""
    return await addressed_to_bot(message) or await membership.has_new_members(message)


def include_routers(
    dispatcher: Dispatcher, command_middlewares: Sequence[BaseMiddleware] = ()
) -> None:
    """The feature routers under the dispatcher, behind `reaches_routers` for messages."""
    dispatcher.message.filter(reaches_routers)
    dispatcher.include_routers(*build_routers(command_middlewares))


def register_error_handler(dispatcher: Dispatcher) -> None:
    """The error handler sits on the dispatcher itself: errors bubble up to it from every
    router, and ordinary updates skip one more router level."""
    dispatcher.errors.register(errors.on_error)
