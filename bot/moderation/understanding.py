"""The semantic spam signal as the bot runs it: trained at start, taught by moderators, async.

Why apart from `semantic_spam`: that module is the numpy model; this one decides when vectors are
computed (never on the event loop), reuses the vectors of the shipped samples that come
precomputed in `data/sample_vectors.npz` (so a start does not embed four thousand texts), and keeps
the bot working while the model trains or when there is no model at all (`probability` is then
None and the scorer uses its other signals).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import sys
import time
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from importlib import resources
from pathlib import Path

import numpy as np

from bot.moderation.fits import (
    FitStore,
    decode_fusion,
    decode_regression,
    encode_fusion,
    encode_regression,
    fit_digest,
    load_fit,
    save_fit,
)
from bot.moderation.semantic_spam import (
    L2,
    NEIGHBOURS,
    SPAM_NEIGHBOURS,
    Fusion,
    SemanticEvidence,
    SemanticSpamModel,
    fit_fusion,
    language_group,
)
from bot.moderation.spam import (
    FUSION_INPUTS,
    NaiveBayes,
    SpamScorer,
    features_from_text,
    unobfuscate,
)
from bot.semantic import (
    EmbeddingService,
    Kind,
    ModelUnavailable,
    create_embedding_service,
    text_hash,
)

logger = logging.getLogger(__name__)

VECTORS_FILE = "sample_vectors.npz"
FOLDS = 5
_FUSIONS: OrderedDict[str, Fusion] = OrderedDict()


def fusion_digest(
    texts: Sequence[str],
    labels: np.ndarray,
    vectors: np.ndarray,
    start: np.ndarray | None = None,
    centres: dict[str, np.ndarray] | None = None,
    *context: object,
) -> str:
    """Everything `train_fusion` reads, plus what the caller adds (the embedding model)."""
    return fit_digest(
        "fusion",
        list(texts),
        labels,
        vectors,
        start,
        centres,
        FOLDS,
        SPAM_NEIGHBOURS,
        L2,
        FUSION_INPUTS,
        *context,
    )


def train_fusion(
    texts: Sequence[str],
    labels: np.ndarray,
    vectors: np.ndarray,
    start: np.ndarray | None = None,
    centres: dict[str, np.ndarray] | None = None,
) -> Fusion:
    """Learn how to weigh the evidence, from out-of-fold predictions on the training samples.

    Each fold's regression, neighbours and Bayes are trained without that fold, so the fusion
    learns how much each kind of evidence is worth on messages they have not seen, not on ones
    they memorised. Costs a few seconds of CPU at start (in a worker thread); the same samples
    give the same fusion, so a process fits it once (and `SemanticSpamClassifier` stores it
    for the next process). `start` and `centres`: the full model's coefficients and language
    centres; with both, each fold's regression starts in the same geometry and converges in a
    few steps (with centres of its own it took twice as many).
    """
    key = fusion_digest(texts, labels, vectors, start, centres)
    cached = _FUSIONS.get(key)
    if cached is not None:
        return cached
    order = np.random.default_rng(0).permutation(len(texts))
    inputs = np.zeros((len(texts), len(FUSION_INPUTS)))
    groups = np.array([language_group(unobfuscate(text)) for text in texts])
    everything = NaiveBayes()
    for text, label in zip(texts, labels, strict=True):
        everything.learn(text, bool(label))
    for fold in range(FOLDS):
        test = order[fold::FOLDS]
        train = np.setdiff1d(order, test)
        model = SemanticSpamModel(centred=True, fixed_centres=centres, neighbours=SPAM_NEIGHBOURS)
        model.add_rows(vectors[train], labels[train], groups[train].tolist())
        if start is not None:
            model.regression.coef, model.regression.intercept = start[:-1], float(start[-1])
        model.fit()
        held_out = NaiveBayes()
        for i in test:
            held_out.learn(texts[i], bool(labels[i]))
        scorer = SpamScorer(everything.without(held_out))
        evidences = model.evidences(vectors[test], groups[test].tolist())
        for i, evidence in zip(test, evidences, strict=True):
            row = scorer.fusion_inputs(features_from_text(texts[i]), evidence)
            inputs[i] = [row[name] for name in FUSION_INPUTS]
    fusion = fit_fusion(inputs, labels, FUSION_INPUTS)
    _FUSIONS[key] = fusion
    while len(_FUSIONS) > 4:
        _FUSIONS.popitem(last=False)
    return fusion


def shipped_vectors(
    model_id: str, package: str = "bot.moderation", filename: str = VECTORS_FILE
) -> dict[str, np.ndarray]:
    """Precomputed vectors of the shipped samples, by text hash, when made by this model.

    Shared with complaint detection (`bot.reputation`), which ships its own file."""
    source = resources.files(package) / "data" / filename
    try:
        with resources.as_file(source) as path, np.load(path, allow_pickle=False) as data:
            if str(data["model_id"]) != model_id:
                return {}
            return dict(
                zip(data["hashes"].tolist(), data["vectors"].astype(np.float32), strict=True)
            )
    except (FileNotFoundError, KeyError, ValueError, OSError):
        return {}


def refresh_shipped_vectors(
    texts: Sequence[str], package: str, filename: str, check: bool, target_folder: Path
) -> int:
    """The body of scripts/embed_*_samples.py: rewrite a shipped vectors file, or with `check`
    exit 1 when a shipped example has none (the test that keeps start-up free of embedding)."""
    service = create_embedding_service("builtin")
    if service is None:
        print("the bundled model does not load here", file=sys.stderr)
        return 2
    wanted = list(dict.fromkeys(EmbeddingService.prepare(t) for t in texts))
    if check:
        known = shipped_vectors(service.model_id, package, filename)
        missing = [t for t in wanted if text_hash(t) not in known]
        if missing:
            print(
                f"{len(missing)} shipped examples have no precomputed vector, e.g. {missing[0]!r}"
            )
            return 1
        return 0
    vectors = asyncio.run(service.embed(wanted, Kind.QUERY))
    target = target_folder / filename
    np.savez_compressed(
        target,
        model_id=np.array(service.model_id),
        hashes=np.array([text_hash(t) for t in wanted]),
        vectors=vectors.astype(np.float16),
    )
    print(f"{len(wanted)} vectors -> {target} ({target.stat().st_size} bytes)")
    return 0


class EmbeddingClassifier:
    """A binary classifier over message embeddings, as the bot runs one: trained at start from
    shipped examples (their vectors precomputed) plus stored lessons, taught at once by people.

    The spam signal and complaint detection (`bot.reputation`) are both this; they differ in
    their examples, their regularisation and what they make of the evidence.
    """

    label = "embedding classifier"  # for the log lines
    kind = "embedding"  # names its stored fits (`bot.moderation.fits`)
    vectors_package = "bot.moderation"
    vectors_file = VECTORS_FILE
    centred = False  # per-language centring (`SemanticSpamModel.centred`)
    neighbours = NEIGHBOURS  # `SemanticSpamModel.neighbours`

    @staticmethod
    def readable(text: str) -> str:
        """The text as the model should read it; the spam classifier undoes obfuscation."""
        return text

    def group(self, text: str) -> str:
        """Whose centre a centred model takes from this text's vector."""
        return language_group(text) if self.centred else "other"

    def __init__(
        self, embeddings: EmbeddingService | None, l2: float = L2, fits: FitStore | None = None
    ) -> None:
        self.embeddings = embeddings
        self.l2 = l2
        # where start-up's fits are kept for the next start; lessons taught later refit in
        # memory only, or every /spam would store a model the next start would not ask for
        self.fits = fits
        self.reused: list[str] = []  # the kinds of fit the last `train` loaded, for the log
        self.model = SemanticSpamModel(l2=l2, centred=self.centred, neighbours=self.neighbours)
        self.ready = False
        self._fit_lock = asyncio.Lock()

    @property
    def enabled(self) -> bool:
        return self.embeddings is not None

    async def train(
        self,
        positive: Sequence[str],
        negative: Sequence[str],
        lessons: Iterable[tuple[str, bool]] = (),
    ) -> None:
        """Embed every example (shipped ones from the precomputed file) and fit the model."""
        if self.embeddings is None:
            return
        started = time.monotonic()
        written = list(positive), list(negative)  # the lexical signals read the text as written
        # a few thousand texts' worth of regular expressions: off the loop, like the fitting
        positive, negative, positive_groups, negative_groups = await asyncio.to_thread(
            self._read, *written
        )
        # The shipped examples' vectors are read from the precomputed file, not seeded into
        # the embedding cache: thousands of entries there would keep the whole file's array
        # resident (the cached vectors are views of it) long after training, for texts no
        # member sends, and push out what members do send.
        known = shipped_vectors(self.embeddings.model_id, self.vectors_package, self.vectors_file)
        computed_before = self.embeddings.computed
        lesson_list = [(self.readable(text), label) for text, label in lessons]
        group = self.group
        try:
            positive_vectors = await self._vectors(positive, known)
            negative_vectors = await self._vectors(negative, known)
            lesson_vectors = await self.embeddings.embed([t for t, _ in lesson_list], Kind.QUERY)
        except ModelUnavailable as exc:
            logger.warning("%s off: %s", self.label, exc)
            return
        model = SemanticSpamModel(l2=self.l2, centred=self.centred, neighbours=self.neighbours)
        model.add(positive_vectors, True, groups=positive_groups)
        model.add(negative_vectors, False, groups=negative_groups)
        for (text, label), vector in zip(lesson_list, lesson_vectors, strict=True):
            model.add_lesson(vector, label, group(text))
        self.reused = []
        await self._fit(model)
        self.model = model
        self.ready = model.trainable
        if self.ready:
            await self._trained(*written, positive_vectors, negative_vectors)
        logger.info(
            "%s: %d positive, %d negative, %d lessons (%d texts embedded) in %.1f s%s",
            self.label,
            len(positive),
            len(negative),
            len(lesson_list),
            self.embeddings.computed - computed_before,
            time.monotonic() - started,
            f" (stored {', '.join(self.reused)} reused)" if self.reused else "",
        )

    async def _fit(self, model: SemanticSpamModel) -> None:
        """Fit the start-up model, or take the regression the previous start stored for the
        very same rows (seconds of Newton's method on a few thousand rows)."""
        if self.fits is None or not model.trainable:
            await asyncio.to_thread(model.fit)
            return
        assert self.embeddings is not None
        kind, dim = f"{self.kind}:regression", self.embeddings.dim
        digest = await asyncio.to_thread(self._regression_digest, model, self.embeddings.model_id)
        decode = functools.partial(decode_regression, l2=self.l2, dim=dim)
        regression = await load_fit(self.fits, kind, digest, decode)
        await asyncio.to_thread(model.fit, regression)
        if regression is not None:
            self.reused.append("regression")
        else:
            await save_fit(self.fits, kind, digest, encode_regression(model.regression))

    def _regression_digest(self, model: SemanticSpamModel, model_id: str) -> str:
        """Everything the regression is fitted from: rows, labels, weights (lessons weigh
        more), language groups (centres), regularisation, centring, embedding model."""
        return fit_digest(
            "regression",
            model_id,
            model.l2,
            model.centred,
            np.vstack(model.vectors).astype(np.float32, copy=False),
            np.asarray(model.labels),
            np.asarray(model.weights),
            list(model.groups),
        )

    async def _vectors(self, texts: Sequence[str], known: dict[str, np.ndarray]) -> np.ndarray:
        """The texts' vectors: precomputed ones from `known` (by text hash), the rest embedded."""
        assert self.embeddings is not None
        found = [known.get(text_hash(EmbeddingService.prepare(text))) for text in texts]
        missing = [text for text, vector in zip(texts, found, strict=True) if vector is None]
        computed = iter(await self.embeddings.embed(missing, Kind.QUERY))
        result = np.empty((len(found), self.embeddings.dim), dtype=np.float32)
        for row, vector in enumerate(found):
            result[row] = vector if vector is not None else next(computed)
        return result

    def _read(
        self, positive: list[str], negative: list[str]
    ) -> tuple[list[str], list[str], list[str], list[str]]:
        """The examples as the model reads them, and their language groups."""
        positive = [self.readable(text) for text in positive]
        negative = [self.readable(text) for text in negative]
        return (
            positive,
            negative,
            [self.group(text) for text in positive],
            [self.group(text) for text in negative],
        )

    async def _trained(
        self,
        positive: Sequence[str],
        negative: Sequence[str],
        positive_vectors: np.ndarray,
        negative_vectors: np.ndarray,
    ) -> None:
        """What a subclass learns on top of the fitted model; nothing by default."""

    async def _embed(self, text: str) -> np.ndarray | None:
        """The text's vector, or None without a model or text; a lesson needs no trained model."""
        if self.embeddings is None or not text.strip():
            return None
        try:
            return await self.embeddings.embed_one(self.readable(text), Kind.QUERY)
        except ModelUnavailable:
            return None

    async def vector(self, text: str) -> np.ndarray | None:
        """The message's vector when the model can judge it, else None."""
        return await self._embed(text) if self.ready else None

    async def learn(self, text: str, label: bool) -> None:
        """A person's judgement: remembered at once (near-duplicates take it), then refitted."""
        vector = await self._embed(text)
        if vector is None:
            return
        self.model.add_lesson(vector, label, self.group(self.readable(text)))
        async with self._fit_lock:
            await asyncio.to_thread(self.model.fit)
        self.ready = self.model.trainable


