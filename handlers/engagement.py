"""Quizzes and giveaways: commands, poll answers and the Participate button."""

from __future__ import annotations

import html
import io
import logging
from datetime import UTC, datetime

from aiogram import Bot, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import Command, CommandObject
from aiogram.types import BufferedInputFile, CallbackQuery, Message, PollAnswer
from aiogram.utils.i18n import get_i18n
from aiogram.utils.i18n import gettext as _

from bot.config import Settings
from bot.engagement.giveaways import (
    GiveawayArgsError,
    GiveawayCallback,
    GiveawayService,
    parse_giveaway,
)
from bot.engagement.quiz_format import (
    Question,
    QuizDraft,
    QuizFormatError,
    parse_quiz_json,
    parse_quiz_text,
)
from bot.engagement.quizzes import QuizRunner
from bot.engagement.topics import send_in_topic
from bot.middlewares import is_command_text
from bot.moderation.durations import looks_like_duration, parse_duration
from bot.roles import Roles, RoleService
from bot.topics import thread_of
from storage.engagement import GiveawayRepository, QuizRepository

logger = logging.getLogger(__name__)

ORGANISER = {"role": "admin_or_manager"}
MAX_IMPORT_BYTES = 1_000_000
DEFAULT_INTERVAL = 30


def quiz_error_text(error: QuizFormatError) -> str:
    messages = {
        "no_title": _("The first line after /quiz_add must be the quiz title."),
        "no_questions": _("The quiz has no questions. Start each one with “Q:”."),
        "bad_question": _(
            "Line {line}: a question needs text after “Q:” (at most 300 characters)."
        ),
        "bad_option": _(
            "Line {line}: an option needs text after “+” or “-” (at most 100 characters)."
        ),
        "too_few_options": _("The question on line {line} needs at least two options."),
        "too_many_options": _("Line {line}: a question can have at most 12 options."),
        "no_correct": _("The question on line {line} needs one correct option marked with “+”."),
        "two_correct": _("Line {line}: only one option can be marked correct with “+”."),
        "unknown_line": _(
            "Line {line} is not a question (Q:), an option (+ or -) or an explanation (E:)."
        ),
        "too_long": _("Line {line} is too long."),
        "too_many_questions": _("A quiz can have at most 100 questions."),
        "bad_json": _("This file is not a quiz in Steward's JSON format (see /quiz_export)."),
    }
    return messages.get(error.code, messages["bad_json"]).format(line=error.line)


async def _may_manage_chat(roles: RoleService, chat_id: int | None, user_id: int) -> bool:
    """Managers manage everything; a chat admin manages their chat's quizzes and giveaways."""
    if roles.is_manager(user_id):
        return True
    return chat_id is not None and await roles.is_chat_admin(chat_id, user_id)


# --- quizzes ----------------------------------------------------------------------------------


async def quiz_add(
    message: Message,
    command: CommandObject,
    bot: Bot,
    quiz_repo: QuizRepository,
    runner: QuizRunner,
) -> None:
    owner = message.chat.id if message.chat.type != "private" else None
    document = message.reply_to_message.document if message.reply_to_message else None
    try:
        if document is not None:
            if (document.file_size or 0) > MAX_IMPORT_BYTES:
                await message.reply(_("The file is too large (at most 1 MB)."))
                return
            buffer = io.BytesIO()
            await bot.download(document, destination=buffer)
            draft = parse_quiz_json(buffer.getvalue())
        else:
            text = (message.text or "").split(maxsplit=1)
            if len(text) < 2:
                await message.reply(
                    html.escape(
                        _(
                            "Usage: /quiz_add Title, then on the next lines:\nQ: question\n"
                            "+ correct option\n- wrong option\nE: explanation (optional)\n"
                            "Or reply to a JSON file from /quiz_export."
                        )
                    )
                )
                return
            draft = parse_quiz_text(text[1])
    except QuizFormatError as exc:
        await message.reply(html.escape(quiz_error_text(exc)))
        return
    quiz_id = await quiz_repo.add_quiz(
        owner,
        draft.title,
        message.from_user.id if message.from_user else None,
        [(q.text, q.options, q.correct, q.explanation) for q in draft.questions],
        int(runner.clock()),
    )
    await message.reply(
        _(
            "Quiz #{id} “{title}” saved with {count} questions. Start it with /quiz_start {id}."
        ).format(id=quiz_id, title=html.escape(draft.title), count=len(draft.questions))
    )


