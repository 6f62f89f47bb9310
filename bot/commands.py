"""The bot's command catalogue: one list that feeds /help and Telegram's command menus.

Each feature declares its commands here once, with who may use them and where, so the menu a
user sees and the help they read can never disagree with what the handlers accept.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from aiogram import Bot
from aiogram.dispatcher.event.telegram import TelegramEventObserver
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import Command, CommandObject
from aiogram.types import (
    BotCommand,
    BotCommandScopeAllChatAdministrators,
    BotCommandScopeAllGroupChats,
    BotCommandScopeAllPrivateChats,
    BotCommandScopeChat,
    BotCommandScopeChatAdministrators,
    BotCommandScopeUnion,
)
from aiogram.utils.i18n import I18n

from bot.roles import AdminRight, Requirement, Roles
from bot.texts import cut_to

logger = logging.getLogger(__name__)


def N_(message: str) -> str:
    """Marks a string for the catalog without translating it yet (translated per language)."""
    return message


class Where(StrEnum):
    PRIVATE = "private"
    GROUP = "group"
    ANY = "any"


@dataclass(frozen=True, slots=True)
class CommandSpec:
    name: str
    description: str  # msgid; translated when shown
    role: Requirement = Requirement.MEMBER
    where: Where = Where.ANY
    right: AdminRight | None = None  # what an admin must also hold (their own rights)

    def usable_in(self, chat_type: str) -> bool:
        if self.where is Where.ANY:
            return True
        return (self.where is Where.PRIVATE) == (chat_type == "private")


_A, _G, _AM = Requirement.ADMIN, Where.GROUP, Requirement.ADMIN_OR_MANAGER
_R, _D, _I = AdminRight.RESTRICT, AdminRight.DELETE, AdminRight.CHANGE_INFO

COMMANDS: tuple[CommandSpec, ...] = (
    CommandSpec("start", N_("start the bot and see what it can do"), where=Where.PRIVATE),
    CommandSpec("help", N_("list the commands you can use")),
    # moderation: members
    CommandSpec("rules", N_("show the rules of this chat"), where=_G),
    CommandSpec("report", N_("reply to a message to report it to the admins"), where=_G),
    CommandSpec("warns", N_("show your warns"), where=_G),
    # moderation: chat admins
    CommandSpec("warn", N_("warn a member (reply or @name) [reason]"), _A, _G, _R),
    CommandSpec("unwarn", N_("remove a member's latest warn"), _A, _G, _R),
    CommandSpec("resetwarns", N_("clear all warns of a member"), _A, _G, _R),
    CommandSpec("mute", N_("mute a member [duration] [reason], e.g. /mute 2h"), _A, _G, _R),
    CommandSpec("unmute", N_("let a muted member write again"), _A, _G, _R),
    CommandSpec("ban", N_("ban a member [duration] [reason]"), _A, _G, _R),
    CommandSpec("unban", N_("unban a member: /unban @name or id"), _A, _G, _R),
    CommandSpec("kick", N_("remove a member who may rejoin [reason]"), _A, _G, _R),
    CommandSpec("del", N_("delete the replied message"), _A, _G, _D),
    CommandSpec("purge", N_("delete from the replied message up to here"), _A, _G, _D),
    CommandSpec("spam", N_("delete, ban and learn the replied message as spam"), _A, _G, _R),
    CommandSpec("notspam", N_("learn a message as not spam, or undo a spam action"), _A, _G, _R),
    CommandSpec("approve", N_("trust a member: automatic checks skip them"), _A, _G, _R),
    CommandSpec("unapprove", N_("stop trusting a member"), _A, _G, _R),
    CommandSpec("filter", N_("add a word or /regex/ to the blocklist"), _A, _G, _D),
    CommandSpec("unfilter", N_("remove a word or /regex/ from the blocklist"), _A, _G, _D),
    CommandSpec("filters", N_("show the blocklist"), _A, _G),
    CommandSpec("setrules", N_("set the rules of this chat"), _A, _G, _I),
    CommandSpec("setwarnlimit", N_("warns before action: /setwarnlimit 3 mute 1d"), _A, _G, _I),
    CommandSpec("modlog", N_("last moderation actions [n]"), _A, _G),
    CommandSpec("settings", N_("automatic rules of this chat"), _A, _G, _I),
    CommandSpec("setlog", N_("send this chat's moderation log to a chat id"), _A, _G, _I),
    CommandSpec("setlanguages", N_("languages this chat speaks, e.g. en,nl"), _A, _G, _I),
    CommandSpec("setcaptcha", N_("seconds a newcomer has for the join captcha"), _A, _G, _I),
    # quizzes and giveaways
    CommandSpec("quiz_top", N_("the quiz season table of this chat"), where=_G),
    CommandSpec("giveaway_verify", N_("check that a giveaway draw was fair: /giveaway_verify 4")),
    CommandSpec("quiz_add", N_("create a quiz (Q:, +, -, E: lines) or import a JSON file"), _AM),
    CommandSpec("quiz_list", N_("list the quizzes"), _AM),
    CommandSpec("quiz_start", N_("run a quiz: /quiz_start 3 [seconds per question]"), _AM),
    CommandSpec("quiz_stop", N_("end the running quiz now"), _AM),
    CommandSpec("quiz_export", N_("download a quiz as JSON"), _AM),
    CommandSpec("quiz_del", N_("delete a quiz"), _AM),
    CommandSpec("giveaway", N_("start a giveaway: /giveaway 1d 3 Prize [require=@channel]"), _AM),
    CommandSpec("giveaway_end", N_("draw a giveaway now"), _AM),
    CommandSpec("reroll", N_("draw replacement winners: /reroll 4 [n]"), _AM),
    # FAQ and support
    CommandSpec(
        "faq", N_("answers from the FAQ: /faq <words> or /faq <number>, or the list of topics")
    ),
    CommandSpec("faq_add", N_("add an FAQ entry: /faq_add question; other wording | answer"), _AM),
    CommandSpec("faq_edit", N_("change an entry or add a translation: /faq_edit 3 ru: … | …"), _AM),
    CommandSpec("faq_del", N_("delete an FAQ entry (with undo)"), _AM),
    CommandSpec("faq_list", N_("list the FAQ entries with their feedback"), _AM),
    CommandSpec("faq_export", N_("download the FAQ as JSON (or /faq_export csv)"), _AM),
    CommandSpec("faq_import", N_("reply to a JSON or CSV file to load FAQ entries"), _AM),
    CommandSpec(
        "setsupport", N_("send unanswered questions to a staff chat: /setsupport <id>"), _A, _G
    ),
    # a support chat may be one manager's private chat (SUPPORT_CHAT_ID=<their id>)
    CommandSpec("block", N_("in the support chat: stop a member's messages to the team"), _AM),
    CommandSpec("unblock", N_("in the support chat: let a member write to the team again"), _AM),
    # statistics
    CommandSpec("stats", N_("activity report with a chart: /stats [7d|30d|90d]"), _AM),
    CommandSpec("besttime", N_("best time to post, as a heat map"), _AM),
    CommandSpec("export_stats", N_("statistics as CSV [7d|30d|90d]"), _AM),
    CommandSpec("digest", N_("the weekly digest, now"), Requirement.MANAGER, Where.PRIVATE),
    # campaigns
    CommandSpec(
        "campaign_new",
        N_("named invite link: /campaign_new <name> [@channel] [cost=50 EUR]"),
        _AM,
    ),
    CommandSpec("campaign_end", N_("revoke a campaign's link: /campaign_end <id>"), _AM),
    CommandSpec(
        "campaigns", N_("campaigns, or their joins and cost: /campaigns [7d|30d|90d]"), _AM
    ),
    # reputation watch
    CommandSpec(
        "watch",
        N_("note mentions of a word: /watch <term> [@chat]"),
        Requirement.MANAGER,
        Where.PRIVATE,
    ),
    CommandSpec(
        "unwatch",
        N_("stop watching a term: /unwatch <id or term>"),
        Requirement.MANAGER,
        Where.PRIVATE,
    ),
    CommandSpec("watches", N_("list the watched terms"), Requirement.MANAGER, Where.PRIVATE),
    # scheduled posts
    CommandSpec(
        "schedule",
        N_("reply to a message: /schedule @channel tomorrow 10:00"),
        Requirement.MANAGER,
        Where.PRIVATE,
    ),
    CommandSpec(
        "queue",
        N_("upcoming, failed and held posts, with buttons"),
        Requirement.MANAGER,
        Where.PRIVATE,
    ),
    CommandSpec(
        "slots",
        N_("posting slots: /slots 09:00,13:00,19:00 [@channel]"),
        Requirement.MANAGER,
        Where.PRIVATE,
    ),
    CommandSpec(
        "cancel",
        N_("stop what I am waiting for you to type"),
        Requirement.MANAGER,
        Where.PRIVATE,
    ),
    CommandSpec(
        "channels",
        N_("channels I can publish to, with my rights"),
        Requirement.MANAGER,
        Where.PRIVATE,
    ),
    CommandSpec(
        "channel_add",
        N_("register a channel: /channel_add @channel"),
        Requirement.MANAGER,
        Where.PRIVATE,
    ),
)


SPECS: dict[str, CommandSpec] = {spec.name: spec for spec in COMMANDS}


def without_own_command(text: str, command_length: int, bot_username: str | None) -> str:
    """What the spam scorer should read of a message that starts with a command: the arguments
    alone when the command is one of this bot's (bare, or addressed to this bot by @name).

    Why: a new member's "/giveaway_verify 1" is a word of the bot's own vocabulary plus a digit;
    scored as chat it sat nearest short spam samples and got the member banned. A command of
    another bot, or an unknown one, stays part of the text: spammers do write "/start@their_bot".
    """
    token = text[:command_length]
    name, _, addressee = token[1:].partition("@")
    if name.lower() not in SPECS:
        return text
    if addressee and addressee.lower() != (bot_username or "").lower():
        return text
    return text[command_length:].strip()


def command_flags(*names: str, **extra: object) -> dict[str, object]:
    """The handler flags `RoleMiddleware` enforces for these commands, from the table above:
    routers register with this, so the menus, /help and the check cannot drift apart. Commands
    handled together must share their role and place."""
    specs = {(SPECS[n].role, SPECS[n].where, SPECS[n].right) for n in names}
    if len(specs) != 1:
        raise ValueError(f"{names} differ in role, place or right: {specs}")
    ((role, where, right),) = specs
    flags: dict[str, object] = dict(extra)
    if role is not Requirement.MEMBER:
        flags["role"] = role
    if right is not None:
        flags["right"] = right
    if where is not Where.ANY:
        flags["chat"] = where
    return flags


class AnyCaseCommand(Command):
    """A command however it was typed: Telegram's clients send "/Help" as typed, and it is
    /help. Handlers read `command.command` in lowercase, as the table spells it."""

    def __init__(self, *names: str) -> None:
        super().__init__(*names, ignore_case=True)

    async def parse_command(self, text: str, bot: Bot) -> CommandObject:
        command = await super().parse_command(text, bot)
        return replace(command, command=command.command.lower())


def on_command(observer: TelegramEventObserver, handler: Any, *names: str, **extra: Any) -> None:
    """Register `handler` for these commands with the table's role and place."""
    observer.register(handler, AnyCaseCommand(*names), flags=command_flags(*names, **extra))


