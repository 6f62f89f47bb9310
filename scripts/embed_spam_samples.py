#!/usr/bin/env python3
"""Precompute the vectors of the shipped spam/ham samples into bot/moderation/data/.

    python scripts/embed_spam_samples.py           # rewrite sample_vectors.npz
    python scripts/embed_spam_samples.py --check   # exit 1 if a shipped sample has no vector

Why: embedding the ~2,500 shipped samples costs about 15 s of CPU; doing it once here instead of
at every start keeps the bot's start-up fast. Vectors are stored as float16 with the model's id;
a different model (or a changed sample) is simply embedded at start instead.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.moderation.spam import default_samples  # noqa: E402
from bot.moderation.understanding import VECTORS_FILE, shipped_vectors  # noqa: E402
from bot.semantic import EmbeddingService, Kind, create_embedding_service, text_hash  # noqa: E402

TARGET = ROOT / "bot" / "moderation" / "data" / VECTORS_FILE


def wanted() -> list[str]:
    texts = default_samples("spam") + default_samples("ham")
    return list(dict.fromkeys(EmbeddingService.prepare(t) for t in texts))


def main(argv: list[str]) -> int:
    service = create_embedding_service("builtin")
    if service is None:
        print("the bundled model does not load here", file=sys.stderr)
        return 2
    texts = wanted()
    if "--check" in argv:
        known = shipped_vectors(service.model_id)
        missing = [t for t in texts if text_hash(t) not in known]
        if missing:
            print(f"{len(missing)} shipped samples have no precomputed vector, e.g. {missing[0]!r}")
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
