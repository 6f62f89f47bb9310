"""Spam scoring for new members' first messages.

A message gets a score from independent signals (each explainable to a moderator in the log's
Details) plus a naive Bayes classifier that keeps learning from moderators' /spam and /notspam.
Scores add up; at `threshold` (1.0) the message is spam. Weights were set on Steward's own
default samples, so a single weak signal (one link, one @mention) never bans anybody alone.
"""

from __future__ import annotations

import functools
import math
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from bot.moderation.semantic_spam import Fusion, SemanticEvidence, logit

# Look-alike letters: Latin <-> Cyrillic. Spammers mix them to dodge keyword filters.
_LATIN_TO_CYR = str.maketrans("aceopxykmhtbAECOPXYKMHTB", "асеорхукмнтвАЕСОРХУКМНТВ")
_CYR_TO_LAT = str.maketrans("асеорхукмнтвАЕСОРХУКМНТВ", "aceopxykmhtbAECOPXYKMHTB")
# Greek letters that pass for Latin or Cyrillic ones (α for a, κ for к, ο for o, ...).
_GREEK_TO_LAT = str.maketrans("αβεικνορτυχΑΒΕΙΚΜΝΟΡΤΥΧ", "abeiknoptyxABEIKMNOPTYX")
_GREEK_TO_CYR = str.maketrans("αβεικνορτυχΑΒΕΙΚΜΝΟΡΤΥΧ", "авеiкпортухАВЕIКМНОРТУХ")
_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)
_URL = re.compile(
    r"(?:https?://|www\.)\S+|\b[a-z0-9-]+\.(?:com|ru|net|org|io|me|xyz|top|site|online|shop|"
    r"club|info|biz|pro|link|live|app|cc|ly|gl|su|ua|nl|store)\b(?:/\S*)?",
    re.IGNORECASE,
)
_INVITE = re.compile(r"(?:t\.me|telegram\.me)/(?:\+|joinchat/)\S+", re.IGNORECASE)
_MENTION = re.compile(r"(?<!\w)@[A-Za-z][A-Za-z0-9_]{3,}")
_EMOJI = re.compile(
    "[\U0001f300-\U0001faff\u2600-\u27bf\U0001f1e6-\U0001f1ff\u2b50\u2b55\u203c\u2049\u2705]"
)

# Phrases that ordinary chat almost never contains and spam almost always does (ru, en, nl).
# Matched on the folded, lower-cased text, so look-alike letters do not hide them.
STRONG_PHRASES: tuple[str, ...] = (
    # ru
    "пиши в лс",
    "пишите в лс",
    "пиши в личк",
    "пишите в личк",
    "в личные сообщ",
    "в лс",
    "без опыта",
    "опыт не нужен",
    "без вложений",
    "набираем",
    "набор в команд",
    "требуются люди",
    "нужны люди",
    "ищу людей",
    "ищем людей",
    "от 18 лет",
    "18+",
    "ограниченное количество мест",
    "количество мест ограничено",
    "пишите +",
    "писать +",
    "ставь +",
    "ставьте +",
    "плюсик",
    "детали в лс",
    "подробности в лс",
    "подробнее в лс",
    "оплата ежедневно",
    "выплаты каждый",
    "стабильный доход",
    "пассивный доход",
    "промокод",
    "фриспин",
    "первый депозит",
    "первое пополнение",
    "по моей ссылке",
    # en
    "dm me",
    "message me",
    "inbox me",
    "no experience",
    "passive income",
    "limited spots",
    "click the link",
    "join my channel",
    "free bitcoin",
    "claim your",
    "first deposit",
    "free spins",
    "referral link",
    "promo code",
    "guaranteed returns",
    "profit daily",
    # nl
    "stuur me een bericht",
    "zonder ervaring",
    "passief inkomen",
    "stuur een dm",
)
# Common in spam but also in honest talk about work and money: weak on their own.
WEAK_PHRASES: tuple[str, ...] = (
    "заработ",
    "доход от",
    "в день",
    "в неделю",
    "удаленн",
    "удалённ",
    "подработ",
    "крипт",
    "инвестиц",
    "арбитраж",
    "бесплатн",
    "казино",
    "ставки",
    "кэшбек",
    "earn",
    "make money",
    "per day",
    "per week",
    "work from home",
    "investment",
    "crypto",
    "forex",
    "casino",
    "bonus",
    "giveaway",
    "verdien",
    "per dag",
    "thuiswerk",
    "investering",
    "bonus",
)
STOP_PHRASES = STRONG_PHRASES + WEAK_PHRASES


