"""FAQ export and import: Steward's JSON (lossless) and a simple CSV (question,answer,language).

The JSON format is also what `bench/faq_eval.py` reads, so an exported FAQ can be evaluated
against a community's own labelled questions.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from bot.texts import TEXT_LIMIT, telegram_html, visible_length
from storage.faq import Answer, Entry

FORMAT = "steward-faq/1"
MAX_PHRASING = 300
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


def export_json(entries: Iterable[Entry]) -> bytes:
    data: dict[str, Any] = {"format": FORMAT, "entries": []}
    for entry in entries:
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
        data["entries"].append(item)
    return json.dumps(data, ensure_ascii=False, indent=1).encode("utf-8")


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
            data = json.loads(text)
        except json.JSONDecodeError:
            raise UnreadableFile(Unreadable.FORMAT) from None
        return _from_json(data, languages)
    return _from_csv(text, languages)


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
        entry_id = item.get("id") if isinstance(item.get("id"), int) else None
        scope = item.get("scope")
        scope_given = "scope" in item and (scope is None or isinstance(scope, int))
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
    if not isinstance(up, int) or not isinstance(down, int) or up < 0 or down < 0:
        return (0, 0)
    return (up, down)


def _answers(raw_answers: dict[Any, Any], sources: Any) -> dict[str, Answer]:
    """An entry's answers per language; a media answer names its message by chat and id.
    ValueError when a message is named in any other shape (a hand-edited file)."""
    answers = {}
    for lang, text in raw_answers.items():
        source = sources.get(lang) if isinstance(sources, dict) else None
        if source:
            if not isinstance(source, dict):
                raise ValueError("format")
            chat_id, message_id = source.get("chat_id"), source.get("message_id")
            if not isinstance(chat_id, int) or not isinstance(message_id, int):
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
    """Rows with the same answer and language become one entry with several phrasings."""
    reader = csv.DictReader(io.StringIO(text), delimiter=_delimiter(text))
    fields = {(f or "").strip().lower() for f in reader.fieldnames or []}
    if not {"question", "answer"} <= fields:
        raise UnreadableFile(Unreadable.FORMAT)
    plan = ImportPlan([], [])
    grouped: dict[tuple[str, str], ImportedEntry] = {}
    for number, row in enumerate(reader, start=2):  # line 1 is the header
        row = {(k or "").strip().lower(): (v or "").strip() for k, v in row.items()}
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