def on_commands(observer: TelegramEventObserver, *handlers: Any) -> None:
    """Register each handler for the one command its name says (`warn_command` is /warn,
    `faq_add` is /faq_add), with the table's role and place; a handler for several commands
    goes through `on_command`. `tests/test_command_table.py` catches a name off the table."""
    for handler in handlers:
        on_command(observer, handler, handler.__name__.removesuffix("_command"))


def visible_commands(
    roles: Roles, chat_type: str, commands: Iterable[CommandSpec] = COMMANDS
) -> dict[Requirement, list[CommandSpec]]:
    """Commands this user may use in this kind of chat, grouped by the role that grants them."""
    grouped: dict[Requirement, list[CommandSpec]] = {}
    for spec in commands:
        if spec.usable_in(chat_type) and roles.satisfies(spec.role):
            group = Requirement.MEMBER if spec.role is Requirement.MEMBER else spec.role
            grouped.setdefault(group, []).append(spec)
    return grouped


def _menu(i18n: I18n, locale: str, specs: Iterable[CommandSpec]) -> list[BotCommand]:
    return [
        BotCommand(
            command=s.name, description=cut_to(i18n.gettext(s.description, locale=locale), 256)
        )
        for s in specs
    ]


def menu_plan(
    manager_ids: Iterable[int], group_ids: Iterable[int], commands: Iterable[CommandSpec] = COMMANDS
) -> list[tuple[BotCommandScopeUnion, list[CommandSpec]]]:
    """Which commands each menu scope shows. Pure, so the plan is testable without Telegram."""
    commands = tuple(commands)
    member = Roles(is_manager=False, is_admin=False)
    admin = Roles(is_manager=False, is_admin=True)
    manager = Roles(is_manager=True, is_admin=False)

    def pick(roles: Roles, chat_type: str) -> list[CommandSpec]:
        return [s for s in commands if s.usable_in(chat_type) and roles.satisfies(s.role)]

    plan: list[tuple[BotCommandScopeUnion, list[CommandSpec]]] = [
        (BotCommandScopeAllPrivateChats(), pick(member, "private")),
        (BotCommandScopeAllGroupChats(), pick(member, "supergroup")),
        (BotCommandScopeAllChatAdministrators(), pick(admin, "supergroup")),
    ]
    plan += [(BotCommandScopeChat(chat_id=m), pick(manager, "private")) for m in manager_ids]
    plan += [
        (BotCommandScopeChatAdministrators(chat_id=g), pick(admin, "supergroup")) for g in group_ids
    ]
    return plan


