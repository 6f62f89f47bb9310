"""The FAQ as the bot uses it: which entry answers a question in a chat, in which language.

The matcher index covers every live entry and is rebuilt only when the FAQ changes; a chat sees
its own entries plus the global ones, so scores are filtered by scope before the threshold and
margin are applied (an entry of another chat must not win, nor stand as the runner-up).

With an embedding service, a semantic index (bot/faq/semantic.py) is built beside the lexical
one, in the background: vectors stored in the database are reused (keyed by model and text hash),
only new texts are computed, off the event loop, and stored at once. Until it is ready, and
whenever the model fails, questions are matched lexically exactly as without a model.

The lexical index is stored too (bytes under a digest of the documents it was built from), so a
restart with an unchanged FAQ loads it instead of spending seconds of pure Python on a large FAQ;
a change builds it again in a worker thread. Nothing slow runs on the event loop per question:
the question's language is detected in a worker thread while it is matched.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import html
import logging
import math
import re
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import NamedTuple

import numpy as np

from bot.clock import SYSTEM_CLOCK, Clock
from bot.faq import semantic
from bot.faq.matcher import FORMAT as LEXICAL_FORMAT
from bot.faq.matcher import FaqIndex, Match, normalize
from bot.faq.transfer import ImportedEntry, ImportPlan, faq_wording
from bot.moderation import language as lang_detect
from bot.moderation.spam import default_samples
from bot.moderation.understanding import shipped_vectors
from bot.semantic import EmbeddingService, Kind, ModelUnavailable, text_hash
from bot.texts import typed_id
from storage.faq import Answer, Entry, FaqIndexCache, FaqRepository, FaqVectorRepository

logger = logging.getLogger(__name__)

# The answer model weighs the best entry against the runner-up; where the chat sees a single
# entry there is none, its margins are the whole score, and it answered "has anyone found a blue
# scarf?" with the opening hours (bench/faq_single.py). The thresholds decide alone there (plain
# closeness to the wording), as a community's first /faq_add needs.
MODEL_NEEDS_ENTRIES = 2
COOLDOWN_SECONDS = 600  # the same entry is not repeated in a chat within this time
LONG_TEXT_WORDS = 8  # from this length the text's own language outweighs the user's setting
MAX_PHRASINGS = 40  # a "Did you mean" pick adds the question to an entry up to this many wordings
# A question waits this long for a semantic index being rebuilt after an edit (a few new vectors);
# an index still computing many vectors (a first start, a big import) is not waited for.
REBUILD_WAIT_SECONDS = 2.0
QUICK_REBUILD_TEXTS = 64
LEXICAL_INDEX = "lexical"  # name of the stored lexical index (storage.faq.FaqIndexCache)
# A statement ("forgot pw", "деньги списали дважды", "tracking??") is answered only when the
# answer model gives at least this, for an entry worded at least two ways. On the dev sets'
# statements 0.95 answered 15 of the 27 labelled ones, 14 right, and 2 of ~9,000 chat
# statements (the spam filter's ham, each against a chat bank without itself, on four FAQs);
# the question rule would have answered 105 of them. Chat about an entry's topic is the risk
# ("the discount code worked for me" 0.93, "just reset my password, all good now" 0.92 on the
# shop FAQ; on one-wording entries "paid with paypal, worked fine" 0.96, whose weights are
# surer of everything), so one-wording entries answer questions only.
STATEMENT_ANSWER_AT = 0.95
STATEMENT_NEEDS_WORDINGS = 2
# Most group messages are statements; before one is embedded (~20 ms of CPU) it must share this
# much with some wording by the lexical matcher's score. On the same data 0.25 kept 26 of the 27
# statements and a third of the chat, so two thirds of ordinary chat never reach the model.
STATEMENT_LEXICAL_FLOOR = 0.25

# languages a question may be written in though the FAQ has no answer in them: a Russian
# question to an entry in English and Dutch is known to be Russian, so the entry's own language
LANGUAGE_HINTS = ("en", "ru", "nl", "de", "fr", "es", "it", "pt", "uk", "pl", "tr")

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


def _documents_digest(documents: list[tuple[int, str]], params: dict[str, float]) -> str:
    """What a stored lexical index must have been built from to be reused."""
    digest = hashlib.blake2b(digest_size=16)
    digest.update(f"{LEXICAL_FORMAT}|{sorted(params.items())}".encode())
    for entry_id, text in documents:
        digest.update(f"\x1e{entry_id}\x1f{text}".encode())
    return digest.hexdigest()


def semantic_texts(entry: Entry) -> tuple[list[str], list[str]]:
    """What the semantic index embeds per entry: every phrasing (as a query) and every answer
    that has text (as a passage)."""
    answers = [strip_tags(a.text) for a in entry.answers.values() if a.text]
    return [text for _lang, text in entry.phrasings], [a for a in answers if a.strip()]


def semantic_languages(entry: Entry) -> tuple[list[str], list[str]]:
    """The language of each text `semantic_texts` returns, in the same order: the index centres
    every vector on its language's mean."""
    answers = [lang for lang, a in entry.answers.items() if a.text and strip_tags(a.text).strip()]
    return [lang for lang, _text in entry.phrasings], answers


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
    own: str | None = None,
) -> str:
    """The answer's language: Telegram's language_code, then the text itself, then the chat's
    default, in that order of trust for short texts; for a long text its own language comes
    first (someone with an English phone writing Russian wants Russian). When the asker's
    language is known but the entry has no translation into it, the entry's `own` language
    (what it was written in, so the most careful answer) comes before the chat's default. The
    text is only examined when the answer depends on it."""
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
    for candidate in (detected, user):
        if candidate in available:
            return candidate
    asker = user or detect_language(text, LANGUAGE_HINTS)
    if asker is not None and own in available:
        return own  # the asker's language is known, and not among the translations
    for candidate in (chat_default, own):
        if candidate in available:
            return candidate
    return available[0]


