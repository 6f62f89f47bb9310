"""Quizzes: /quiz_add (text or a JSON file), /quiz_list, /quiz_del, /quiz_export, /quiz_start,
/quiz_stop, /quiz_top, and members' poll answers. Running a quiz is `bot.engagement.quizzes`."""

from __future__ import annotations

import contextlib
import html
import io
import logging

from aiogram import Bot, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import CommandObject
from aiogram.types import BufferedInputFile, Message, PollAnswer
from aiogram.utils.i18n import get_i18n, ngettext
from aiogram.utils.i18n import gettext as _

from bot.commands import on_command
from bot.engagement.quiz_format import (
    MAX_TITLE,
    QuizDraft,
    QuizFormatError,
    QuizProblem,
    parse_quiz_json,
    parse_quiz_text,
)
from bot.engagement.quizzes import PlaceRefusal, QuizRefusal, QuizRunner, StartStatus
from bot.middlewares import is_command_text_or_caption
from bot.moderation.durations import looks_like_duration, parse_duration
from bot.roles import RoleService, organiser_id
from bot.texts import pack_lines, typed_chat_id
from bot.topics import thread_of
from storage.engagement import Quiz

logger = logging.getLogger(__name__)

MAX_IMPORT_BYTES = 1_000_000
DEFAULT_INTERVAL = 30


def quiz_error_text(error: QuizFormatError) -> str:
    messages = {
        QuizProblem.NO_TITLE: _("The first line after /quiz_add must be the quiz title."),
        QuizProblem.NO_QUESTIONS: _("The quiz has no questions. Start each one with “Q:”."),
        QuizProblem.BAD_QUESTION: _(
            "Line {line}: a question needs text after “Q:” (at most 300 characters)."
        ),
        QuizProblem.BAD_OPTION: _(
            "Line {line}: an option needs text after “+” or “-” (at most 100 characters)."
        ),
        QuizProblem.TOO_FEW_OPTIONS: _("The question on line {line} needs at least two options."),
        QuizProblem.TOO_MANY_OPTIONS: _("Line {line}: a question can have at most 12 options."),
        QuizProblem.NO_CORRECT: _(
            "The question on line {line} needs one correct option marked with “+”."
        ),
        QuizProblem.TWO_CORRECT: _("Line {line}: only one option can be marked correct with “+”."),
        QuizProblem.UNKNOWN_LINE: _(
            "Line {line} is not a question (Q:), an option (+ or -) or an explanation (E:)."
        ),
        QuizProblem.TOO_LONG: _("Line {line} is too long."),
        QuizProblem.TOO_MANY_QUESTIONS: _("A quiz can have at most 100 questions."),
        QuizProblem.SAME_OPTION: _(
            "Line {line}: “{option}” is already an option of this question; each option must "
            "be different."
        ),
        QuizProblem.SAME_FILE_OPTION: _(
            "Question {line} in the file has the option “{option}” twice; each option must be "
            "different."
        ),
        QuizProblem.BAD_FILE_TITLE: _(
            "The quiz's “title” in the file must be 1 to {max} characters long."
        ),
        QuizProblem.BAD_JSON: _(
            "This file is not a quiz in Steward's JSON format (see /quiz_export)."
        ),
        QuizProblem.BAD_FILE_QUESTION: _(
            "Question {line} in the file is not one Telegram takes: it needs its text (at most "
            "300 characters), 2 to 12 options (at most 100 characters each), “correct” as the "
            "number of the right option counted from 0, and an explanation of at most 200 "
            "characters and 3 lines."
        ),
    }
    return messages[error.code].format(line=error.line, option=error.detail, max=MAX_TITLE)