async def register_command_menus(
    bot: Bot,
    i18n: I18n,
    languages: tuple[str, ...],
    manager_ids: Iterable[int],
    group_ids: Iterable[int],
    missed_managers: set[int] | None = None,
) -> int:
    """Set every scope's menu in every language; returns how many calls succeeded.

    A failing scope (e.g. a manager who never opened the bot: "chat not found") is logged and
    skipped; menus are a convenience and must not stop the bot from starting. Managers whose
    menu could not be set are added to `missed_managers` (see `ManagerMenus`).
    """
    done = 0
    for scope, specs in menu_plan(manager_ids, group_ids):
        # The default (no language_code) menu speaks the first configured language.
        for language_code, locale in [(None, languages[0]), *[(lang, lang) for lang in languages]]:
            try:
                await bot.set_my_commands(
                    _menu(i18n, locale, specs), scope=scope, language_code=language_code
                )
                done += 1
            except TelegramAPIError as exc:
                logger.warning("could not set commands for %s: %s", scope.type, exc)
                if missed_managers is not None and isinstance(scope, BotCommandScopeChat):
                    missed_managers.add(int(scope.chat_id))
                break
    return done


class ManagerMenus:
    """A manager's own command menu (scope: their private chat) is refused by Telegram until
    they have started the bot ("chat not found"), so setting it at start-up leaves out the
    managers who most need it: the new ones. Those are kept here and get their menu after their
    next private message (or unblocking), as the calendar button does (bot/miniapp/menu.py)."""

    def __init__(self, bot: Bot, i18n: I18n, languages: tuple[str, ...]) -> None:
        self.bot = bot
        self.i18n = i18n
        self.languages = languages
        self.missed: set[int] = set()

    async def ensure(self, user_id: int) -> bool:
        """Set a missed manager's menu in every language; True once it is set."""
        if user_id not in self.missed:
            return True
        specs = menu_plan((user_id,), ())[-1][1]
        for language_code, locale in [
            (None, self.languages[0]),
            *[(lang, lang) for lang in self.languages],
        ]:
            try:
                await self.bot.set_my_commands(
                    _menu(self.i18n, locale, specs),
                    scope=BotCommandScopeChat(chat_id=user_id),
                    language_code=language_code,
                )
            except TelegramAPIError as exc:
                logger.info("manager %s's commands still not set: %s", user_id, exc)
                return False
        self.missed.discard(user_id)
        return True


async def register_group_admin_menu(
    bot: Bot, i18n: I18n, languages: tuple[str, ...], chat_id: int
) -> None:
    """Menu for the admins of one group, set when the bot joins it."""
    specs = menu_plan((), (chat_id,))[-1][1]
    for language_code, locale in [(None, languages[0]), *[(lang, lang) for lang in languages]]:
        try:
            await bot.set_my_commands(
                _menu(i18n, locale, specs),
                scope=BotCommandScopeChatAdministrators(chat_id=chat_id),
                language_code=language_code,
            )
        except TelegramAPIError as exc:
            logger.warning("could not set admin commands for %s: %s", chat_id, exc)
            return
