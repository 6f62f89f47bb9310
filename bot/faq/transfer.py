"""FAQ export and import: Steward's JSON (lossless) and CSV for spreadsheets: the simple form
(question,answer,language; rows with the same answer are one entry) and the export's form, whose
`id` column makes rows of several languages one entry, so its translations survive a round trip.

The JSON format is also what `bench/faq_eval.py` reads, so an exported FAQ can be evaluated
against a community's own labelled questions.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from bot.texts import (
    BIGGEST_ID,
    TEXT_LIMIT,
    telegram_html,
    typed_chat_id,
    typed_id,
    visible_length,
)
from storage.faq import Answer, Entry

FORMAT = "steward-faq/1"
MAX_PHRASING = 300


_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+")


# What a member's message names rather than asks: a link (http(s), t.me, www., tg://, a bare
# domain with a path) or an @mention (Telegram usernames: 5-32 letters, digits, underscores;
# not an e-mail address, whose @ follows a letter).
_LINK_TAIL = r"(?:\S*[^\s)\]}>,.!?;:'\"])?"  # a closing bracket or mark after it is the text's
_NAMED = re.compile(
    rf"(?:https?://|tg://|www\.){_LINK_TAIL}"
    rf"|\b(?:telegram\.me|telegram\.dog|t\.me)/{_LINK_TAIL}"
    rf"|\b(?:[a-z0-9-]+\.)+[a-z]{{2,}}/{_LINK_TAIL}"
    r"|(?<![\w@])@[A-Za-z][A-Za-z0-9_]{3,31}\b",
    re.IGNORECASE,
)
_EMPTY_BRACKETS = re.compile(r"\(\s*\)|\[\s*\]|\{\s*\}|<\s*>")
_SPACE_BEFORE_MARK = re.compile(r"\s+([?!.,:;…])")


def without_names(text: str) -> str:
    """`text` without its @mentions and links, spacing tidied: the question it asks."""
    text = _EMPTY_BRACKETS.sub(" ", _NAMED.sub(" ", text))
    text = _SPACE_BEFORE_MARK.sub(r"\1", " ".join(text.split()))
    return text.strip(" ,;:-–—")


def faq_wording(question: str) -> str:
    """A member's question as an FAQ wording, which holds at most MAX_PHRASING characters (an
    export with a longer one would not load back): without its @mentions and links (another
    member asking would not name the same people or pages, and the wording would match every
    message that does), of a long message its last sentences, where people put what they ask
    after the story around it, else its last words that fit."""
    question = without_names(question)
    if len(question) <= MAX_PHRASING:
        return question
    kept = ""
    for sentence in reversed(_SENTENCE_END.split(question)):
        longer = f"{sentence} {kept}".strip()
        if len(longer) > MAX_PHRASING:
            break
        kept = longer
    if kept:
        return kept
    tail = question[-MAX_PHRASING:]
    cut = tail.find(" ")
    return tail[cut + 1 :] if 0 <= cut < len(tail) - 1 else tail


CSV_DELIMITERS = (",", ";", "\t")
MAX_ANSWER = TEXT_LIMIT  # characters a member reads: Telegram's limit, whatever the HTML adds


@dataclass
class ImportedEntry:
    id: int | None
    language: str
    phrasings: list[tuple[str, str]] = field(default_factory=list)
    answers: dict[str, Answer] = field(default_factory=dict)
    # where the file says the entry lived: a chat id, or None for all chats (`scope_given`
    # False: the file does not say, as a CSV never does)
    scope: int | None = None
    scope_given: bool = False
    where: str = ""  # how the import report names it: "#id", its place in the file, "line n"
    feedback: tuple[int, int] = (0, 0)  # 👍 and 👎 the export counted


@dataclass
class ImportPlan:
    entries: list[ImportedEntry]
    rejected: list[tuple[str, str]]  # (where, reason code)


# Telegram lets a bot download files of at most 20 MB: an import reads up to that, and an export
# comes in files that size or smaller, so every export loads back (a large FAQ in several).
MAX_FILE_BYTES = 20 * 1024 * 1024


def export_json(entries: Iterable[Entry]) -> bytes:
    return _json_file([_json_item(entry) for entry in entries])


def export_json_parts(entries: Iterable[Entry], max_bytes: int = MAX_FILE_BYTES) -> list[bytes]:
    """The export as files of at most `max_bytes` each (an import reads no more), each one
    complete on its own; at least one file, empty for an empty FAQ."""
    empty = len(_json_file([]))
    parts: list[list[dict[str, Any]]] = [[]]
    size = empty
    for entry in entries:
        item = _json_item(entry)
        grows = len(_json_file([item])) - empty + 2  # the ",\n" between items
        if parts[-1] and size + grows > max_bytes:
            parts.append([])
            size = empty
        parts[-1].append(item)
        size += grows
    return [_json_file(items) for items in parts]


CSV_COLUMNS = (
    "id",
    "scope",
    "language",
    "question",
    "answer",
    "answer_chat_id",
    "answer_message_id",
)
# a cell a spreadsheet would run as a formula gets this in front, and loses it on import
_FORMULA_START = ("=", "+", "-", "@", "'")


def export_csv_parts(entries: Iterable[Entry], max_bytes: int = MAX_FILE_BYTES) -> list[bytes]:
    """The export as CSV, one row per wording with its language's answer (a language with an
    answer and no wording: one row without a question); rows with the same id are one entry,
    so its translations load back with it. UTF-8 with a BOM, which Excel needs to read it as
    UTF-8. Files of at most `max_bytes`, never splitting an entry."""
    header = _csv_text([list(CSV_COLUMNS)])
    bom = "\ufeff"
    parts: list[list[str]] = [[]]
    size = len((bom + header).encode("utf-8"))
    for entry in entries:
        chunk = _csv_text(_csv_rows(entry))
        grows = len(chunk.encode("utf-8"))
        if parts[-1] and size + grows > max_bytes:
            parts.append([])
            size = len((bom + header).encode("utf-8"))
        parts[-1].append(chunk)
        size += grows
    return [(bom + header + "".join(chunks)).encode("utf-8") for chunks in parts]


def _csv_rows(entry: Entry) -> list[list[str]]:
    spoken = {lang for lang, _t in entry.phrasings} | set(entry.answers)
    rows = []
    for lang in [entry.language, *sorted(spoken - {entry.language})]:
        answer = entry.answers.get(lang)
        source = ["", ""]
        if answer is not None and answer.is_copy:
            source = [str(answer.source_chat_id), str(answer.source_message_id)]
        scope = "" if entry.chat_id is None else str(entry.chat_id)
        for wording in entry.phrasings_in(lang) or [""]:
            text = answer.text if answer is not None else ""
            rows.append([str(entry.id), scope, lang, _cell(wording), _cell(text), *source])
    return rows


def _cell(text: str) -> str:
    return f"'{text}" if text.startswith(_FORMULA_START) else text


def _uncell(text: str) -> str:
    return text[1:] if text.startswith("'") and text[1:].startswith(_FORMULA_START) else text


def _csv_text(rows: list[list[str]]) -> str:
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    return out.getvalue()


def _json_file(items: list[dict[str, Any]]) -> bytes:
    data = {"format": FORMAT, "entries": items}
    return json.dumps(data, ensure_ascii=False, indent=1).encode("utf-8")


def _json_item(entry: Entry) -> dict[str, Any]:
    phrasings: dict[str, list[str]] = {}
    for lang, text in entry.phrasings:
        phrasings.setdefault(lang, []).append(text)
    answers: dict[str, Any] = {}
    sources: dict[str, Any] = {}
    for lang, answer in entry.answers.items():
        answers[lang] = answer.text
        if answer.is_copy:
            sources[lang] = {
                "chat_id": answer.source_chat_id,
                "message_id": answer.source_message_id,
            }
    item: dict[str, Any] = {
        "id": entry.id,
        "scope": entry.chat_id,
        "language": entry.language,
        "phrasings": phrasings,
        "answers": answers,
    }
    if sources:
        item["answer_messages"] = sources
    if entry.up or entry.down:
        item["feedback"] = {"up": entry.up, "down": entry.down}
    return item


class Unreadable(StrEnum):
    FORMAT = "format"  # neither an export nor a CSV with the columns
    ENCODING = "encoding"  # text, but not UTF-8 (a spreadsheet's local code page)


class UnreadableFile(ValueError):
    def __init__(self, reason: Unreadable) -> None:
        super().__init__(reason.value)
        self.reason = reason


TEXT_SUFFIXES = (".csv", ".json", ".txt")


def parse_import(filename: str, content: bytes, languages: Iterable[str]) -> ImportPlan:
    """Reads either format; raises UnreadableFile when the file is neither."""
    languages = tuple(languages)
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        text_file = filename.lower().endswith(TEXT_SUFFIXES)
        raise UnreadableFile(Unreadable.ENCODING if text_file else Unreadable.FORMAT) from None
    if filename.lower().endswith(".json") or text.lstrip().startswith("{"):
        try:
            data = _readable(json.loads(text))
        except (json.JSONDecodeError, RecursionError):  # not JSON, or nested past any sense
            raise UnreadableFile(Unreadable.FORMAT) from None
        return _from_json(data, languages)
    return _from_csv(_CONTROL.sub("", text), languages)


# control characters no one reads (NUL, which PostgreSQL does not store in text, among them);
# tabs and line breaks stay
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _readable(data: Any) -> Any:
    """The parsed file with control characters taken out of every string (a JSON file can
    carry them escaped, as "\\u0000")."""
    if isinstance(data, str):
        return _CONTROL.sub("", data)
    if isinstance(data, list):
        return [_readable(item) for item in data]
    if isinstance(data, dict):
        return {_readable(key): _readable(value) for key, value in data.items()}
    return data


def _too_long(phrasings: list[tuple[str, str]], answers: dict[str, Answer]) -> bool:
    return any(len(t) > MAX_PHRASING for _l, t in phrasings) or any(
        visible_length(a.text) > MAX_ANSWER for a in answers.values()
    )


def _from_json(data: Any, languages: tuple[str, ...]) -> ImportPlan:
    if not isinstance(data, dict) or not isinstance(data.get("entries"), list):
        raise UnreadableFile(Unreadable.FORMAT)
    plan = ImportPlan([], [])
    for number, item in enumerate(data["entries"], start=1):
        where = f"#{item.get('id', number)}" if isinstance(item, dict) else f"{number}"
        if not isinstance(item, dict):
            plan.rejected.append((where, "format"))
            continue
        raw_phrasings = item.get("phrasings") or {}
        raw_answers = item.get("answers") or {}
        sources = item.get("answer_messages") or {}
        if not isinstance(raw_phrasings, dict) or not isinstance(raw_answers, dict):
            plan.rejected.append((where, "format"))
            continue
        unknown = (set(raw_phrasings) | set(raw_answers)) - set(languages)
        if unknown:
            plan.rejected.append((where, "language"))
            continue
        phrasings = [
            (lang, str(text).strip())
            for lang, texts in raw_phrasings.items()
            for text in (texts if isinstance(texts, list) else [texts])
            if str(text).strip()
        ]
        try:
            answers = _answers(raw_answers, sources)
        except ValueError:
            plan.rejected.append((where, "format"))
            continue
        if not phrasings or not answers:
            plan.rejected.append((where, "empty"))
            continue
        if _too_long(phrasings, answers):
            plan.rejected.append((where, "too_long"))
            continue
        declared = item.get("language")
        language = (
            declared if isinstance(declared, str) and declared in languages else phrasings[0][0]
        )
        entry_id = _stored_int(item.get("id"), 1)
        scope = item.get("scope")
        scope_given = "scope" in item and (scope is None or _stored_int(scope) not in (None, 0))
        plan.entries.append(
            ImportedEntry(
                entry_id,
                language,
                phrasings,
                answers,
                scope if scope_given else None,
                scope_given,
                where,
                _feedback(item.get("feedback")),
            )
        )
    return plan


def _feedback(raw: Any) -> tuple[int, int]:
    """The 👍/👎 counts of an exported entry; none when absent or not counts."""
    if not isinstance(raw, dict):
        return (0, 0)
    up, down = raw.get("up"), raw.get("down")
    up, down = _stored_int(up, 0), _stored_int(down, 0)
    if up is None or down is None:
        return (0, 0)
    return (up, down)


def _stored_int(raw: Any, least: int = -BIGGEST_ID) -> int | None:
    """A number of the file as the database can store it; None for anything else: true (a
    bool is an int to Python), 1e30 (past SQLite's INTEGER, which would stop the import
    halfway), a number below `least`."""
    if isinstance(raw, bool) or not isinstance(raw, int) or not least <= raw <= BIGGEST_ID:
        return None
    return raw


def _answers(raw_answers: dict[Any, Any], sources: Any) -> dict[str, Answer]:
    """An entry's answers per language; a media answer names its message by chat and id.
    ValueError when a message is named in any other shape (a hand-edited file)."""
    answers = {}
    for lang, text in raw_answers.items():
        source = sources.get(lang) if isinstance(sources, dict) else None
        if source:
            if not isinstance(source, dict):
                raise ValueError("format")
            chat_id = _stored_int(source.get("chat_id"))
            message_id = _stored_int(source.get("message_id"), 1)
            if not chat_id or message_id is None:
                raise ValueError("format")
            answers[lang] = Answer(lang, str(text or ""), chat_id, message_id)
        elif str(text or "").strip():
            answers[lang] = Answer(lang, telegram_html(str(text).strip()))
    return answers


def _delimiter(text: str) -> str:
    """What separates the columns: "," by the format, but a spreadsheet in a language whose
    decimal mark is a comma (Dutch, Russian Excel) saves ";", and some save tabs. The header
    line tells: the separator that splits it into question and answer."""
    header = text.split("\n", 1)[0]
    for delimiter in CSV_DELIMITERS:
        names = {name.strip().strip('"').lower() for name in header.split(delimiter)}
        if {"question", "answer"} <= names:
            return delimiter
    return ","


def _from_csv(text: str, languages: tuple[str, ...]) -> ImportPlan:
    """Rows with the same answer and language become one entry with several phrasings; with
    an `id` column (the export's form), rows with the same id are one entry in every language
    they have."""
    reader = csv.DictReader(io.StringIO(text), delimiter=_delimiter(text))
    fields = {(f or "").strip().lower() for f in reader.fieldnames or []}
    if not {"question", "answer"} <= fields:
        raise UnreadableFile(Unreadable.FORMAT)
    rows = [
        (number, {(k or "").strip().lower(): _uncell((v or "").strip()) for k, v in row.items()})
        for number, row in enumerate(reader, start=2)  # line 1 is the header
    ]
    if "id" in fields:
        return _csv_entries(rows, languages, "scope" in fields)
    plan = ImportPlan([], [])
    grouped: dict[tuple[str, str], ImportedEntry] = {}
    for number, row in rows:
        question, answer = row.get("question", ""), row.get("answer", "")
        language = (row.get("language") or languages[0]).lower()
        where = f"line {number}"
        if not question or not answer:
            plan.rejected.append((where, "empty"))
            continue
        if language not in languages:
            plan.rejected.append((where, "language"))
            continue
        if len(question) > MAX_PHRASING or visible_length(telegram_html(answer)) > MAX_ANSWER:
            plan.rejected.append((where, "too_long"))
            continue
        key = (answer, language)
        if key not in grouped:
            grouped[key] = ImportedEntry(
                None, language, [], {language: Answer(language, telegram_html(answer))}, where=where
            )
            plan.entries.append(grouped[key])
        grouped[key].phrasings.append((language, question))
    return plan


def _csv_entries(
    rows: list[tuple[int, dict[str, str]]], languages: tuple[str, ...], scope_given: bool
) -> ImportPlan:
    """The export's CSV: an entry per id (a number names a stored entry as in JSON; any other
    text only groups the rows), each row a wording in its language, the answer of that
    language on any of its rows (a media answer by its message's chat and id)."""
    plan = ImportPlan([], [])
    groups: dict[str, list[tuple[int, dict[str, str]]]] = {}
    for number, row in rows:
        key = row.get("id", "")
        if not key and not any(row.values()):
            continue  # a blank line a spreadsheet left
        if not key:  # no id: rows with the same answer are one entry, as without the column
            language = (row.get("language") or languages[0]).lower()
            key = f"\0{language}\0{row.get('answer', '')}"
        groups.setdefault(key, []).append((number, row))
    for key, group in groups.items():
        where = f"line {group[0][0]}"
        try:
            item = _csv_entry(key, group, languages, scope_given, where)
        except ValueError as exc:
            plan.rejected.append((where, str(exc)))
            continue
        plan.entries.append(item)
    return plan


def _csv_entry(
    key: str,
    group: list[tuple[int, dict[str, str]]],
    languages: tuple[str, ...],
    scope_given: bool,
    where: str,
) -> ImportedEntry:
    """One entry of the export's CSV; ValueError with the reason code when it cannot be one."""
    phrasings: list[tuple[str, str]] = []
    raw_answers: dict[str, Any] = {}
    sources: dict[str, Any] = {}
    scopes = set()
    for _number, row in group:
        language = (row.get("language") or languages[0]).lower()
        if language not in languages:
            raise ValueError("language")
        if row.get("question"):
            phrasings.append((language, row["question"]))
        chat, message = row.get("answer_chat_id", ""), row.get("answer_message_id", "")
        if (chat or message) and language not in sources:
            if typed_chat_id(chat) is None or typed_id(message) is None:
                raise ValueError("format")
            sources[language] = {"chat_id": int(chat), "message_id": int(message)}
            raw_answers.setdefault(language, row.get("answer", ""))
        elif row.get("answer") and not raw_answers.get(language):
            raw_answers[language] = row["answer"]
        scopes.add(row.get("scope", ""))
    answers = _answers(raw_answers, sources)
    if not phrasings or not answers:
        raise ValueError("empty")
    if _too_long(phrasings, answers):
        raise ValueError("too_long")
    scope: int | None = None
    if scope_given:  # one place for all the entry's rows: empty for all chats, else a chat
        raw_scope = scopes.pop() if len(scopes) == 1 else "?"
        scope = typed_chat_id(raw_scope) if raw_scope else None
        if raw_scope and scope is None:
            raise ValueError("format")
    first_language = (group[0][1].get("language") or languages[0]).lower()
    return ImportedEntry(
        typed_id(key), first_language, phrasings, answers, scope, scope_given, where
    )
