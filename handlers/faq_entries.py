"""Managing the FAQ: /faq_add, /faq_edit, /faq_del (with undo), /faq_list, /faq_export and
/faq_import, for chat admins (their chat's entries) and managers (all entries; in private the
global ones). What may be changed is decided by `FaqService.editable`."""

from __future__ import annotations

import html
import io
import logging

from aiogram import Bot, F, Router
from aiogram.filters import CommandObject
from aiogram.types import BufferedInputFile, CallbackQuery, Message
from aiogram.utils.i18n import gettext as _
from aiogram.utils.i18n import ngettext

from bot.chat_registry import ChatRegistry
from bot.commands import on_commands
from bot.config import Settings
from bot.faq.buttons import FaqAction, FaqCallback, undo_keyboard
from bot.faq.service import (
    EditRefusal,
    FaqService,
    detect_language,
    parse_add_args,
    unspoken_language_prefix,
)
from bot.faq.transfer import (
    MAX_FILE_BYTES,
    MAX_PHRASING,
    Unreadable,
    UnreadableFile,
    export_csv_parts,
    export_json_parts,
    parse_import,
)
from bot.guards import accessible_message, sender
from bot.i18n import LocaleFor
from bot.roles import Roles, RoleService
from bot.texts import command_args_html, pack_lines
from storage.faq import Answer, Entry

logger = logging.getLogger(__name__)

MAX_LIST_LINES = 60
MAX_REJECTS_LISTED = 10  # an import report names this many rejected entries, then counts


def scope_of(message: Message) -> int | None:
    """Entries made in a group belong to it; a manager's entries made in private are global."""
    return None if message.chat.type == "private" else message.chat.id


# --- managing entries -------------------------------------------------------------------------


def add_usage() -> str:
    return html.escape(
        _(
            "Usage: /faq_add <question>[; <other wording>…] | <answer>\n"
            "Or reply to a message with /faq_add <question>[; …] to use it as the answer.\n"
            "Start with ru: or nl: to set the language."
        )
    )


def answer_from(message: Message, answer_html: str, language: str) -> Answer | None:
    if answer_html:
        return Answer(language, answer_html)
    source = message.reply_to_message
    if source is None:
        return None
    return Answer(language, "", source.chat.id, source.message_id)


async def refused_as_too_long(message: Message, phrasings: list[str]) -> bool:
    """A wording longer than an import takes back is refused here, so every entry can go
    through /faq_export and /faq_import."""
    if all(len(p) <= MAX_PHRASING for p in phrasings):
        return False
    await message.reply(
        ngettext(
            "A question may have at most {count} character.",
            "A question may have at most {count} characters.",
            MAX_PHRASING,
        ).format(count=MAX_PHRASING)
    )
    return True


async def refused_language(message: Message, args: str, settings: Settings) -> bool:
    """ "de: …" where the bot has no German: said so, and nothing is stored."""
    code = unspoken_language_prefix(args, settings.languages)
    if code is None:
        return False
    await message.reply(
        _("I speak {languages}: there are no FAQ answers in {language} here.").format(
            languages=", ".join(settings.languages), language=code
        )
    )
    return True


async def faq_add(
    message: Message,
    command: CommandObject,
    faq: FaqService,
    settings: Settings,
    locale_for: LocaleFor,
) -> None:
    if await refused_language(message, command.args or "", settings):
        return
    args = parse_add_args(command.args or "", command_args_html(message), settings.languages)
    if args is None or not args.phrasings:
        await message.reply(add_usage())
        return
    if await refused_as_too_long(message, args.phrasings):
        return
    language = (
        args.language
        or detect_language(" ".join(args.phrasings), settings.languages)
        or await locale_for(message.chat.id)
    )
    answer = answer_from(message, args.answer_html, language)
    if answer is None:
        await message.reply(add_usage())
        return
    entry_id = await faq.add_entry(
        scope_of(message),
        language,
        [(language, p) for p in args.phrasings],
        answer,
        sender(message).id,
    )
    where = _("all chats") if scope_of(message) is None else _("this chat")
    await message.reply(
        _("✅ FAQ entry #{id} added ({language}, {where}): {question}").format(
            id=entry_id, language=language, where=where, question=html.escape(args.phrasings[0])
        )
    )


def shared_refusal() -> str:
    return _("Only Steward's managers can change entries shared by all chats.")