def fold(text: str) -> str:
    """NFKC, lower case, and look-alike letters turned into the script each word mostly uses."""
    text = unicodedata.normalize("NFKC", text).lower()
    return _WORD.sub(lambda m: _fold_word(m.group()), text)


def _is_greek(ch: str) -> bool:
    return "\u0370" <= ch <= "\u03ff"


_CYRILLIC = frozenset(map(chr, range(0x0400, 0x0500)))
_LATIN = frozenset("abcdefghijklmnopqrstuvwxyz")
_GREEK = frozenset(map(chr, range(0x0370, 0x0400)))


def _fold_word(word: str) -> str:
    # fast path: nearly every word is in one script, and folding runs on every token of every
    # sample at start (several times over in the fusion's folds) and of every scored message
    if word.isascii():
        return word
    letters = set(word)
    if _GREEK.isdisjoint(letters) and (_CYRILLIC.isdisjoint(letters) or _LATIN.isdisjoint(letters)):
        return word
    cyr = sum(1 for ch in word if "\u0400" <= ch <= "\u04ff")
    lat = sum(1 for ch in word if "a" <= ch <= "z")
    if any(_is_greek(ch) for ch in word) and (cyr or lat):
        word = word.translate(_GREEK_TO_CYR if cyr >= lat else _GREEK_TO_LAT)
    if cyr and lat:
        return word.translate(_LATIN_TO_CYR) if cyr >= lat else word.translate(_CYR_TO_LAT)
    return word


# Characters that render as nothing (zero-width, bidi controls, soft hyphen) and combining marks
# left standing after NFKC (strike-through and underline overlays): inserted to break up words.
_INVISIBLE = re.compile(
    "[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180e\u200b-\u200f\u202a-\u202e\u2060-\u206f\ufe00-\ufe0e\ufeff]"
)
_OVERLAY = re.compile("[\u0300-\u036f\u0483-\u0489\u1ab0-\u1aff\u20d0-\u20ff]")
# "з а р а б о т о к", "e.a.r.n": four or more single letters joined by one space or one dot,
# dash, star, underscore or middle dot (the same one throughout)
_SPACED = re.compile(
    r"(?<![^\W\d_])[^\W\d_](?P<sep>[ .\-*_·•|~+])(?:[^\W\d_](?P=sep)){2,}[^\W\d_](?![^\W\d_])"
)
_WIDE_GAP = re.compile(r"(\s{2,})")
# "за💰ра💰бо💰ток": emoji wedged between letters, twice or more in one word
_PICTURE = "[\U0001f300-\U0001faff\u2600-\u27bf\u2b50\u2b55\u2705]+"
_WEDGED = re.compile(rf"[^\W\d_]+(?:{_PICTURE}[^\W\d_]+){{2,}}")
_WEDGE = re.compile(_PICTURE)
# digits and signs standing in for letters inside a word ("b1tc0in", "д3нь", "Р@б0т@", "ca$h")
_LEET_LAT = str.maketrans("013457@$", "oieastas")
_LEET_CYR = str.maketrans("036@", "оеба")
_LEETED = re.compile(r"(?<![\w@$])[\w@$]*[^\W\d_][\w@$]*(?![\w@$])")
_LEET_INNER = re.compile(r"(?<=[^\W\d_])[0-9@$]+(?=[^\W\d_])|(?<=[^\W\d_])[@$0]$|^0(?=[^\W\d_])")


def _unleet(match: re.Match[str]) -> str:
    word = match.group()
    letters = [ch for ch in word if ch.isalpha()]
    if len(letters) < 2 or len(letters) == len(word):
        return word  # "mp3", "iPhone13", "x100" keep their digits: a model or a size
    cyrillic = sum("\u0400" <= ch <= "\u04ff" for ch in letters)
    table = _LEET_CYR if cyrillic > len(letters) / 2 else _LEET_LAT
    return _LEET_INNER.sub(lambda m: m.group().translate(table), word)


def _unspace(text: str) -> str:
    """Letters written apart joined again; in such a message a wider gap separates words, and
    shorter spaced runs ("п и ш и  в  л с") are joined too."""
    found = _SPACED.search(text)
    if found is None:
        return text
    sep = found.group("sep")
    if sep != " ":
        dotted = re.compile(rf"(?<![^\W\d_])[^\W\d_](?:{re.escape(sep)}[^\W\d_])+(?![^\W\d_])")
        return dotted.sub(lambda m: m.group().replace(sep, ""), text)
    if not _WIDE_GAP.search(text):
        return _SPACED.sub(lambda m: m.group().replace(" ", ""), text)
    parts = []
    for part in _WIDE_GAP.split(text):
        if part.isspace():
            parts.append(" ")
        elif all(len(piece) <= 2 for piece in part.split(" ")):
            parts.append(part.replace(" ", ""))
        else:
            parts.append(part)
    return "".join(parts)


