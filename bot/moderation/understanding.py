"""The semantic spam signal as the bot runs it: trained at start, taught by moderators, async.

Why apart from `semantic_spam`: that module is the numpy model; this one decides when vectors are
computed (never on the event loop), reuses the vectors of the shipped samples that come
precomputed in `data/sample_vectors.npz` (so a start does not embed two thousand texts), and keeps
the bot working while the model trains or when there is no model at all (`probability` is then
None and the scorer uses its other signals).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable, Sequence
from importlib import resources

import numpy as np

from bot.moderation.semantic_spam import SemanticEvidence, SemanticSpamModel
from bot.semantic import EmbeddingService, Kind, ModelUnavailable, text_hash

logger = logging.getLogger(__name__)

VECTORS_FILE = "sample_vectors.npz"


def shipped_vectors(model_id: str) -> dict[str, np.ndarray]:
    """Precomputed vectors of the shipped samples, by text hash, when made by this model."""
    source = resources.files("bot.moderation") / "data" / VECTORS_FILE
    try:
        with resources.as_file(source) as path, np.load(path, allow_pickle=False) as data:
            if str(data["model_id"]) != model_id:
                return {}
            return dict(
                zip(data["hashes"].tolist(), data["vectors"].astype(np.float32), strict=True)
            )
    except (FileNotFoundError, KeyError, ValueError, OSError):
        return {}


class SemanticSpamClassifier:
    def __init__(self, embeddings: EmbeddingService | None) -> None:
        self.embeddings = embeddings
        self.model = SemanticSpamModel()
        self.ready = False
        self._fit_lock = asyncio.Lock()

    @property
    def enabled(self) -> bool:
        return self.embeddings is not None

    async def train(
        self,
        spam: Sequence[str],
        ham: Sequence[str],
        lessons: Iterable[tuple[str, bool]] = (),
    ) -> None:
        """Embed every sample (shipped ones from the precomputed file) and fit the model."""
        if self.embeddings is None:
            return
        started = time.monotonic()
        known = shipped_vectors(self.embeddings.model_id)
        for text in (*spam, *ham):
            vector = known.get(text_hash(EmbeddingService.prepare(text)))
            if vector is not None:
                self.embeddings.remember(text, Kind.QUERY, vector)
        computed_before = self.embeddings.computed
        try:
            spam_vectors = await self.embeddings.embed(list(spam), Kind.QUERY)
            ham_vectors = await self.embeddings.embed(list(ham), Kind.QUERY)
            lesson_list = list(lessons)
            lesson_vectors = await self.embeddings.embed([t for t, _ in lesson_list], Kind.QUERY)
        except ModelUnavailable as exc:
            logger.warning("semantic spam signal off: %s", exc)
            return
        model = SemanticSpamModel()
        model.add(spam_vectors, True)
        model.add(ham_vectors, False)
        for (_text, is_spam), vector in zip(lesson_list, lesson_vectors, strict=True):
            model.add_lesson(vector, is_spam)
        await asyncio.to_thread(model.fit)
        self.model = model
        self.ready = model.trainable
        logger.info(
            "semantic spam model: %d spam, %d ham, %d lessons (%d texts embedded) in %.1f s",
            len(spam),
            len(ham),
            len(lesson_list),
            self.embeddings.computed - computed_before,
            time.monotonic() - started,
        )

    async def evidence(self, text: str) -> SemanticEvidence | None:
        """What the model says about a message, or None without a model (the scorer then
        uses its other signals alone)."""
        if self.embeddings is None or not self.ready or not text.strip():
            return None
        try:
            vector = await self.embeddings.embed_one(text, Kind.QUERY)
        except ModelUnavailable:
            return None
        return self.model.evidence(vector)

    async def learn(self, text: str, is_spam: bool) -> None:
        """A moderator's lesson: remembered at once, then the regression is refitted."""
        if self.embeddings is None or not text.strip():
            return
        try:
            vector = await self.embeddings.embed_one(text, Kind.QUERY)
        except ModelUnavailable:
            return
        self.model.add_lesson(vector, is_spam)
        async with self._fit_lock:
            await asyncio.to_thread(self.model.fit)
        self.ready = self.model.trainable