async def quiz_add(
    message: Message,
    command: CommandObject,
    bot: Bot,
    runner: QuizRunner,
) -> None:
    owner = message.chat.id if message.chat.type != "private" else None
    # the file itself with /quiz_add as its caption, or a reply to the file
    document = message.document or (
        message.reply_to_message.document if message.reply_to_message else None
    )
    try:
        if document is not None:
            if (document.file_size or 0) > MAX_IMPORT_BYTES:
                await message.reply(_("The file is too large (at most 1 MB)."))
                return
            buffer = io.BytesIO()
            await bot.download(document, destination=buffer)
            draft = parse_quiz_json(buffer.getvalue())
        else:
            text = message.text or ""
            body = text[len(text.split(maxsplit=1)[0]) :] if text.strip() else ""
            if not body.strip():
                await message.reply(
                    html.escape(
                        _(
                            "Usage: /quiz_add Title, then on the next lines:\nQ: question\n"
                            "+ correct option\n- wrong option\nE: explanation (optional)\n"
                            "Or send a JSON file from /quiz_export with /quiz_add as its "
                            "caption, or reply to it with /quiz_add."
                        )
                    )
                )
                return
            draft = parse_quiz_text(body)
    except QuizFormatError as exc:
        await message.reply(html.escape(quiz_error_text(exc)))
        return
    author = message.from_user.id if message.from_user else None
    quiz_id = await runner.save(owner, draft, author)
    await message.reply(
        ngettext(
            "Quiz #{id} “{title}” saved with {count} question. Start it with /quiz_start {id}.",
            "Quiz #{id} “{title}” saved with {count} questions. Start it with /quiz_start {id}.",
            len(draft.questions),
        ).format(id=quiz_id, title=html.escape(draft.title), count=len(draft.questions))
    )


async def quiz_list(message: Message, runner: QuizRunner) -> None:
    """In a group its quizzes and the shared ones; in a manager's private chat every quiz,
    a group's own marked with the group's id."""
    private = message.chat.type == "private"
    quizzes = await runner.every_quiz() if private else await runner.quizzes(message.chat.id)
    if not quizzes:
        await message.reply(_("No quizzes yet. Create one with /quiz_add."))
        return
    lines = [_("Quizzes:")]
    for q in quizzes:
        owner = f" · {q.owner_chat}" if private and q.owner_chat is not None else ""
        lines.append(f"#{q.id} {html.escape(q.title)} ({q.questions}){owner}")
    for text in pack_lines(lines):
        await message.reply(text)


async def _quiz_for(
    message: Message,
    command: CommandObject,
    runner: QuizRunner,
    role_service: RoleService,
    *,
    deleting: bool = False,
) -> Quiz | None:
    """The quiz the command names, or None once the refusal is sent."""
    raw_id = next(iter((command.args or "").split()), "")
    here = message.chat.id if message.chat.type != "private" else None
    user_id = message.from_user.id if message.from_user else 0
    found = await runner.usable(raw_id, here, role_service.is_manager(user_id), deleting=deleting)
    if isinstance(found, Quiz):
        return found
    text = {
        QuizRefusal.NOT_AN_ID: _("Give the quiz number, e.g. /{command} 3 (see /quiz_list)."),
        QuizRefusal.NOT_HERE: _("There is no quiz #{id} here."),
        QuizRefusal.MANAGERS_ONLY: _("Only Steward's managers can use this command."),
        QuizRefusal.RUNNING: _("Quiz #{id} is running; end it with /quiz_stop before deleting it."),
    }[found]
    await message.reply(text.format(command=command.command, id=raw_id.lstrip("#")))
    return None


async def quiz_del(
    message: Message, command: CommandObject, runner: QuizRunner, role_service: RoleService
) -> None:
    quiz = await _quiz_for(message, command, runner, role_service, deleting=True)
    if quiz is None:
        return
    await runner.delete(quiz.id)
    await message.reply(_("Quiz #{id} deleted.").format(id=quiz.id))


async def quiz_export(
    message: Message, command: CommandObject, runner: QuizRunner, role_service: RoleService
) -> None:
    quiz = await _quiz_for(message, command, runner, role_service)
    if quiz is None:
        return
    questions = await runner.questions(quiz.id)
    data = QuizDraft(quiz.title, questions).to_json().encode()
    await message.reply_document(
        BufferedInputFile(data, filename=f"quiz-{quiz.id}.json"),
        caption=_("Quiz #{id}: reply to this file with /quiz_add to import it.").format(id=quiz.id),
    )


def parse_interval(token: str | None) -> int | None:
    if token is None:
        return DEFAULT_INTERVAL
    if token.isdecimal():
        seconds = int(token)
    elif looks_like_duration(token):
        try:
            seconds = int(parse_duration(token).total_seconds())
        except ValueError:  # "0s"
            return None
    else:
        return None
    return seconds if 5 <= seconds <= 600 else None  # Telegram's open_period starts at 5 s