def _fold_word_keep_case(word: str) -> str:
    folded = _fold_word(word.lower())
    if folded == word.lower():
        return word
    return "".join(f.upper() if o.isupper() else f for o, f in zip(word, folded, strict=True))


@functools.lru_cache(maxsize=8192)
def unobfuscate(text: str) -> str:
    """The message as its author meant it to read: what spammers do to dodge filters undone.

    Why: a multilingual embedding (and Bayes over stems) reads "з а р а б о т о к",
    "𝗥𝗔𝗕𝗢𝗧𝗔", "b1tc0in", "за💰ра💰бо💰ток" or a Cyrillic "о" in a Latin word as noise, so an
    obfuscated copy of a known scheme scored far below the plain one. Ordinary text comes back
    unchanged (so its stored vector still applies); case is kept, since the model reads it.
    Cached: at start every sample passes through here several times (Bayes, stop phrases, the
    fusion's folds), and a scored message twice.
    """
    text = unicodedata.normalize("NFKC", text)
    text = _OVERLAY.sub("", _INVISIBLE.sub("", text))
    text = _unspace(text)
    text = _WEDGED.sub(lambda m: _WEDGE.sub("", m.group()), text)
    text = _LEETED.sub(_unleet, text)
    return _WORD.sub(lambda m: _fold_word_keep_case(m.group()), text)


def mixed_script_words(text: str) -> list[str]:
    """Words of 3+ letters mixing Latin, Cyrillic or Greek (`зaработок` with a Latin a)."""
    found = []
    for word in _WORD.findall(unicodedata.normalize("NFKC", text)):
        if len(word) < 3:
            continue
        has_cyr = any("\u0400" <= ch <= "\u04ff" for ch in word)
        has_lat = any("a" <= ch.lower() <= "z" for ch in word)
        has_greek = any(_is_greek(ch) for ch in word)
        if has_cyr + has_lat + has_greek >= 2:
            found.append(word)
    return found


def tokens(text: str) -> list[str]:
    """Bayes features: folded words cut to 6 letters, a cheap stemmer for ru/en/nl alike."""
    return [w[:6] for w in _WORD.findall(fold(unobfuscate(text))) if len(w) > 1]


class NaiveBayes:
    """Multinomial naive Bayes over word stems, with Laplace smoothing."""

    def __init__(self) -> None:
        self.spam: Counter[str] = Counter()
        self.ham: Counter[str] = Counter()
        self.spam_docs = 0
        self.ham_docs = 0
        # (spam tokens, ham tokens, vocabulary size): summing the counters on every message cost
        # more than the rest of scoring; recomputed only after learning
        self._totals: tuple[int, int, int] | None = None

    def learn(self, text: str, is_spam: bool, weight: int = 1) -> None:
        self._totals = None
        counts = Counter(set(tokens(text)))
        for token, n in counts.items():
            (self.spam if is_spam else self.ham)[token] += n * weight
        if is_spam:
            self.spam_docs += weight
        else:
            self.ham_docs += weight

    def without(self, other: NaiveBayes) -> NaiveBayes:
        """This classifier as if `other`'s messages had never been learned: a cross-validation
        fold's model for the price of learning the fold, not the rest over again."""
        result = NaiveBayes()
        result.spam = self.spam - other.spam
        result.ham = self.ham - other.ham
        result.spam_docs = self.spam_docs - other.spam_docs
        result.ham_docs = self.ham_docs - other.ham_docs
        return result

    def learn_many(self, texts: Iterable[str], is_spam: bool) -> int:
        n = 0
        for text in texts:
            self.learn(text, is_spam)
            n += 1
        return n

    def log_odds(self, text: str) -> float:
        """log P(spam|text) - log P(ham|text); 0 when the classifier knows nothing."""
        if not self.spam_docs or not self.ham_docs:
            return 0.0
        if self._totals is None:
            self._totals = (
                sum(self.spam.values()),
                sum(self.ham.values()),
                len(self.spam.keys() | self.ham.keys()) + 1,
            )
        spam_total, ham_total, vocabulary = self._totals
        score = math.log(self.spam_docs / self.ham_docs)
        for token in set(tokens(text)):
            if token not in self.spam and token not in self.ham:
                continue  # unknown words say nothing either way
            score += math.log((self.spam[token] + 1) / (spam_total + vocabulary))
            score -= math.log((self.ham[token] + 1) / (ham_total + vocabulary))
        return score

    def probability(self, text: str) -> float:
        odds = max(-30.0, min(30.0, self.log_odds(text)))
        return 1.0 / (1.0 + math.exp(-odds))


