"""/start and /help: greet the user and list the commands their role allows, where they are;
and the answer to a command nobody knows, in private, or to a button nobody knows."""

from __future__ import annotations

import html

from aiogram import Router
from aiogram.filters import CommandStart
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import gettext as _

from bot.commands import command_flags, on_command, visible_commands
from bot.middlewares import is_command_text
from bot.private import PrivateNotes
from bot.roles import Requirement, Roles


def _role_heading(requirement: Requirement) -> str:
    if requirement is Requirement.ADMIN:
        return _("For chat admins")
    if requirement is Requirement.MANAGER:
        return _("For managers")
    if requirement is Requirement.ADMIN_OR_MANAGER:
        return _("For chat admins and managers")
    return _("For everyone")


def render_help(roles: Roles, chat_type: str) -> str:
    grouped = visible_commands(roles, chat_type)
    order = [
        Requirement.MEMBER,
        Requirement.ADMIN,
        Requirement.ADMIN_OR_MANAGER,
        Requirement.MANAGER,
    ]
    lines = [_("Commands you can use here:")]
    for requirement in order:
        specs = grouped.get(requirement)
        if not specs:
            continue
        lines.append("")
        lines.append(f"<b>{html.escape(_role_heading(requirement))}</b>")
        lines.extend(f"/{s.name} — {html.escape(_(s.description))}" for s in specs)
    if chat_type == "private" and not roles.is_manager:
        lines.append("")
        lines.append(_("Admin commands work in your group, where you are an admin."))
    return "\n".join(lines)


async def start(message: Message, roles: Roles, notes: PrivateNotes) -> None:
    if message.from_user is not None:
        await notes.started(message.from_user.id)
    name = html.escape(message.from_user.first_name if message.from_user else "")
    greeting = _(
        "Hello, {name}! I am Steward, the assistant of this community: I answer questions, "
        "keep the chats clean and publish the team's posts on time."
    ).format(name=name)
    await message.answer(f"{greeting}\n\n{render_help(roles, message.chat.type)}")


async def help_command(message: Message, roles: Roles) -> None:
    await message.reply(render_help(roles, message.chat.type))


async def private_command(message: Message) -> bool:
    return message.chat.type == "private" and (message.text or "").startswith("/")


async def unknown_command(message: Message) -> None:
    await message.reply(_("I don't know this command. /help lists the ones you can use."))


async def unknown_button(callback: CallbackQuery) -> None:
    await callback.answer(_("This button no longer works."))


def create_router() -> Router:
    router = Router(name="start")
    router.message.filter(is_command_text)
    router.message.register(
        start, CommandStart(ignore_case=True), flags=command_flags("start", needs_roles=True)
    )
    on_command(router.message, help_command, "help", needs_roles=True)
    return router


def create_unknown_command_router() -> Router:
    """Last of all: a command in private that no feature took (a typo, another bot's) gets a
    pointer to /help instead of silence. In groups such a command may be another bot's: no
    answer there. A button no feature took (one of an older version, or of something gone)
    is answered too: unanswered, the client spins and then shows nothing."""
    router = Router(name="unknown-command")
    router.message.register(unknown_command, private_command)
    router.callback_query.register(unknown_button)
    return router