async def quiz_list(message: Message, quiz_repo: QuizRepository, roles: Roles) -> None:
    chat_id = message.chat.id if message.chat.type != "private" else None
    quizzes = await quiz_repo.list_quizzes(chat_id)
    if not quizzes:
        await message.reply(_("No quizzes yet. Create one with /quiz_add."))
        return
    lines = [_("Quizzes:")]
    lines += [f"#{q['id']} {html.escape(q['title'])} ({q['questions']})" for q in quizzes]
    await message.reply("\n".join(lines))


async def _quiz_for(
    message: Message, command: CommandObject, quiz_repo: QuizRepository, role_service: RoleService
) -> dict | None:
    arg = (command.args or "").split()
    if not arg or not arg[0].lstrip("#").isdigit():
        await message.reply(
            _("Give the quiz number, e.g. /{command} 3 (see /quiz_list).").format(
                command=command.command
            )
        )
        return None
    quiz = await quiz_repo.quiz(int(arg[0].lstrip("#")))
    here = message.chat.id if message.chat.type != "private" else None
    user_id = message.from_user.id if message.from_user else 0
    if quiz is None or (
        quiz["owner_chat"] not in (None, here) and not role_service.is_manager(user_id)
    ):
        await message.reply(_("There is no quiz #{id} here.").format(id=arg[0].lstrip("#")))
        return None
    return quiz


async def quiz_del(
    message: Message, command: CommandObject, quiz_repo: QuizRepository, role_service: RoleService
) -> None:
    quiz = await _quiz_for(message, command, quiz_repo, role_service)
    if quiz is None:
        return
    if quiz["owner_chat"] is None and not role_service.is_manager(message.from_user.id):
        await message.reply(_("Only Steward's managers can use this command."))
        return
    await quiz_repo.delete_quiz(quiz["id"])
    await message.reply(_("Quiz #{id} deleted.").format(id=quiz["id"]))


async def quiz_export(
    message: Message, command: CommandObject, quiz_repo: QuizRepository, role_service: RoleService
) -> None:
    quiz = await _quiz_for(message, command, quiz_repo, role_service)
    if quiz is None:
        return
    questions = [
        Question(q.text, q.options, q.correct, q.explanation)
        for q in await quiz_repo.questions(quiz["id"])
    ]
    data = QuizDraft(quiz["title"], questions).to_json().encode()
    await message.reply_document(
        BufferedInputFile(data, filename=f"quiz-{quiz['id']}.json"),
        caption=_("Quiz #{id}: reply to this file with /quiz_add to import it.").format(
            id=quiz["id"]
        ),
    )


def parse_interval(token: str | None) -> int | None:
    if token is None:
        return DEFAULT_INTERVAL
    if token.isdigit():
        seconds = int(token)
    elif looks_like_duration(token):
        seconds = int(parse_duration(token).total_seconds())
    else:
        return None
    return seconds if 5 <= seconds <= 600 else None  # Telegram's open_period starts at 5 s


async def quiz_start(
    message: Message,
    command: CommandObject,
    quiz_repo: QuizRepository,
    role_service: RoleService,
    runner: QuizRunner,
) -> None:
    """In a group: /quiz_start <id> [interval]. A manager in private: /quiz_start <id> <chat id>
    [interval]."""
    quiz = await _quiz_for(message, command, quiz_repo, role_service)
    if quiz is None:
        return
    args = (command.args or "").split()[1:]
    if message.chat.type == "private":
        if not args or not args[0].lstrip("-").isdigit():
            usage = _("In private, name the chat: /quiz_start {id} <chat id> [interval]")
            await message.reply(html.escape(usage.format(id=quiz["id"])))
            return
        chat_id = int(args.pop(0))
        thread_id = None
    else:
        chat_id = message.chat.id
        thread_id = thread_of(message)
    interval = parse_interval(args[0] if args else None)
    if interval is None:
        await message.reply(
            _("The time per question must be 5 seconds to 10 minutes, e.g. 30 or 1m.")
        )
        return
    run_id = await runner.start(quiz["id"], chat_id, message.from_user.id, interval, thread_id)
    if run_id is None:
        await message.reply(_("A quiz is already running there; end it with /quiz_stop."))
        return
    count = len(await quiz_repo.questions(quiz["id"]))
    await message.reply(
        _("Quiz “{title}” starts: {count} questions, {interval} seconds each.").format(
            title=html.escape(quiz["title"]), count=count, interval=interval
        )
    )


