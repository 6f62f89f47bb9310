"""The FAQ as the bot uses it: which entry answers a question in a chat, in which language.

The matcher index covers every live entry and is rebuilt only when the FAQ changes; a chat sees
its own entries plus the global ones, so scores are filtered by scope before the threshold and
margin are applied (an entry of another chat must not win, nor stand as the runner-up).
"""

from __future__ import annotations

import functools
import html
import logging
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from bot.faq.matcher import FaqIndex, Match, normalize
from bot.faq.transfer import ImportedEntry, ImportPlan
from bot.moderation import language as lang_detect
from storage.faq import Entry, FaqRepository

logger = logging.getLogger(__name__)

COOLDOWN_SECONDS = 600  # the same entry is not repeated in a chat within this time
LONG_TEXT_WORDS = 8  # from this length the text's own language outweighs the user's setting

_LANG_PREFIX = re.compile(r"^\s*([a-z]{2})\s*:\s*", re.IGNORECASE)


def index_documents(entries: Iterable[Entry]) -> list[tuple[int, str]]:
    """What the matcher indexes per entry: each phrasing, plus per language all phrasings
    together with the answer text, since an answer names its topic in words members use
    ("money back" may be in the refund answer but in no phrasing)."""
    documents: list[tuple[int, str]] = []
    for entry in entries:
        languages = {lang for lang, _t in entry.phrasings}
        documents += [(entry.id, text) for _lang, text in entry.phrasings]
        for lang in languages:
            answer = entry.answers.get(lang)
            if answer and answer.text:
                joined = " ".join(entry.phrasings_in(lang))
                documents.append((entry.id, f"{joined} {strip_tags(answer.text)}"))
    return documents