async def quiz_start(
    message: Message,
    command: CommandObject,
    role_service: RoleService,
    runner: QuizRunner,
) -> None:
    """In a group: /quiz_start <id> [interval]. A manager in private: /quiz_start <id> <chat id>
    [interval]."""
    quiz = await _quiz_for(message, command, runner, role_service)
    if quiz is None:
        return
    args = (command.args or "").split()[1:]
    if message.chat.type == "private":
        if not args or not (typed_chat_id(args[0]) or args[0].startswith("@")):
            usage = _("In private, name the chat: /quiz_start {id} <chat id> [interval]")
            await message.reply(html.escape(usage.format(id=quiz.id)))
            return
        named = args.pop(0)
        found = await runner.place(named)
        if found is PlaceRefusal.UNKNOWN:
            await message.reply(
                _("I can't find {chat}; add me to it as an admin first.").format(
                    chat=html.escape(named)
                )
            )
            return
        if found is PlaceRefusal.CHANNEL:
            await message.reply(
                _(
                    "Quizzes run in groups: in a channel Telegram does not say who answered a "
                    "poll, so nobody could be scored."
                )
            )
            return
        chat_id = found
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
    count = len(await runner.questions(quiz.id))

    announced: list[Message] = []

    async def announce() -> None:
        announced.append(
            await message.reply(
                ngettext(
                    "Quiz “{title}” starts: {count} question, {interval} seconds each.",
                    "Quiz “{title}” starts: {count} questions, {interval} seconds each.",
                    count,
                ).format(title=html.escape(quiz.title), count=count, interval=interval)
            )
        )

    started = await runner.start(
        quiz.id, chat_id, organiser_id(message), interval, thread_id, announce=announce
    )
    if started.status is StartStatus.BUSY:
        await message.reply(_("A quiz is already running there; end it with /quiz_stop."))
    elif started.status is StartStatus.REFUSED:
        for announcement in announced:  # "starts" was premature: only the refusal stays
            with contextlib.suppress(TelegramAPIError):
                await announcement.delete()
        await message.reply(
            _(
                "I could not post the quiz “{title}” there: Telegram said “{error}”. "
                "Check my rights in that chat and start it again."
            ).format(title=html.escape(quiz.title), error=html.escape(started.error or ""))
        )


async def quiz_stop(message: Message, command: CommandObject, runner: QuizRunner) -> None:
    """In a group: /quiz_stop. A manager in private: /quiz_stop <chat id>."""
    if message.chat.type != "private":
        stopped = await runner.stop_in(message.chat.id)
        if stopped is None:
            await message.reply(_("No quiz is running in this chat."))
        elif stopped.thread_id != thread_of(message):  # another topic: the results are not here
            await message.reply(
                _("The quiz in {chat} is stopped; its results are posted there.").format(
                    chat=html.escape(message.chat.title or str(message.chat.id))
                )
            )
        return
    named = next(iter((command.args or "").split()), "")
    if not named:
        await message.reply(html.escape(_("In private, name the chat: /quiz_stop <chat id>")))
        return
    chat_id = typed_chat_id(named) or await runner.place(named)
    if isinstance(chat_id, PlaceRefusal) or await runner.stop_in(chat_id) is None:
        await message.reply(_("No quiz is running in {chat}.").format(chat=html.escape(named)))
        return
    await message.reply(
        _("The quiz in {chat} is stopped; its results are posted there.").format(
            chat=html.escape(named)
        )
    )


async def quiz_top(message: Message, runner: QuizRunner) -> None:
    rows = await runner.season(message.chat.id)
    await message.reply(runner.render_season(rows, get_i18n().current_locale))


async def poll_answer(answer: PollAnswer, runner: QuizRunner) -> None:
    await runner.answer(answer)


def create_router() -> Router:
    router = Router(name="quizzes")
    m = router.message
    m.filter(is_command_text_or_caption)  # a quiz file comes with /quiz_add as its caption
    on_command(m, quiz_add, "quiz_add")
    on_command(m, quiz_list, "quiz_list")
    on_command(m, quiz_del, "quiz_del")
    on_command(m, quiz_export, "quiz_export")
    on_command(m, quiz_start, "quiz_start")
    on_command(m, quiz_stop, "quiz_stop")
    on_command(m, quiz_top, "quiz_top")
    router.poll_answer.register(poll_answer)
    return router