@dataclass(frozen=True, slots=True)
class MessageFeatures:
    """What the scorer needs from a message; built from Telegram's Message by the handler."""

    text: str
    links: int = 0  # url / text_link entities, or URLs found in the text
    mentions: int = 0  # @mentions of other accounts
    invite_links: int = 0
    forwarded_from_channel: bool = False
    has_buttons: bool = False


@dataclass(frozen=True, slots=True)
class Weights:
    threshold: float = 1.0
    link: float = 0.35
    link_cap: float = 0.7
    invite: float = 0.6
    mention: float = 0.25
    mention_cap: float = 0.5
    channel_forward: float = 0.5
    buttons: float = 0.6
    emoji_flood: float = 0.4
    caps_flood: float = 0.3
    homoglyph: float = 0.5
    homoglyph_cap: float = 1.0
    stop_phrase: float = 0.45
    weak_phrase: float = 0.15
    stop_phrase_cap: float = 1.2
    bayes: float = 0.9  # multiplied by (2p - 1), p = Bayes spam probability
    # With the semantic model (weights from 5-fold cross-validation on the shipped samples,
    # bench/spam_eval.py --cv): the regression's probability, the nearest-neighbour margin, and
    # Bayes reduced to a tie-breaker, since the embedding sees what the stems see and more.
    semantic: float = 1.1  # multiplied by (2p - 1), p = the embedding regression's P(spam)
    neighbours: float = 1.4  # multiplied by the neighbour margin x 20, clipped to -1 … 1
    neighbours_scale: float = 20.0
    bayes_with_semantic: float = 0.2
    lesson: float = 2.0  # a moderator's lesson sets the score to threshold + 2 or to -2


SIGNALS = (
    "links",
    "invite_links",
    "mentions",
    "channel_forward",
    "buttons",
    "emoji_flood",
    "caps_flood",
    "homoglyphs",
    "stop_phrases",
    "bayes",
    "semantic",
    "neighbours",
    "lesson",
)
LEXICAL_SIGNALS = SIGNALS[: SIGNALS.index("bayes")]
# What the learned fusion reads: the lexical signals as the hand weights scale them, Bayes'
# log-odds, and the two semantic values, each scaled to roughly -1 … 1.
FUSION_INPUTS = (*LEXICAL_SIGNALS, "bayes", "semantic", "neighbours")


@dataclass(frozen=True, slots=True)
class SpamVerdict:
    score: float
    signals: dict[str, float] = field(default_factory=dict)
    threshold: float = 1.0

    @property
    def is_spam(self) -> bool:
        return self.score >= self.threshold

    def explain(self) -> str:
        parts = [f"{name} {value:+.2f}" for name, value in self.signals.items() if value]
        return ", ".join(parts) or "no signal"


def features_from_text(text: str) -> MessageFeatures:
    """Features of plain text alone, for sample files and the evaluation bench."""
    return MessageFeatures(
        text=text,
        links=len(_URL.findall(text)),
        mentions=len(_MENTION.findall(text)),
        invite_links=len(_INVITE.findall(text)),
    )