async def editable_entry(
    message: Message, raw_id: str, faq: FaqService, roles: Roles, usage: str
) -> Entry | None:
    """The entry named by `raw_id` if this user may change it here; answers the reason if not
    (`usage` when `raw_id` is no entry id at all)."""
    found = await faq.editable(raw_id, scope_of(message), roles.is_manager, roles.is_admin)
    refusal = found.refusal
    if refusal is EditRefusal.NOT_AN_ID:
        await message.reply(usage)
    elif refusal is EditRefusal.NOT_HERE:
        await message.reply(_("There is no FAQ entry #{id} here.").format(id=raw_id.lstrip("#")))
    elif refusal is EditRefusal.SHARED:
        await message.reply(shared_refusal())
    return found.entry


async def faq_edit(
    message: Message,
    command: CommandObject,
    faq: FaqService,
    settings: Settings,
    roles: Roles,
) -> None:
    raw = (command.args or "").split(maxsplit=1)
    usage = html.escape(
        _(
            "Usage: /faq_edit <id> [ru:] [<question>; …] | [<answer>]\n"
            "Questions replace that language's wordings; an answer replaces its answer; a new "
            "language adds a translation. Reply to a message to make it the answer."
        )
    )
    if not raw:
        await message.reply(usage)
        return
    entry = await editable_entry(message, raw[0], faq, roles, usage)
    if entry is None or await refused_language(message, raw[1] if len(raw) > 1 else "", settings):
        return
    html_rest = command_args_html(message).split(maxsplit=1)
    args = parse_add_args(
        raw[1] if len(raw) > 1 else "",
        html_rest[1] if len(html_rest) > 1 else "",
        settings.languages,
    )
    if args is not None and await refused_as_too_long(message, args.phrasings):
        return
    language = (args.language if args else None) or entry.language
    answer = answer_from(message, args.answer_html if args else "", language)
    phrasings = args.phrasings if args else []
    if not phrasings and answer is None:
        await message.reply(usage)
        return
    if language not in entry.answers and answer is None:
        await message.reply(html.escape(_("A new language needs its answer too: add | <answer>.")))
        return
    await faq.set_language(entry.id, language, phrasings, answer)
    await message.reply(
        _("✏️ FAQ entry #{id} updated ({language}).").format(id=entry.id, language=language)
    )


async def faq_del(
    message: Message,
    command: CommandObject,
    faq: FaqService,
    roles: Roles,
) -> None:
    raw = (command.args or "").strip()
    usage = html.escape(_("Usage: /faq_del <id>"))
    if not raw:
        await message.reply(usage)
        return
    entry = await editable_entry(message, raw, faq, roles, usage)
    if entry is None:
        return
    await faq.delete_entry(entry.id)
    await message.reply(
        _("🗑 FAQ entry #{id} deleted: {question}").format(
            id=entry.id, question=html.escape(entry.title(entry.language))
        ),
        reply_markup=undo_keyboard(entry.id),
    )


async def faq_list(message: Message, faq: FaqService, chat_registry: ChatRegistry) -> None:
    entries = await faq.listed(None if message.chat.type == "private" else message.chat.id)
    if not entries:
        await message.reply(html.escape(_("The FAQ is empty. Add an entry with /faq_add.")))
        return
    lines = [_("FAQ entries:")]
    # in private (a manager's list of every chat's entries) a chat's entry names its chat
    chats = {e.chat_id for e in entries[:MAX_LIST_LINES] if e.chat_id is not None}
    private = message.chat.type == "private"
    titles = {c: await chat_registry.title(c) for c in chats} if private else {}
    for entry in entries[:MAX_LIST_LINES]:
        languages = ",".join(sorted(entry.answers))
        scope = "🌐" if entry.chat_id is None else ""
        place = f" · 💬 {html.escape(titles[entry.chat_id])}" if entry.chat_id in titles else ""
        lines.append(
            f"#{entry.id}{scope} [{languages}] {html.escape(entry.title(entry.language))} "
            f"· {len(entry.phrasings)}✍️ · 👍{entry.up} 👎{entry.down}{place}"
        )
    if len(entries) > MAX_LIST_LINES:
        lines.append(
            _("…and {count} more: /faq_export has them all.").format(
                count=len(entries) - MAX_LIST_LINES
            )
        )
    for text in pack_lines(lines):  # long wordings: more than one message holds
        await message.reply(text)


