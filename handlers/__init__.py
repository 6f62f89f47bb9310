"""Feature routers, composed in one place and in a fixed order.

Order matters: aiogram offers each update to routers in sequence and stops at the first handler
that takes it. Moderation must see every group message before anything answers it, and
catch-alls must come last so they never shadow a feature.
"""

from __future__ import annotations

from aiogram import Router

from handlers import errors, membership, moderation, protection, start


def build_root_router() -> Router:
    """A fresh router tree per app, so several bots (tests, benchmarks) can live in one process."""
    root = Router(name="steward")
    root.include_routers(
        membership.create_router(),  # chat_member / my_chat_member bookkeeping (no messages)
        protection.create_router(),  # joins and captcha (the checks run as a middleware)
        moderation.create_router(),  # moderator commands, log buttons, reports
        start.create_router(),  # general commands
        # faq, quiz and contest routers follow
        errors.create_router(),  # error handler; catch-alls last
    )
    return root