async def quiz_stop(message: Message, quiz_repo: QuizRepository, runner: QuizRunner) -> None:
    run = await quiz_repo.running_in(message.chat.id)
    if run is None:
        await message.reply(_("No quiz is running in this chat."))
        return
    await runner.finish(run["id"], "stopped")


async def quiz_top(message: Message, quiz_repo: QuizRepository, runner: QuizRunner) -> None:
    rows = await quiz_repo.season(message.chat.id)
    await message.reply(runner.render_season(rows, get_i18n().current_locale))


async def poll_answer(answer: PollAnswer, runner: QuizRunner) -> None:
    await runner.answer(answer)


# --- giveaways --------------------------------------------------------------------------------


def giveaway_error_text(code: str) -> str:
    return {
        "no_channel": _("In private, name the channel first: /giveaway @channel 1d 3 Prize"),
        "bad_end": _("Start with the duration or end time: 2h, 3d, 18:00 or 25.12 18:00."),
        "past": _("That end time has already passed."),
        "bad_winners": _(
            "After the time give the number of winners (1-100), e.g. /giveaway 1d 3 Three T-shirts"
        ),
        "no_prize": _("Describe the prize after the number of winners."),
    }[code]


async def giveaway_command(
    message: Message,
    command: CommandObject,
    bot: Bot,
    giveaways: GiveawayService,
    role_service: RoleService,
    settings: Settings,
) -> None:
    private = message.chat.type == "private"
    try:
        request = parse_giveaway(command.args or "", datetime.now(UTC), settings.timezone, private)
    except GiveawayArgsError as exc:
        usage = _(
            "Usage: /giveaway <duration or end time> <winners> <prize> "
            "[require=@channel] [exclude_admins] [exclude_winners] [private]"
        )
        await message.reply(html.escape(giveaway_error_text(exc.code) + "\n" + usage))
        return
    chat_id = message.chat.id
    thread_id = None if private else thread_of(message)
    if private:
        if not role_service.is_manager(message.from_user.id):
            await message.reply(_("Only Steward's managers can use this command."))
            return
        try:
            chat = await bot.get_chat(request.channel)
        except TelegramAPIError:
            await message.reply(
                _("I can't find {chat}; add me to it as an admin first.").format(
                    chat=html.escape(request.channel or "")
                )
            )
            return
        chat_id = chat.id
    try:
        giveaway = await giveaways.create(chat_id, message.from_user.id, request, thread_id)
    except TelegramAPIError as exc:
        await message.reply(
            _("I could not post the giveaway there: {error}").format(error=html.escape(exc.message))
        )
        return
    if private:
        await message.reply(_("Giveaway #{id} is posted.").format(id=giveaway.id))


async def participate(
    query: CallbackQuery, callback_data: GiveawayCallback, giveaways: GiveawayService
) -> None:
    outcome, reason = await giveaways.enter(callback_data.giveaway_id, query.from_user)
    locale = get_i18n().current_locale
    texts = {
        "entered": _("You are in! Good luck 🍀"),
        "already": _("You are already taking part."),
        "closed": _("This giveaway is over."),
    }
    if outcome == "refused":
        text = _("You can't take part yet: {reason}.").format(
            reason=giveaways.reason_text(reason or "", locale)
        )
    else:
        text = texts[outcome]
    await query.answer(text, show_alert=outcome != "entered")


async def _giveaway_arg(
    message: Message,
    command: CommandObject,
    repo: GiveawayRepository,
    role_service: RoleService,
    need_rights: bool,
):
    args = (command.args or "").split()
    if not args or not args[0].lstrip("#").isdigit():
        await message.reply(
            _("Give the giveaway number, e.g. /{command} 4.").format(command=command.command)
        )
        return None, args
    giveaway = await repo.get(int(args[0].lstrip("#")))
    if giveaway is None:
        await message.reply(_("There is no giveaway #{id}.").format(id=args[0].lstrip("#")))
        return None, args
    if need_rights and not await _may_manage_chat(
        role_service, giveaway.chat_id, message.from_user.id
    ):
        await message.reply(_("Only admins of that chat or Steward's managers can do this."))
        return None, args
    return giveaway, args[1:]