# ISO 639-1 codes that, as "xx:" first, mean a language and not words of a question
LANGUAGE_CODES = frozenset(LANGUAGE_HINTS) | frozenset(
    "ar zh ja ko fa he cs sv da fi el ro hu bg kk uz az ka hy vi th lt lv et sk sl sr hr".split()
)


def unspoken_language_prefix(text: str, languages: Iterable[str]) -> str | None:
    """ "de: Frage | Antwort" when de is no language of this bot: the code, so the command
    is refused rather than "de: Frage" stored as a wording of the entry's own language."""
    match = _LANG_PREFIX.match(text)
    code = match[1].lower() if match else None
    return code if code in LANGUAGE_CODES and code not in set(languages) else None


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
    from the HTML so that its formatting survives. None when there is nothing at all; a bare
    "ru:" still names the language (of a replied-to answer)."""
    languages = tuple(languages)
    language, plain = split_language_prefix(plain, languages)
    _, html_args = split_language_prefix(html_args, languages)
    questions, _sep, _answer = plain.partition("|")
    _q, _s, answer_html = html_args.partition("|")
    phrasings = [p.strip() for p in questions.split(";") if p.strip()]
    if not phrasings and not answer_html.strip() and language is None:
        return None
    return AddArgs(language, phrasings, answer_html.strip())


def import_scope(item: ImportedEntry, scope: int | None, is_manager: bool) -> int | None:
    """Where an imported entry goes: the chat the file is loaded in (None: a manager in
    private, all chats), except that a manager's file keeps what it says: a shared entry stays
    shared, and loaded in private a chat's entry goes back to its chat. So a manager's export
    loads back losslessly, and an admin can copy one chat's FAQ into another they run."""
    if is_manager and item.scope_given and (item.scope is None or scope is None):
        return item.scope
    return scope


def _wording_key(text: str) -> str:
    return normalize(text).strip(" ?!.,")


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


# `_visible_mask`'s owner of an entry: a chat id, or these two (no chat has either id)
GLOBAL_OWNER = 0
GONE_OWNER = np.iinfo(np.int64).min


def _owner(entry: Entry | None) -> int:
    if entry is None:
        return GONE_OWNER
    return GLOBAL_OWNER if entry.chat_id is None else entry.chat_id


def _decode(rows: list[tuple[str, str, bytes]], dim: int) -> dict[tuple[str, str], np.ndarray]:
    found = {}
    for kind, digest, blob in rows:
        vector = np.frombuffer(blob, dtype="<f4")
        if vector.shape[0] == dim:
            found[(kind, digest)] = vector
    return found


TextKey = tuple[str, str]  # (kind, hash of the prepared text)
# an entry's id, its phrasings' and answers' text keys, and their languages
EntryPlan = tuple[int, list[TextKey], list[TextKey], tuple[list[str], list[str]]]


def _plan(entries: list[Entry]) -> tuple[list[EntryPlan], dict[TextKey, tuple[Kind, str]]]:
    """Each entry's text keys (phrasings, answers), and every distinct text to have a vector."""
    per_entry = []
    wanted: dict[TextKey, tuple[Kind, str]] = {}
    for entry in entries:
        phrasings, answers = semantic_texts(entry)
        keys: dict[Kind, list[TextKey]] = {Kind.QUERY: [], Kind.PASSAGE: []}
        for kind, group in ((Kind.QUERY, phrasings), (Kind.PASSAGE, answers)):
            for text in group:
                prepared = EmbeddingService.prepare(text)
                key = (kind.value, text_hash(prepared))
                wanted[key] = (kind, prepared)
                keys[kind].append(key)
        per_entry.append(
            (entry.id, keys[Kind.QUERY], keys[Kind.PASSAGE], semantic_languages(entry))
        )
    return per_entry, wanted


def _build_index(
    per_entry: list[EntryPlan], stored: dict[TextKey, np.ndarray], dim: int
) -> semantic.SemanticIndex:
    items = [
        semantic.EntryVectors(
            entry_id,
            [stored[k] for k in phrasings],
            [stored[k] for k in answers],
            phrasing_languages,
            answer_languages,
        )
        for entry_id, phrasings, answers, (phrasing_languages, answer_languages) in per_entry
    ]
    return semantic.SemanticIndex(items, dim)


class Asked(StrEnum):
    """How a question reached the FAQ, which decides how sure an answer must be."""

    GROUP = "group"  # a member in a group: an answer (unless just given), suggestions, or none
    PRIVATE = "private"  # a member in private: a sure answer, else the staff
    COMMAND = "command"  # /faq <words>: the best match, however unsure
    # A member's words in a group that do not ask in question form ("forgot my password"):
    # only an answer the learned model is sure of (`FaqService.decide_statement`), nothing else.
    GROUP_STATEMENT = "group_statement"


class AnsweredQuestion(NamedTuple):
    """The FAQ's answer to a member's question: the entry, and the bot's message with it."""

    entry_id: int
    answer_id: int


class VoteOutcome(StrEnum):
    """A 👍/👎 pressed under an answer."""

    COUNTED = "counted"  # the member's first vote on the entry: thanked
    CHANGED = "changed"  # the other button than before: the counters move, said quietly
    SAME = "same"  # the same button again: nothing changes, nor is it thanked again
    REFUSED = "refused"  # the entry is gone, or is another chat's (forged callback data)


