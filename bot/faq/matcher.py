"""Offline FAQ matching that finds paraphrases, not only shared keywords.

Every phrasing and every question becomes a sparse TF-IDF vector of two kinds of features:
word stems (the first five letters, a crude stemmer that works for en/ru/nl alike) and
character 4-grams inside words, which survive inflection, typos and compound words. The score of
an entry is the best cosine similarity among its phrasings. The bot answers only when that score
clears `threshold` and beats the best *other* entry by `margin`; just below, it may offer
"Did you mean…"; otherwise it stays silent. An inverted index keeps a lookup proportional to the
phrasings that share a feature with the question, not to the size of the FAQ.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from bot.moderation.spam import fold

_WORD = re.compile(r"[^\W_]+", re.UNICODE)

STOPWORDS = frozenset(
    """
a an the is are was were be been am do does did to of in on at for with and or but if it its
this that these those i you he she we they me my your our their what how where when why who
which can could would should will shall may might must there here about from by as not no so
please hi hello hey anyone someone does и в во не на я с со как а то все она так его но да ты
к у же вы за бы по только ее мне было вот от меня еще нет о из ему теперь когда даже ну ли
если уже или ни быть был него до вас нибудь опять уж вам ведь там потом себя ничего ей может
они тут где есть надо ней для мы тебя их чем была сам чтоб без будто чего раз тоже себе под
будет ж тогда кто этот того потому этого какой совсем ним здесь этом один почти мой тем чтобы
нее сейчас были куда зачем всех никогда можно при наконец два об другой хоть после над больше
тот через эти нас про всего них какая много разве три эту моя впрочем хорошо свою этой перед
иногда лучше чуть том нельзя такой им более всегда конечно всю между подскажите скажите
кто-нибудь привет здравствуйте пожалуйста de het een en van ik te dat die in is niet er zijn
op aan met als voor had maar om hem dan zou of wat mijn men dit zo door over ze zich bij ook
tot je mij uit der daar haar naar heb hoe heeft hebben deze u want nog zal me zij nu ge geen
omdat iets worden toch al waren veel meer doen toen moet ben zonder kan hun dus alles onder ja
eens hier wie werd altijd doch wordt wezen kunnen ons zelf tegen na reeds wil kon niets uw
iemand geweest andere hallo hoi alsjeblieft waar wanneer waarom welke
""".split()
)


def normalize(text: str) -> str:
    return fold(unicodedata.normalize("NFKC", text)).replace("ё", "е")


def features(text: str) -> Counter[str]:
    words = [w for w in _WORD.findall(normalize(text)) if not w.isdigit()]
    found: Counter[str] = Counter()
    for word in words:
        if word in STOPWORDS or len(word) < 2:
            continue
        found["w:" + word[:5]] += 1
        padded = f"<{word}>"
        for i in range(len(padded) - 3):
            found["g:" + padded[i : i + 4]] += 1
    return found


@dataclass(frozen=True, slots=True)
class Match:
    entry_id: int
    score: float
    runner_up: float  # best score of any other entry
    runner_up_id: int | None = None


@dataclass
class FaqIndex:
    threshold: float = 0.42
    margin: float = 0.06
    suggest_from: float = 0.30
    _entries: list[int] = field(default_factory=list)  # phrasing -> entry id
    _vectors: list[dict[str, float]] = field(default_factory=list)
    _postings: dict[str, list[tuple[int, float]]] = field(default_factory=dict)
    _idf: dict[str, float] = field(default_factory=dict)

    @classmethod
    def build(cls, phrasings: Iterable[tuple[int, str]], **params: float) -> FaqIndex:
        index = cls(**params)
        raw = [(entry_id, features(text)) for entry_id, text in phrasings]
        documents = len(raw) or 1
        df: Counter[str] = Counter()
        for _, feats in raw:
            df.update(feats.keys())
        index._idf = {f: math.log((1 + documents) / (1 + n)) + 1 for f, n in df.items()}
        postings: dict[str, list[tuple[int, float]]] = defaultdict(list)
        for entry_id, feats in raw:
            vector = index._weigh(feats)
            position = len(index._entries)
            index._entries.append(entry_id)
            index._vectors.append(vector)
            for feature, weight in vector.items():
                postings[feature].append((position, weight))
        index._postings = dict(postings)
        return index

    def _weigh(self, feats: Counter[str]) -> dict[str, float]:
        vector = {f: (1 + math.log(n)) * self._idf.get(f, 0.0) for f, n in feats.items()}
        vector = {f: w for f, w in vector.items() if w > 0}
        norm = math.sqrt(sum(w * w for w in vector.values())) or 1.0
        return {f: w / norm for f, w in vector.items()}

    def __len__(self) -> int:
        return len(self._entries)

    def scores(self, question: str) -> dict[int, float]:
        """Best cosine similarity per entry, for entries sharing any feature."""
        query = self._weigh(features(question))
        per_phrasing: dict[int, float] = defaultdict(float)
        for feature, weight in query.items():
            for position, other in self._postings.get(feature, ()):
                per_phrasing[position] += weight * other
        best: dict[int, float] = {}
        for position, score in per_phrasing.items():
            entry_id = self._entries[position]
            if score > best.get(entry_id, 0.0):
                best[entry_id] = score
        return best

    def ranked(self, question: str, limit: int | None = 3) -> list[tuple[int, float]]:
        ordered = sorted(self.scores(question).items(), key=lambda kv: -kv[1])
        return ordered if limit is None else ordered[:limit]

    def best(self, question: str) -> Match | None:
        top = self.ranked(question, 2)
        if not top:
            return None
        runner_up = top[1] if len(top) > 1 else (None, 0.0)
        return Match(top[0][0], top[0][1], runner_up[1], runner_up[0])

    def decide(self, question: str) -> tuple[str, Match | None]:
        """('answer' | 'suggest' | 'none', best match)."""
        match = self.best(question)
        if match is None:
            return "none", None
        return self.classify(match), match

    def classify(self, match: Match) -> str:
        if match.score >= self.threshold and match.score - match.runner_up >= self.margin:
            return "answer"
        if match.score >= self.suggest_from:
            return "suggest"
        return "none"