async def giveaway_end(
    message: Message,
    command: CommandObject,
    giveaway_repo: GiveawayRepository,
    giveaways: GiveawayService,
    role_service: RoleService,
) -> None:
    giveaway, _rest = await _giveaway_arg(message, command, giveaway_repo, role_service, True)
    if giveaway is None:
        return
    if not await giveaways.end(giveaway.id):
        await message.reply(_("Giveaway #{id} was already drawn.").format(id=giveaway.id))


async def giveaway_verify(
    message: Message,
    command: CommandObject,
    giveaway_repo: GiveawayRepository,
    giveaways: GiveawayService,
    role_service: RoleService,
) -> None:
    giveaway, _rest = await _giveaway_arg(message, command, giveaway_repo, role_service, False)
    if giveaway is None:
        return
    check = await giveaways.verify(giveaway.id)
    if check is None:
        await message.reply(_("Giveaway #{id} has not been drawn yet.").format(id=giveaway.id))
        return
    ok = "✅" if check["commitment_ok"] else "❌"
    ok2 = "✅" if check["winners_ok"] else "❌"
    await message.reply(
        _(
            "Giveaway #{id}: seed matches the commitment {ok}; winners follow from the seed and "
            "the {count} entrants {ok2}."
        ).format(id=giveaway.id, ok=ok, ok2=ok2, count=check["entrants"])
    )


async def reroll_command(
    message: Message,
    command: CommandObject,
    giveaway_repo: GiveawayRepository,
    giveaways: GiveawayService,
    role_service: RoleService,
) -> None:
    giveaway, rest = await _giveaway_arg(message, command, giveaway_repo, role_service, True)
    if giveaway is None:
        return
    count = int(rest[0]) if rest and rest[0].isdigit() and 0 < int(rest[0]) <= 100 else 1
    result = await giveaways.reroll(giveaway.id, count)
    if result is None:
        await message.reply(_("Giveaway #{id} has not been drawn yet.").format(id=giveaway.id))
        return
    winners, skipped = result
    entries = await giveaway_repo.entries(giveaway.id)
    if not winners:
        await message.reply(_("No more eligible entrants to draw from."))
        return
    locale = get_i18n().current_locale
    lines = [
        _("New winners of giveaway #{id} (next in the same draw order):").format(id=giveaway.id)
    ]
    lines += [f"{n}. {giveaways.mention(uid, entries)}" for n, uid in enumerate(winners, 1)]
    lines += giveaways.skipped_lines(skipped, entries, locale)
    await bot_send(message, "\n".join(lines), giveaway.chat_id, giveaway.thread_id)


async def bot_send(message: Message, text: str, chat_id: int, thread_id: int | None) -> None:
    """Announce in the giveaway's chat and topic; tell the caller too when they asked from
    elsewhere."""
    await send_in_topic(message.bot, chat_id, text, thread_id)
    if message.chat.id != chat_id:
        await message.reply(text)


def create_router() -> Router:
    router = Router(name="engagement")
    m = router.message
    m.filter(is_command_text)
    m.register(quiz_add, Command("quiz_add"), flags=ORGANISER)
    m.register(quiz_list, Command("quiz_list"), flags=ORGANISER)
    m.register(quiz_del, Command("quiz_del"), flags=ORGANISER)
    m.register(quiz_export, Command("quiz_export"), flags=ORGANISER)
    m.register(quiz_start, Command("quiz_start"), flags=ORGANISER)
    m.register(quiz_stop, Command("quiz_stop"), flags={"role": "admin", "chat": "group"})
    m.register(quiz_top, Command("quiz_top"), flags={"chat": "group"})
    m.register(giveaway_command, Command("giveaway"), flags=ORGANISER)
    m.register(giveaway_end, Command("giveaway_end"))
    m.register(giveaway_verify, Command("giveaway_verify"))
    m.register(reroll_command, Command("reroll"))
    router.poll_answer.register(poll_answer)
    router.callback_query.register(participate, GiveawayCallback.filter())
    return router
