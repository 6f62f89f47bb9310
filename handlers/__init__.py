"""Feature routers, composed in one place and in a fixed order.

Order matters: aiogram offers each update to routers in sequence and stops at the first handler
that takes it. Moderation must see every group message before anything answers it, and
catch-alls must come last so they never shadow a feature.
"""

from __future__ import annotations

from aiogram import Router

from handlers import engagement, errors, membership, moderation, start, stats


def build_routers() -> list[Router]:
    """Fresh routers per app, so several bots (tests, benchmarks) can live in one process.

    They hang directly off the dispatcher: every nesting level costs each update a round of
    middleware wrapping, and the pipeline benchmark counts that."""
    return [
        membership.create_router(),  # joins, leaves, captcha (moderation checks: middleware)
        moderation.create_router(),  # moderator commands, log buttons, reports
        start.create_router(),  # general commands
        # faq router goes here
        engagement.create_router(),  # quizzes and giveaways
        stats.create_router(),  # reports; channel posts and reaction counts
    ]


def register_error_handler(dispatcher) -> None:
    """The error handler sits on the dispatcher itself: errors bubble up to it from every
    router, and ordinary updates skip one more router level."""
    dispatcher.errors.register(errors.on_error)
