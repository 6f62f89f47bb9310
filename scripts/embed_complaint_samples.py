#!/usr/bin/env python3
"""Precompute the vectors of the shipped complaint examples into bot/reputation/data/.

    python scripts/embed_complaint_samples.py           # rewrite complaint_vectors.npz
    python scripts/embed_complaint_samples.py --check   # exit 1 if an example has no vector

Why: the bot trains its complaint classifier at every start; with these vectors it embeds
nothing but the staff lessons. Same format as scripts/embed_spam_samples.py (float16, with the
model's id; another model simply embeds the examples at start).
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.moderation.understanding import shipped_vectors  # noqa: E402
from bot.reputation.classifier import VECTORS_FILE, shipped_examples  # noqa: E402
from bot.semantic import EmbeddingService, Kind, create_embedding_service, text_hash  # noqa: E402

TARGET = ROOT / "bot" / "reputation" / "data" / VECTORS_FILE


def wanted() -> list[str]:
    complaints, other = shipped_examples()
    return list(dict.fromkeys(EmbeddingService.prepare(t) for t in (*complaints, *other)))


def main(argv: list[str]) -> int:
    service = create_embedding_service("builtin")
    if service is None:
        print("the bundled model does not load here", file=sys.stderr)
        return 2
    texts = wanted()
    if "--check" in argv:
        known = shipped_vectors(service.model_id, "bot.reputation", VECTORS_FILE)
        missing = [t for t in texts if text_hash(t) not in known]
        if missing:
            print(
                f"{len(missing)} shipped examples have no precomputed vector, e.g. {missing[0]!r}"
            )
            return 1
        return 0
    vectors = asyncio.run(service.embed(texts, Kind.QUERY))
    np.savez_compressed(
        TARGET,
        model_id=np.array(service.model_id),
        hashes=np.array([text_hash(t) for t in texts]),
        vectors=vectors.astype(np.float16),
    )
    print(f"{len(texts)} vectors -> {TARGET.relative_to(ROOT)} ({TARGET.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