class ReplyKind(StrEnum):
    ANSWER = "answer"
    REPEAT = "repeat"  # answered in this chat a few minutes ago: point there instead
    SUGGEST = "suggest"  # "Did you mean…" with a button per entry
    NONE = "none"


class EditRefusal(StrEnum):
    NOT_AN_ID = "not_an_id"
    NOT_HERE = "not_here"  # no such entry, or another chat's
    SHARED = "shared"  # shared by all chats: managers only


class Editable(NamedTuple):
    """The entry a command may change, or why not (exactly one of the two is set)."""

    entry: Entry | None
    refusal: EditRefusal | None = None


@dataclass(frozen=True, slots=True)
class FaqReply:
    """What to send for a question; `FaqService.answer` decides it, a handler sends it."""

    kind: ReplyKind
    entry: Entry | None = None
    language: str = ""
    previous_message_id: int | None = None  # REPEAT: the earlier answer
    suggestions: tuple[tuple[int, str], ...] = ()  # SUGGEST: (entry id, title) best first

    @property
    def answer(self) -> Answer:
        """The entry's answer in the chosen language, else in its own, else any."""
        entry = self.entry
        assert entry is not None
        found = entry.answers.get(self.language) or entry.answers.get(entry.language)
        return found if found is not None else next(iter(entry.answers.values()))


NO_REPLY = FaqReply(ReplyKind.NONE)


def may_edit(entry: Entry, is_manager: bool, is_admin: bool, chat_id: int | None) -> bool:
    """Managers edit anything; a chat admin only the entries of the chat they run."""
    if is_manager:
        return True
    return entry.chat_id is not None and entry.chat_id == chat_id and is_admin


def _editable(entry: Entry | None, scope: int | None, is_manager: bool, is_admin: bool) -> Editable:
    if entry is None or (entry.chat_id not in (None, scope) and not is_manager):
        return Editable(None, EditRefusal.NOT_HERE)
    if not may_edit(entry, is_manager, is_admin, scope):
        return Editable(None, EditRefusal.SHARED)
    return Editable(entry)


@dataclass(frozen=True, slots=True)
class Decision:
    kind: str  # answer | suggest | none
    match: Match | None
    suggestions: list[int]  # entry ids, best first (for "Did you mean…")


class Wanted(StrEnum):
    """When `FaqService._candidates` reads what the learned answer model needs (the expensive
    part: the best entry's components, the distance to ordinary chat)."""

    NEVER = "never"  # the similarities alone (bench/faq_eval.py --calibrate)
    UNDECIDED = "undecided"  # only when the thresholds do not answer (the model can only add)
    ALWAYS = "always"  # whenever there is a chat bank (bench/faq_train.py learns from them)


@dataclass(frozen=True, slots=True)
class _Candidates:
    """One question scored: small, typed, built in a worker thread."""

    lexical: Decision  # what the lexical matcher alone decides
    # the best entries the chat may see (as many as `semantic.decide` weighs), best first;
    # None: matching lexically
    meaning: dict[int, semantic.Similarity] | None
    evidence: tuple[int, dict[str, float]] | None = None  # the best entry and its features
    probability: float | None = None  # the answer model's, from `evidence`
    answer_at: float = 1.0  # from which that probability answers (the weights' own threshold)


def load_chat_bank(model_id: str) -> semantic.ChatBank | None:
    """The spam filter's shipped ham samples as vectors of ordinary chat (`semantic.ChatBank`),
    precomputed for the bundled model; None for another model (they would have to be embedded
    at start: the learned answer model is then not used anyway)."""
    known = shipped_vectors(model_id)
    rows = [known.get(text_hash(EmbeddingService.prepare(t))) for t in default_samples("ham")]
    found = [v for v in rows if v is not None]
    if len(found) < len(rows) // 2:
        return None
    return semantic.ChatBank(np.vstack(found))


def _learned_judge(
    model_id: str, given: semantic.AnswerModel | None, bank: semantic.ChatBank | None
) -> tuple[semantic.AnswerModel | None, semantic.ChatBank | None]:
    """The answer model (a given one, else the shipped one) and its chat bank (a given one,
    else the shipped chat), when both fit this embedding model; else (None, None) and the
    calibrated thresholds decide (a given bank is kept: bench/faq_train.py reads the features
    before there is a model)."""
    model = given or semantic.AnswerModel.shipped()
    if model is None or model.model_id != model_id:
        logger.info("FAQ: no learned answer model for %s, deciding by thresholds", model_id)
        return None, bank
    bank = bank if bank is not None else load_chat_bank(model_id)
    if bank is None:
        logger.info("FAQ: no chat samples for %s, deciding by thresholds", model_id)
        return None, None
    return model, bank