async def faq_export(message: Message, command: CommandObject, faq: FaqService) -> None:
    """The entries as JSON, or with `csv` as a CSV for spreadsheets (its `id` column keeps each
    entry's translations together, so either loads back)."""
    kind = (command.args or "json").strip().lower()
    if kind not in ("json", "csv"):
        await message.reply(html.escape(_("Usage: /faq_export [csv]")))
        return
    entries = await faq.listed(None if message.chat.type == "private" else message.chat.id)
    private = message.chat.type == "private"
    stem = "faq-all" if private else f"faq-{message.chat.id}"
    files = export_csv_parts(entries) if kind == "csv" else export_json_parts(entries)
    if len(files) == 1:
        await message.reply_document(
            BufferedInputFile(files[0], filename=f"{stem}.{kind}"),
            caption=ngettext(
                "{count} FAQ entry. Reply to this file with /faq_import to load it.",
                "{count} FAQ entries. Reply to this file with /faq_import to load it.",
                len(entries),
            ).format(count=len(entries)),
        )
        return
    # more than a bot may download in one file: parts, each loads on its own
    for number, content in enumerate(files, start=1):
        await message.reply_document(
            BufferedInputFile(content, filename=f"{stem}-{number}.{kind}"),
            caption=ngettext(
                "{count} FAQ entry in {parts} files, this is file {number}. Reply to each "
                "with /faq_import to load it.",
                "{count} FAQ entries in {parts} files, this is file {number}. Reply to each "
                "with /faq_import to load it.",
                len(entries),
            ).format(count=len(entries), parts=len(files), number=number),
        )


def import_reason(code: str) -> str:
    return {
        "empty": _("no question or no answer"),
        "language": _("a language this bot does not speak"),
        "too_long": _("too long"),
        "format": _("not an FAQ entry"),
        "scope": _("shared by all chats: only managers may change it"),
        "source": _("its answer is a message in a chat you do not run"),
    }.get(code, code)


async def faq_import(
    message: Message,
    bot: Bot,
    faq: FaqService,
    settings: Settings,
    roles: Roles,
    role_service: RoleService,
) -> None:
    document = message.reply_to_message.document if message.reply_to_message else None
    if document is None:
        await message.reply(
            _(
                "Reply to a file with /faq_import: a JSON file from /faq_export, or a CSV "
                "with the columns question,answer,language."
            )
        )
        return
    if (document.file_size or 0) > MAX_FILE_BYTES:  # more than Telegram lets a bot download
        await message.reply(
            _("The file is too large (at most {size} MB).").format(size=MAX_FILE_BYTES >> 20)
        )
        return
    buffer = io.BytesIO()
    await bot.download(document, destination=buffer)
    try:
        plan = parse_import(document.file_name or "", buffer.getvalue(), settings.languages)
    except UnreadableFile as exc:
        await message.reply(
            _(
                "I can't read this file: it is not UTF-8 text. Save it as UTF-8 (in Excel: "
                "CSV UTF-8) and try again."
            )
            if exc.reason is Unreadable.ENCODING
            else _(
                "I can't read this file: use a JSON file from /faq_export, or a CSV with the "
                "columns question,answer,language."
            )
        )
        return
    importer = sender(message).id

    async def may_copy_from(chat_id: int) -> bool:
        """A manager may name any chat's message; an admin only those of chats they run."""
        return roles.is_manager or await role_service.is_chat_admin(chat_id, importer)

    result = await faq.apply_import(
        plan, scope_of(message), importer, roles.is_manager, may_copy_from
    )
    lines = [
        _(
            "📥 FAQ import: {added} added, {changed} changed, {same} unchanged, {rejected} "
            "rejected."
        ).format(
            added=result.added,
            changed=result.changed,
            same=result.unchanged,
            rejected=len(result.rejected),
        )
    ]
    for where, code in result.rejected[:MAX_REJECTS_LISTED]:
        lines.append(f"• {html.escape(where)}: {import_reason(code)}")
    if len(result.rejected) > MAX_REJECTS_LISTED:
        lines.append(
            _("…and {count} more.").format(count=len(result.rejected) - MAX_REJECTS_LISTED)
        )
    await message.reply("\n".join(lines))


async def undo_pressed(
    query: CallbackQuery, callback_data: FaqCallback, faq: FaqService, roles: Roles
) -> None:
    message = query.message
    if message is None or not (roles.is_manager or roles.is_admin):
        await query.answer(
            _("Only admins of this chat or Steward's managers can use this command."),
            show_alert=True,
        )
        return
    scope = None if message.chat.type == "private" else message.chat.id
    found = await faq.restorable(callback_data.entry, scope, roles.is_manager, roles.is_admin)
    if found.refusal is EditRefusal.SHARED:
        await query.answer(shared_refusal(), show_alert=True)
        return
    if found.entry is not None and await faq.restore_entry(found.entry.id):
        await accessible_message(query).edit_text(
            _("↩️ FAQ entry #{id} restored.").format(id=callback_data.entry)
        )
    await query.answer()


def create_router() -> Router:
    router = Router(name="faq-entries")
    m = router.message
    on_commands(m, faq_add, faq_edit, faq_del, faq_list, faq_export, faq_import)
    router.callback_query.register(undo_pressed, FaqCallback.filter(F.op == FaqAction.UNDO))
    return router