class SemanticSpamClassifier(EmbeddingClassifier):
    """Spam (positive) against ham, plus the learned fusion with the lexical signals."""

    label = "semantic spam model"
    kind = "spam"
    readable = staticmethod(unobfuscate)
    centred = True
    neighbours = SPAM_NEIGHBOURS

    def __init__(self, embeddings: EmbeddingService | None, fits: FitStore | None = None) -> None:
        super().__init__(embeddings, fits=fits)
        self.fusion: Fusion | None = None
        # False while the fusion trains. Between the regression's fit and the fusion's
        # (seconds, on a new database) the model's evidence would be weighed by hand weights
        # never calibrated against the samples: in that window a new member's ordinary line
        # was banned. Until the fusion is there the scorer uses its other signals alone, as
        # it does while the samples are embedded.
        self._fusion_settled = True

    async def _trained(
        self,
        positive: Sequence[str],
        negative: Sequence[str],
        positive_vectors: np.ndarray,
        negative_vectors: np.ndarray,
    ) -> None:
        if len(positive) < FOLDS or len(negative) < FOLDS:
            return
        self._fusion_settled = False
        try:
            await self._train_fusion(positive, negative, positive_vectors, negative_vectors)
        finally:
            self._fusion_settled = True

    async def _train_fusion(
        self,
        positive: Sequence[str],
        negative: Sequence[str],
        positive_vectors: np.ndarray,
        negative_vectors: np.ndarray,
    ) -> None:
        texts = [*positive, *negative]
        labels = np.array([1] * len(positive) + [0] * len(negative))
        vectors = np.vstack([positive_vectors, negative_vectors])
        inputs = (
            texts,
            labels,
            vectors,
            self.model.regression.parameters,
            self.model.centres or None,
        )
        if self.fits is None:
            self.fusion = await asyncio.to_thread(train_fusion, *inputs)
            return
        assert self.embeddings is not None
        kind = f"{self.kind}:fusion"
        digest = await asyncio.to_thread(fusion_digest, *inputs, self.embeddings.model_id)
        decode = functools.partial(decode_fusion, names=FUSION_INPUTS)
        fusion = await load_fit(self.fits, kind, digest, decode)
        if fusion is not None:
            self.reused.append("fusion")
        else:
            fusion = await asyncio.to_thread(train_fusion, *inputs)
            await save_fit(self.fits, kind, digest, encode_fusion(fusion))
        self.fusion = fusion

    async def evidence(self, text: str) -> SemanticEvidence | None:
        """What the model says about a message, or None without a model (the scorer then
        uses its other signals alone)."""
        if not self._fusion_settled:
            return None
        vector = await self.vector(text)
        if vector is None:
            return None
        return self.model.evidence(vector, self.group(self.readable(text)))