class FaqService:
    def __init__(
        self,
        repo: FaqRepository,
        embeddings: EmbeddingService | None = None,
        vectors: FaqVectorRepository | None = None,
        index_cache: FaqIndexCache | None = None,
        clock: Clock = SYSTEM_CLOCK,
        **matcher_params: float,
    ) -> None:
        self.repo = repo
        self.clock = clock
        self.index_cache = index_cache
        self.embeddings = embeddings if vectors is not None else None
        self.vectors = vectors
        self.matcher_params = matcher_params
        self._index: FaqIndex | None = None
        self._entries: dict[int, Entry] = {}
        self._scopes: set[int | None] = set()  # chats with entries; None: global ones exist
        self._semantic: semantic.SemanticIndex | None = None
        self._generation = 0  # bumped by every change; an older semantic build is discarded
        self._build: asyncio.Task[None] | None = None
        self._build_is_quick = True
        self._stored: dict[tuple[str, str], np.ndarray] | None = None  # (kind, hash) -> vector
        self._turn = asyncio.Lock()
        # per index entry list: (that list, the entries it was read against, owner per entry)
        self._owners: dict[int, tuple[list[int], dict[int, Entry], np.ndarray]] = {}
        self._loading = asyncio.Lock()  # one lexical build at a time
        # the learned answer-or-not model, used with the embedding model it was trained with
        # and the chat bank it reads (both loaded with the first semantic index)
        self.answer_model: semantic.AnswerModel | None = None
        self.chat_bank: semantic.ChatBank | None = None
        self._learned_checked = False
        self.on_change: Callable[[], None] = lambda: None  # other workers rebuild (bot.cluster)

    def invalidate(self) -> None:
        self._index = None
        self._semantic = None
        self._generation += 1

    async def refresh(self, wait: float = REBUILD_WAIT_SECONDS) -> None:
        """After a change: rebuild, computing and storing the new texts' vectors now (waiting up
        to `wait` seconds; a bigger job goes on in the background)."""
        self.invalidate()
        self.on_change()
        await self._ensure()
        if self._build is not None and not self._build.done() and wait > 0:
            await asyncio.wait({self._build}, timeout=wait)

    async def warm_up(self) -> None:
        """At start: build the indexes (the semantic one in the background)."""
        await self._ensure()

    @property
    def semantic_ready(self) -> bool:
        return self._semantic is not None

    async def wait_semantic(self, timeout: float) -> bool:
        if self._build is not None and not self._build.done():
            await asyncio.wait({self._build}, timeout=timeout)
        return self._semantic is not None

    def close(self) -> None:
        if self._build is not None:
            self._build.cancel()

    async def _ensure(self) -> FaqIndex:
        if self._index is not None:  # every group message asks: no lock on the way
            return self._index
        async with self._loading:
            while self._index is None:
                generation = self._generation
                entries = await self.repo.all_live()
                index = await self._lexical_index(index_documents(entries))
                if generation != self._generation:
                    continue  # the FAQ changed while this was built: build again
                self._entries = {e.id: e for e in entries}
                self._scopes = {e.chat_id for e in entries}
                self._index = index
                logger.debug(
                    "FAQ index rebuilt: %d entries, %d documents", len(entries), len(index)
                )
                if self.embeddings is not None:
                    previous = self._build
                    self._build_is_quick = True
                    self._build = asyncio.create_task(
                        self._build_semantic(entries, self._generation, previous),
                        name="faq-semantic",
                    )
            return self._index

    async def _lexical_index(self, documents: list[tuple[int, str]]) -> FaqIndex:
        """The lexical index, loaded as stored when the FAQ has not changed since it was built,
        else built (in a worker thread: seconds of pure Python for a FAQ of thousands of
        wordings) and stored for the next start."""
        params = self.matcher_params
        if self.index_cache is None:
            return await asyncio.to_thread(functools.partial(FaqIndex.build, documents, **params))
        digest = await asyncio.to_thread(_documents_digest, documents, params)
        data = await self.index_cache.load(LEXICAL_INDEX, digest)
        if data is not None:
            index = await asyncio.to_thread(FaqIndex.from_bytes, data)
            if index is not None:
                return index
        index = await asyncio.to_thread(functools.partial(FaqIndex.build, documents, **params))
        try:
            data = await asyncio.to_thread(index.to_bytes)
            await self.index_cache.store(LEXICAL_INDEX, digest, data)
        except Exception as exc:  # only the next start's speed depends on it
            logger.warning("FAQ lexical index not stored: %s", exc)
        return index

    async def _build_semantic(
        self, entries: list[Entry], generation: int, previous: asyncio.Task[None] | None
    ) -> None:
        if previous is not None and not previous.done():
            await asyncio.wait({previous})  # one build at a time: no double computation
        if generation != self._generation:
            return  # the FAQ changed again meanwhile; the newer build does the work
        started = time.perf_counter()
        try:
            index, computed = await self._semantic_index(entries)
        except asyncio.CancelledError:
            raise
        except ModelUnavailable as exc:
            logger.warning("FAQ semantic index not built, matching lexically: %s", exc)
            return
        except Exception:
            logger.exception("FAQ semantic index failed, matching lexically")
            return
        if generation == self._generation:
            self._semantic = index
        logger.info(
            "FAQ semantic index: %d entries, %d texts computed, %.2fs",
            len(index),
            computed,
            time.perf_counter() - started,
        )

    async def _semantic_index(self, entries: list[Entry]) -> tuple[semantic.SemanticIndex, int]:
        """Stored vectors first (read once per process), then the missing ones computed and
        stored in chunks (an interrupted first start resumes where it stopped). The CPU-bound
        parts, hashing every text and stacking the matrices, run in a worker thread so that a
        big FAQ does not hold up the event loop."""
        service, vectors = self.embeddings, self.vectors
        assert service is not None and vectors is not None
        first = self._stored is None
        if self._stored is None:
            rows = await vectors.load(service.model_id)
            self._stored = await asyncio.to_thread(_decode, rows, service.dim)
        stored = self._stored
        per_entry, wanted = await asyncio.to_thread(_plan, entries)
        missing: dict[Kind, list[tuple[tuple[str, str], str]]] = {}
        for n, (key, (kind, prepared)) in enumerate(wanted.items(), start=1):
            vector = stored.get(key)
            if vector is None:
                missing.setdefault(kind, []).append((key, prepared))
            elif first:  # later questions with the same wording hit the service's cache
                service.remember(prepared, kind, vector)
            if n % 2000 == 0:
                await asyncio.sleep(0)
        computed = sum(len(group) for group in missing.values())
        self._build_is_quick = computed <= QUICK_REBUILD_TEXTS
        for kind, group in missing.items():
            for start in range(0, len(group), 256):  # stored as it goes: a restart resumes
                chunk = group[start : start + 256]
                fresh = await service.embed([text for _key, text in chunk], kind)
                rows = []
                for (key, _text), vector in zip(chunk, fresh, strict=True):
                    stored[key] = vector
                    rows.append((key[0], key[1], vector.astype("<f4").tobytes()))
                await vectors.store(service.model_id, service.dim, rows)
        if first:
            removed = await vectors.prune(service.model_id, set(wanted))
            if removed:
                logger.info("FAQ: forgot %d stored vectors no entry uses", removed)
        index = await asyncio.to_thread(_build_index, per_entry, stored, service.dim)
        if not self._learned_checked:
            self._learned_checked = True
            self.answer_model, self.chat_bank = await asyncio.to_thread(
                _learned_judge, service.model_id, self.answer_model, self.chat_bank
            )
        return index, computed

    async def has_entries_for(self, chat_id: int | None) -> bool:
        """Cheap check before matching: most chats without an FAQ skip all the work."""
        await self._ensure()
        return None in self._scopes or chat_id in self._scopes

    async def entry(self, entry_id: int) -> Entry | None:
        await self._ensure()
        return self._entries.get(entry_id)

    async def candidates(
        self, question: str, chat_id: int | None
    ) -> tuple[Decision, dict[int, semantic.Similarity] | None]:
        """What the lexical matcher alone decides, and the semantic similarity of the best
        entries the chat may see, as many as `semantic.decide` weighs (None when matching
        lexically)."""
        found = await self._candidates(question, chat_id, Wanted.NEVER)
        return found.lexical, found.meaning

    async def evidence(
        self, question: str, chat_id: int | None
    ) -> tuple[int, dict[str, float]] | None:
        """The best entry and what the answer model reads about it (bench/faq_train.py learns
        from these), or None without a semantic index or chat bank."""
        return (await self._candidates(question, chat_id, Wanted.ALWAYS)).evidence

    async def _candidates(self, question: str, chat_id: int | None, wanted: Wanted) -> _Candidates:
        index = await self._ensure()
        semantic_index, vector = await self._question_vector(question)
        if semantic_index is None or vector is None:  # both None or neither
            return _Candidates(self._lexical(index, question, chat_id), None)
        # Scoring a question against a thousand entries, and reading what the answer model
        # needs, is a millisecond or two of CPU, and a batch of embeddings wakes all the
        # questions it carried at once: it runs in a worker thread (numpy lets go of the
        # interpreter meanwhile), one question at a time, so the event loop goes on with other
        # updates.
        async with self._turn:
            return await asyncio.to_thread(
                self._score, index, semantic_index, question, vector, chat_id, wanted
            )

    def _score(
        self,
        index: FaqIndex,
        semantic_index: semantic.SemanticIndex,
        question: str,
        vector: np.ndarray,
        chat_id: int | None,
        wanted: Wanted,
    ) -> _Candidates:
        """`_candidates` in a worker thread: numpy over whole arrays, a few numbers out."""
        lexical_visible = self._visible_mask(index.entry_ids, chat_id)
        lexical_scores = index.entry_scores(question)
        lexical = self._decision(index, index.rank(lexical_scores, 3, lexical_visible))
        visible = self._visible_mask(semantic_index.entry_ids, chat_id)
        centred, plain = semantic_index.scores(vector)
        meaning = semantic_index.top(centred, plain, visible)
        model, bank = self.answer_model, self.chat_bank
        if bank is None or not meaning or wanted is Wanted.NEVER:
            return _Candidates(lexical, meaning)
        lexical_best = lexical.match.entry_id if lexical.match else None
        if wanted is Wanted.UNDECIDED and (
            model is None
            or semantic.decide(meaning, lexical.kind, lexical_best).kind == "answer"
            or len(meaning) < MODEL_NEEDS_ENTRIES
        ):
            return _Candidates(lexical, meaning)  # the model could only confirm, or misjudge
        ranked = list(meaning.items())
        best = ranked[0][0]
        opinion = semantic.LexicalOpinion.of_scores(
            best, index.entry_ids, lexical_scores, lexical_visible
        )
        values = semantic.features(
            semantic_index,
            vector,
            ranked,
            centred[visible].astype(np.float64),
            opinion,
            bank.nearest(vector),
            question,
        )
        if model is None:
            return _Candidates(lexical, meaning, (best, values))
        judging = model.for_entry(values)
        return _Candidates(
            lexical, meaning, (best, values), judging.probability(values), judging.answer_at
        )

    def _visible_mask(self, entry_ids: list[int], chat_id: int | None) -> np.ndarray:
        """Which of an index's entries (in its order) the chat may see: its own and the global
        ones, among the live entries now (an index built earlier may list a deleted one)."""
        entries = self._entries
        cached = self._owners.get(id(entry_ids))
        if cached is not None and cached[0] is entry_ids and cached[1] is entries:
            owners = cached[2]
        else:
            owners = np.array(
                [_owner(entries.get(entry_id)) for entry_id in entry_ids], dtype=np.int64
            )
            if len(self._owners) >= 4:  # the lexical and the semantic index, old and new
                self._owners.clear()
            self._owners[id(entry_ids)] = (entry_ids, entries, owners)
        visible: np.ndarray = owners == GLOBAL_OWNER
        if chat_id is not None:
            visible |= owners == chat_id
        return visible

    def _lexical(self, index: FaqIndex, question: str, chat_id: int | None) -> Decision:
        visible = self._visible_mask(index.entry_ids, chat_id)
        return self._decision(index, index.ranked(question, limit=3, visible=visible))

    @staticmethod
    def _decision(index: FaqIndex, ranked: list[tuple[int, float]]) -> Decision:
        """The lexical matcher's decision from its best visible entries (best first)."""
        if not ranked:
            return Decision("none", None, [])
        (best, score), runner = ranked[0], (ranked[1] if len(ranked) > 1 else (None, 0.0))
        match = Match(best, score, runner[1], runner[0])
        suggestions = [e for e, s in ranked[:3] if s >= index.suggest_from]
        return Decision(index.classify(match), match, suggestions)

    async def decide(self, question: str, chat_id: int | None) -> Decision:
        # The answer's language may be read from the question (choose_language): langdetect
        # takes up to tens of milliseconds of pure Python, so it runs in a worker thread now
        # and choose_language finds it cached instead of stalling the event loop.
        detecting = asyncio.ensure_future(asyncio.to_thread(lang_detect.prepare, question))
        try:
            found = await self._candidates(question, chat_id, Wanted.UNDECIDED)
        finally:
            await detecting
        lexical, meaning = found.lexical, found.meaning
        if meaning is None:
            return lexical
        model = self.answer_model
        if found.probability is not None and model is not None:
            hybrid = semantic.judge(
                meaning,
                lexical.kind,
                lexical.match.entry_id if lexical.match else None,
                found.probability,
                found.answer_at,
            )
        else:
            hybrid = semantic.decide(
                meaning, lexical.kind, lexical.match.entry_id if lexical.match else None
            )
        return Decision(hybrid.kind, hybrid.match, hybrid.suggestions)

    async def decide_statement(self, text: str, chat_id: int | None) -> Decision:
        """An answer to words that do not ask in question form, only where the learned answer
        model is sure (`STATEMENT_ANSWER_AT`); else none, never suggestions: the same closeness
        that makes a question worth a "Did you mean…" is, in a statement, mostly chat about the
        same things ("support said the refund takes 5-7 days"). Without the model (no semantic
        index yet, another embedding model, a single entry) statements are left alone."""
        index = await self._ensure()
        if self.embeddings is None or self._semantic is None or self.answer_model is None:
            return Decision("none", None, [])
        lexical = await asyncio.to_thread(self._lexical_best, index, text, chat_id)
        if lexical < STATEMENT_LEXICAL_FLOOR:
            return Decision("none", None, [])
        found = await self._candidates(text, chat_id, Wanted.ALWAYS)
        meaning, probability, evidence = found.meaning, found.probability, found.evidence
        if (
            meaning is None
            or probability is None
            or evidence is None
            or len(meaning) < MODEL_NEEDS_ENTRIES
            or evidence[1]["phrasings"] < math.log(STATEMENT_NEEDS_WORDINGS) - 1e-9
            or probability < max(STATEMENT_ANSWER_AT, found.answer_at)
        ):
            return Decision("none", None, [])
        lexical_best = found.lexical.match.entry_id if found.lexical.match else None
        hybrid = semantic.judge(
            meaning, found.lexical.kind, lexical_best, probability, found.answer_at
        )
        if hybrid.kind != "answer":
            return Decision("none", None, [])
        # the answer's language may be read from the text: detected off the event loop now
        await asyncio.to_thread(lang_detect.prepare, text)
        return Decision("answer", hybrid.match, [])

    def _lexical_best(self, index: FaqIndex, text: str, chat_id: int | None) -> float:
        """The lexical matcher's best score among the entries the chat may see."""
        scores = index.entry_scores(text)
        visible = self._visible_mask(index.entry_ids, chat_id)
        return float(scores[visible].max()) if visible.any() else 0.0

    async def _question_vector(
        self, question: str
    ) -> tuple[semantic.SemanticIndex | None, np.ndarray | None]:
        """The semantic index and the question's vector, or (None, None) to match lexically
        (no model, index not ready, the model failing)."""
        if self.embeddings is None:
            return None, None
        if self._semantic is None and self._build_is_quick:
            await self.wait_semantic(REBUILD_WAIT_SECONDS)
        index = self._semantic  # kept: a change meanwhile hides deleted entries by scope check
        if index is None:
            return None, None
        try:
            vector = await self.embeddings.embed_one(question, Kind.QUERY)
        except ModelUnavailable as exc:
            logger.warning("question not embedded, matching lexically: %s", exc)
            return None, None
        return index, vector

    async def learn_phrasing(self, entry_id: int, text: str, language: str) -> bool:
        """A member picked this entry under "Did you mean…": their wording becomes one of its
        phrasings, so the next member who asks this way gets the answer at once."""
        entry = await self.entry(entry_id)
        text = faq_wording(" ".join(text.split()))  # a long message: its last sentences
        if entry is None or not text or len(entry.phrasings) >= MAX_PHRASINGS:
            return False
        key = _wording_key(text)
        if any(_wording_key(t) == key for _l, t in entry.phrasings):
            return False
        await self.repo.add_phrasing(entry_id, language, text, int(self.clock()))
        await self.refresh()
        return True

    async def apply_import(
        self,
        plan: ImportPlan,
        scope: int | None,
        user_id: int | None,
        is_manager: bool,
        may_copy_from: Callable[[int], Awaitable[bool]] | None = None,
    ) -> ImportResult:
        """Load a parsed file into a scope. Each entry goes to `import_scope`; there, an entry
        with the same id, or sharing a wording with one of that chat's or the shared entries,
        is changed in the languages the file has; others are added. Entries shared by all
        chats may be changed by managers only. A media answer is a message the bot copies on
        every answer, so a file may name only messages of `scope`, ones the FAQ there already
        uses, or of chats `may_copy_from` allows (None: any chat)."""
        result = ImportResult(rejected=list(plan.rejected))
        live = await (self.repo.all_live() if is_manager else self.repo.visible_in(scope))
        known = {
            (a.source_chat_id, a.source_message_id)
            for e in live
            for a in e.answers.values()
            if a.is_copy
        }
        stamp = int(self.clock())
        # per scope: its entries and the shared ones, by id and by wording
        pools: dict[int | None, tuple[dict[int, Entry], dict[str, Entry]]] = {}
        for item in plan.entries:
            into = import_scope(item, scope, is_manager)
            if into not in pools:
                pool = [e for e in live if e.chat_id in (None, into)]
                pools[into] = (
                    {e.id: e for e in pool},
                    {_wording_key(text): e for e in pool for _l, text in e.phrasings},
                )
            by_id, by_wording = pools[into]
            foreign = {
                a.source_chat_id
                for a in item.answers.values()
                if a.source_chat_id not in (None, scope)
                and (a.source_chat_id, a.source_message_id) not in known
            }
            if may_copy_from is not None and not all(
                [await may_copy_from(chat_id) for chat_id in foreign if chat_id is not None]
            ):
                result.rejected.append((item.where, "source"))
                continue
            target = by_id.get(item.id) if item.id is not None else None
            if target is None:
                target = next(
                    (
                        by_wording[key]
                        for _l, text in item.phrasings
                        if (key := _wording_key(text)) in by_wording
                    ),
                    None,
                )
            if target is None:
                first_lang = next(iter(item.answers))
                entry_id = await self.repo.add(
                    into,
                    item.language,
                    [(l_, t) for l_, t in item.phrasings],
                    item.answers[first_lang],
                    user_id,
                    stamp,
                )
                for lang, answer in item.answers.items():
                    if lang != first_lang:
                        await self.repo.set_language(entry_id, lang, None, answer, stamp)
                if any(item.feedback):
                    await self.repo.set_feedback(entry_id, *item.feedback)
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
        await self.refresh()
        return result

    # --- answering: one decision for every way a question arrives ------------------------------

    async def answer(
        self,
        text: str,
        scope: int | None,
        user_language: str | None,
        chat_default: Callable[[], Awaitable[str]],
        asked: Asked,
        thread: int = 0,
    ) -> FaqReply:
        """What to send for `text` asked in `scope` (a group, or None: private): the entry and
        its language, a pointer to the same answer given minutes ago in the same conversation
        (`thread`: a forum topic or a post's comments; 0 the chat's own), suggestions, or
        nothing. `chat_default` is only awaited when a language must be chosen."""
        in_group = asked in (Asked.GROUP, Asked.GROUP_STATEMENT)
        if in_group and not await self.has_entries_for(scope):
            return NO_REPLY
        if asked is Asked.GROUP_STATEMENT:
            decision = await self.decide_statement(text, scope)
        else:
            decision = await self.decide(text, scope)
        sure = decision.kind == "answer" or (asked is Asked.COMMAND and decision.kind != "none")
        if sure and decision.match is not None:
            entry = await self.entry(decision.match.entry_id)
            if entry is None:
                return NO_REPLY
            language = choose_language(
                entry.answers, user_language, text, await chat_default(), entry.language
            )
            if in_group and scope is not None:
                previous = await self.repo.last_answer(scope, entry.id, language, thread)
                if previous and int(self.clock()) - previous[1] < COOLDOWN_SECONDS:
                    return FaqReply(ReplyKind.REPEAT, entry, language, previous[0])
            return FaqReply(ReplyKind.ANSWER, entry, language)
        if asked is Asked.GROUP and decision.kind == "suggest" and decision.suggestions:
            default = await chat_default()
            suggestions = []
            for entry_id in decision.suggestions:
                entry = await self.entry(entry_id)
                if entry is None:
                    continue
                language = choose_language(
                    entry.answers, user_language, text, default, entry.language
                )
                suggestions.append((entry_id, entry.title(language)))
            return FaqReply(ReplyKind.SUGGEST, suggestions=tuple(suggestions))
        return NO_REPLY

    async def looked_up(
        self, words: str, scope: int | None, user_language: str | None, chat_default: str
    ) -> FaqReply | None:
        """/faq <words> beyond matching: an entry's number as /faq and /faq_list show it ("12",
        "#12"), or, for words with digits ("24/7", "5G"), the entry a wording of which holds
        them as written; the matcher leaves numbers out, so it cannot find these. Entries of
        other chats are not shown. None: neither."""
        entries = await self.visible_in(scope)
        number = typed_id(words)
        if number is not None:
            found = next((e for e in entries if e.id == number), None)
        elif any(char.isdigit() for char in words) and not words.lstrip("#").isdigit():
            # whole words only: "0" is not found in "10:00"
            wanted = re.compile(rf"(?<!\w){re.escape(' '.join(normalize(words).split()))}(?!\w)")
            found = next(
                (
                    e
                    for e in entries
                    if any(wanted.search(" ".join(normalize(t).split())) for _l, t in e.phrasings)
                ),
                None,
            )
        else:
            return None
        if found is None:
            return None
        language = choose_language(
            found.answers, user_language, words, chat_default, found.language
        )
        return FaqReply(ReplyKind.ANSWER, found, language)

    async def pick(
        self,
        entry_id: int,
        scope: int,
        user_language: str | None,
        text: str,
        chat_default: str,
    ) -> FaqReply | None:
        """A "Did you mean…" button pressed in chat `scope`: that entry, in the asker's language.
        None when it is gone, or is no entry of that chat nor a shared one: callback data comes
        from the member's app and may name any entry."""
        entry = await self.entry(entry_id)
        if entry is None or entry.chat_id not in (None, scope):
            return None
        language = choose_language(entry.answers, user_language, text, chat_default, entry.language)
        return FaqReply(ReplyKind.ANSWER, entry, language)

    async def remember(
        self, chat_id: int, reply: FaqReply, message_id: int, thread: int = 0
    ) -> None:
        """The answer was sent: the same question soon after, in the same conversation
        (`thread`), points to it instead."""
        assert reply.entry is not None
        await self.repo.remember_answer(
            chat_id, reply.entry.id, reply.language, message_id, int(self.clock()), thread
        )

    async def question_answered(
        self, chat_id: int, question_id: int, entry_id: int, answer_id: int
    ) -> None:
        """The answer to a question was sent (`answer_id`): an edit of the question is checked
        again (`answer_to_question`)."""
        await self.repo.question_answered(
            chat_id, question_id, entry_id, answer_id, int(self.clock())
        )

    async def answer_to_question(self, chat_id: int, question_id: int) -> AnsweredQuestion | None:
        found = await self.repo.answer_to_question(chat_id, question_id)
        return AnsweredQuestion(*found) if found else None

    async def learn_from_pick(
        self, entry_id: int, text: str, answered_in: str, languages: Iterable[str]
    ) -> bool:
        """The asker's own wording, in the language it is written in, is a new phrasing."""
        language = detect_language(faq_wording(text), languages) or answered_in  # not a link's
        return await self.learn_phrasing(entry_id, text, language)

    async def entry_with_wording(self, scope: int | None, text: str) -> int | None:
        """The entry seen in `scope` that has `text` as a wording already (case, spacing and end
        punctuation aside): a new entry with the same wording would tie with it, and then
        neither would be answered."""
        key = _wording_key(text)
        for entry in await self.visible_in(scope):
            if any(_wording_key(t) == key for _l, t in entry.phrasings):
                return entry.id
        return None

    # --- managing entries -----------------------------------------------------------------------

    async def add_entry(
        self,
        scope: int | None,
        language: str,
        phrasings: list[tuple[str, str]],
        answer: Answer,
        author: int | None,
        *,
        refresh: bool = True,
    ) -> int:
        now = int(self.clock())
        entry_id = await self.repo.add(scope, language, phrasings, answer, author, now)
        if refresh:
            await self.refresh()
        return entry_id

    async def set_language(
        self, entry_id: int, language: str, phrasings: list[str], answer: Answer | None
    ) -> None:
        await self.repo.set_language(entry_id, language, phrasings, answer, int(self.clock()))
        await self.refresh()

    async def delete_entry(self, entry_id: int, *, refresh: bool = True) -> bool:
        deleted = await self.repo.set_deleted(entry_id, int(self.clock()))
        if refresh:
            await self.refresh()
        return deleted

    async def restore_entry(self, entry_id: int) -> bool:
        """Undo a deletion; False when it was not deleted (a second tap)."""
        if not await self.repo.set_deleted(entry_id, None):
            return False
        await self.refresh()
        return True

    async def editable(
        self, raw_id: str, scope: int | None, is_manager: bool, is_admin: bool
    ) -> Editable:
        """The entry named by `raw_id` ("12" or "#12") if this user may change it in `scope`."""
        entry_id = typed_id(raw_id)
        if entry_id is None:
            digits = raw_id.strip().removeprefix("#")
            # a number past any stored id is still an id: one that names no entry here
            named = digits.isascii() and digits.isdigit()
            return Editable(None, EditRefusal.NOT_HERE if named else EditRefusal.NOT_AN_ID)
        entry = await self.repo.get(entry_id)
        return _editable(entry, scope, is_manager, is_admin)

    async def restorable(
        self, entry_id: int, scope: int | None, is_manager: bool, is_admin: bool
    ) -> Editable:
        """The deleted entry an Undo pressed in `scope` may restore: whoever could have deleted
        it there (an Undo button is in the chat for all to press)."""
        return _editable(await self.repo.get_deleted(entry_id), scope, is_manager, is_admin)

    async def all_entries(self) -> list[Entry]:
        return await self.repo.all_live()

    async def listed(self, chat_id: int | None) -> list[Entry]:
        """/faq_list and /faq_export: in a group (`chat_id`) its entries and the global ones;
        in private (None, managers) every entry."""
        return await (self.all_entries() if chat_id is None else self.visible_in(chat_id))

    async def visible_in(self, scope: int | None) -> list[Entry]:
        """A chat's entries and the global ones; None: only the global ones."""
        return await self.repo.visible_in(scope)

    async def vote(self, entry_id: int, user_id: int, up: bool, chat_id: int) -> VoteOutcome:
        """A member's 👍/👎: counted once, changed when they change their mind. REFUSED when the
        entry is gone or is no entry of `chat_id` (where the button was pressed) nor a shared
        one: callback data may name any entry."""
        entry = await self.entry(entry_id)
        if entry is None or entry.chat_id not in (None, chat_id):
            return VoteOutcome.REFUSED
        previous = await self.repo.vote(entry_id, user_id, 1 if up else -1)
        if previous is None:
            return VoteOutcome.SAME
        return VoteOutcome.CHANGED if previous else VoteOutcome.COUNTED