def strip_tags(html_text: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", " ", html_text))


def detect_language(text: str, candidates: Iterable[str]) -> str | None:
    """The text's language among `candidates`, when langdetect is confident; None for short or
    mixed texts. Cyrillic text is settled by its script."""
    return _detect(text, frozenset(candidates))


@functools.lru_cache(maxsize=1024)
def _detect(text: str, candidates: frozenset[str]) -> str | None:
    """Cached: langdetect costs about a millisecond, and one question may ask several times
    (the answer, each "Did you mean" button)."""
    script, letters = lang_detect.script_of(text)
    if script == "cyrillic":
        return next((c for c in ("ru", "uk") if c in candidates), None)
    if letters < 12 or script != "latin":
        return None
    ranked = lang_detect.ranked_languages(text, candidates)
    if ranked and ranked[0][1] >= 0.8:
        return ranked[0][0]
    return None


def choose_language(
    available: Iterable[str],
    user_code: str | None,
    text: str,
    chat_default: str,
) -> str:
    """The answer's language: Telegram's language_code, then the text itself, then the chat's
    default, in that order of trust for short texts; for a long text its own language comes
    first (someone with an English phone writing Russian wants Russian). The text is only
    examined when the answer depends on it."""
    available = list(dict.fromkeys(available))
    if not available:
        return chat_default
    if len(available) == 1:
        return available[0]
    user = (user_code or "").split("-")[0].lower() or None
    long_text = len(text.split()) >= LONG_TEXT_WORDS
    if not long_text and user in available:
        return user
    detected = detect_language(text, available)
    for candidate in (detected, user, chat_default):
        if candidate in available:
            return candidate
    return available[0]


def split_language_prefix(text: str, languages: Iterable[str]) -> tuple[str | None, str]:
    """ "ru: вопрос | ответ" -> ("ru", "вопрос | ответ") when ru is a configured language."""
    match = _LANG_PREFIX.match(text)
    if match and match[1].lower() in set(languages):
        return match[1].lower(), text[match.end() :]
    return None, text


@dataclass(frozen=True, slots=True)
class AddArgs:
    language: str | None
    phrasings: list[str]
    answer_html: str  # empty when the answer is a replied-to message


def parse_add_args(plain: str, html_args: str, languages: Iterable[str]) -> AddArgs | None:
    """`[xx:] phrasing; phrasing | answer`. The phrasings come from the plain text, the answer
    from the HTML so that its formatting survives. None when there is no phrasing."""
    languages = tuple(languages)
    language, plain = split_language_prefix(plain, languages)
    _, html_args = split_language_prefix(html_args, languages)
    questions, _sep, _answer = plain.partition("|")
    _q, _s, answer_html = html_args.partition("|")
    phrasings = [p.strip() for p in questions.split(";") if p.strip()]
    if not phrasings and not answer_html.strip():
        return None
    return AddArgs(language, phrasings, answer_html.strip())


@dataclass
class ImportResult:
    added: int = 0
    changed: int = 0
    unchanged: int = 0
    rejected: list[tuple[str, str]] = field(default_factory=list)


def same_content(entry: Entry, imported: ImportedEntry) -> bool:
    languages = {lang for lang, _t in imported.phrasings} | set(imported.answers)
    for lang in languages:
        wanted = [t for l_, t in imported.phrasings if l_ == lang]
        if wanted and sorted(wanted) != sorted(entry.phrasings_in(lang)):
            return False
        if lang in imported.answers and imported.answers[lang] != entry.answers.get(lang):
            return False
    return True


@dataclass(frozen=True, slots=True)
class Decision:
    kind: str  # answer | suggest | none
    match: Match | None
    suggestions: list[int]  # entry ids, best first (for "Did you mean…")


class FaqService:
    def __init__(self, repo: FaqRepository, **matcher_params: float) -> None:
        self.repo = repo
        self.matcher_params = matcher_params
        self._index: FaqIndex | None = None
        self._entries: dict[int, Entry] = {}
        self._scopes: set[int | None] = set()  # chats with entries; None: global ones exist

    def invalidate(self) -> None:
        self._index = None

    async def _ensure(self) -> FaqIndex:
        if self._index is None:
            entries = await self.repo.all_live()
            self._entries = {e.id: e for e in entries}
            self._scopes = {e.chat_id for e in entries}
            self._index = FaqIndex.build(index_documents(entries), **self.matcher_params)
            logger.debug(
                "FAQ index rebuilt: %d entries, %d documents", len(entries), len(self._index)
            )
        return self._index

    async def has_entries_for(self, chat_id: int | None) -> bool:
        """Cheap check before matching: most chats without an FAQ skip all the work."""
        await self._ensure()
        return None in self._scopes or chat_id in self._scopes

    async def entry(self, entry_id: int) -> Entry | None:
        await self._ensure()
        return self._entries.get(entry_id)

    async def decide(self, question: str, chat_id: int | None) -> Decision:
        index = await self._ensure()

        def visible(entry_id: int) -> bool:
            entry = self._entries.get(entry_id)
            return entry is not None and entry.chat_id in (None, chat_id)

        ranked = [(e, s) for e, s in index.ranked(question, limit=None) if visible(e)]
        if not ranked:
            return Decision("none", None, [])
        (best, score), runner = ranked[0], (ranked[1] if len(ranked) > 1 else (None, 0.0))
        match = Match(best, score, runner[1], runner[0])
        kind = index.classify(match)
        return Decision(kind, match, [e for e, s in ranked[:3] if s >= index.suggest_from])

    async def apply_import(
        self, plan: ImportPlan, scope: int | None, user_id: int | None, is_manager: bool
    ) -> ImportResult:
        """Load a parsed file into a scope. An entry with a known id, or sharing a wording with
        an entry of this scope, is changed in the languages the file has; others are added.
        Entries shared by all chats may be changed by managers only."""
        result = ImportResult(rejected=list(plan.rejected))
        visible = await (
            self.repo.all_live() if scope is None and is_manager else self.repo.visible_in(scope)
        )
        by_id = {e.id: e for e in visible}
        by_wording = {
            normalize(text).strip(" ?!.,"): e for e in visible for _l, text in e.phrasings
        }
        stamp = int(time.time())
        for item in plan.entries:
            target = by_id.get(item.id) if item.id is not None else None
            if target is None:
                target = next(
                    (
                        by_wording[key]
                        for _l, text in item.phrasings
                        if (key := normalize(text).strip(" ?!.,")) in by_wording
                    ),
                    None,
                )
            if target is None:
                first_lang = next(iter(item.answers))
                entry_id = await self.repo.add(
                    scope,
                    item.language,
                    [(l_, t) for l_, t in item.phrasings],
                    item.answers[first_lang],
                    user_id,
                    stamp,
                )
                for lang, answer in item.answers.items():
                    if lang != first_lang:
                        await self.repo.set_language(entry_id, lang, None, answer, stamp)
                result.added += 1
                continue
            if same_content(target, item):
                result.unchanged += 1
                continue
            if target.chat_id is None and not is_manager:
                result.rejected.append((f"#{target.id}", "scope"))
                continue
            languages = {lang for lang, _t in item.phrasings} | set(item.answers)
            for lang in sorted(languages):
                await self.repo.set_language(
                    target.id,
                    lang,
                    [t for l_, t in item.phrasings if l_ == lang] or None,
                    item.answers.get(lang),
                    stamp,
                )
            result.changed += 1
        self.invalidate()
        return result