class SpamScorer:
    def __init__(self, bayes: NaiveBayes | None = None, weights: Weights | None = None) -> None:
        self.bayes = bayes or NaiveBayes()
        self.weights = weights or Weights()

    def lexical_signals(
        self,
        f: MessageFeatures,
        bayes_weight: float | None = None,
        bayes_probability: float | None = None,
    ) -> dict[str, float]:
        """The signals that need no model, each already weighted. `bayes_probability`: Bayes'
        answer when the caller already has it (the fusion reads it twice otherwise)."""
        w = self.weights
        bayes_weight = w.bayes if bayes_weight is None else bayes_weight
        text = f.text or ""
        if bayes_probability is None and text:
            bayes_probability = self.bayes.probability(text)
        folded = fold(unobfuscate(text))
        letters = [ch for ch in text if ch.isalpha()]
        emoji = len(_EMOJI.findall(text))
        upper = sum(1 for ch in letters if ch.isupper())
        strong = sum(1 for phrase in STRONG_PHRASES if phrase in folded)
        weak = sum(1 for phrase in set(WEAK_PHRASES) if phrase in folded)
        links = max(f.links, len(_URL.findall(text)))
        invites = max(f.invite_links, len(_INVITE.findall(text)))
        return {
            "links": min(w.link_cap, w.link * max(0, links - invites)),
            "invite_links": w.invite if invites else 0.0,
            "mentions": min(w.mention_cap, w.mention * f.mentions),
            "channel_forward": w.channel_forward if f.forwarded_from_channel else 0.0,
            "buttons": w.buttons if f.has_buttons else 0.0,
            "emoji_flood": w.emoji_flood
            if emoji >= 5 and emoji / max(1, len(text.split())) > 0.3
            else 0.0,
            "caps_flood": w.caps_flood
            if len(letters) >= 15 and upper / len(letters) > 0.6
            else 0.0,
            "homoglyphs": min(w.homoglyph_cap, w.homoglyph * len(mixed_script_words(text))),
            "stop_phrases": min(w.stop_phrase_cap, w.stop_phrase * strong + w.weak_phrase * weak),
            "bayes": round(bayes_weight * (2 * bayes_probability - 1), 4)
            if text and bayes_probability is not None
            else 0.0,
        }

    def fusion_inputs(self, f: MessageFeatures, semantic: SemanticEvidence) -> dict[str, float]:
        bayes_probability = self.bayes.probability(f.text or "")
        inputs = self.lexical_signals(f, bayes_probability=bayes_probability)
        inputs["bayes"] = logit(bayes_probability) / 10
        inputs["semantic"] = logit(semantic.probability) / 5
        inputs["neighbours"] = semantic.neighbours * 10
        return inputs

    def score(
        self,
        f: MessageFeatures,
        semantic: SemanticEvidence | None = None,
        fusion: Fusion | None = None,
    ) -> SpamVerdict:
        """The verdict from every signal there is.

        Without the model: the hand-weighted lexical signals add up (threshold 1.0). With it and
        a learned `fusion`: the fusion's contributions, in the same units. With the model but
        no fusion yet (it trains in the background): hand weights for the semantic values too.
        """
        w = self.weights
        signals: dict[str, float] = dict.fromkeys(SIGNALS, 0.0)
        if semantic is not None and fusion is not None:
            signals.update(fusion.contributions(self.fusion_inputs(f, semantic), semantic.group))
        else:
            bayes_weight = w.bayes if semantic is None else w.bayes_with_semantic
            signals.update(self.lexical_signals(f, bayes_weight))
            if semantic is not None:
                margin = max(-1.0, min(1.0, semantic.neighbours * w.neighbours_scale))
                signals["semantic"] = round(w.semantic * (2 * semantic.probability - 1), 4)
                signals["neighbours"] = round(w.neighbours * margin, 4)
        if semantic is not None and semantic.lesson is not None:
            # a moderator already judged this very text: that decides, whatever else fires
            target = w.threshold + w.lesson if semantic.lesson else -w.lesson
            signals["lesson"] = round(target - sum(signals.values()), 4)
        return SpamVerdict(round(sum(signals.values()), 4), signals, w.threshold)


# --- samples --------------------------------------------------------------------------------


def read_samples(path: Path) -> list[str]:
    """tg-spam's format: one message per line; blank lines and `#` comments skipped."""
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def default_samples(kind: str) -> list[str]:
    """Steward's own samples shipped with the package (`spam` or `ham`): every data file whose
    name holds the kind (`default_spam.txt`, `spam_en.txt`, ...), in name order."""
    folder = resources.files("bot.moderation") / "data"
    files = sorted(
        (item for item in folder.iterdir() if item.name.endswith(".txt") and kind in item.name),
        key=lambda item: item.name,
    )
    return [
        line.strip()
        for data in files
        for line in data.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]


def sample_files(folder: Path) -> tuple[list[Path], list[Path]]:
    """tg-spam's naming: `*spam*.txt` files hold spam, `*ham*.txt` files hold ham."""
    spam, ham = [], []
    for path in sorted(folder.glob("*.txt")):
        name = path.name.lower()
        if "spam" in name:
            spam.append(path)
        elif "ham" in name:
            ham.append(path)
    return spam, ham


def load_sample_dir(bayes: NaiveBayes, folder: Path) -> tuple[int, int]:
    """Learn every `*spam*.txt` as spam and `*ham*.txt` as ham in a tg-spam samples folder."""
    spam_files, ham_files = sample_files(folder)
    spam = sum(bayes.learn_many(read_samples(path), True) for path in spam_files)
    ham = sum(bayes.learn_many(read_samples(path), False) for path in ham_files)
    return spam, ham


def build_default_bayes() -> NaiveBayes:
    bayes = NaiveBayes()
    bayes.learn_many(default_samples("spam"), True)
    bayes.learn_many(default_samples("ham"), False)
    return bayes
