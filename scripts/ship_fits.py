#!/usr/bin/env python3
"""Fit the spam and complaint models on the shipped samples and ship the fits with the package.

    python scripts/ship_fits.py           # rewrite bot/moderation/data/shipped_fits.npz
    python scripts/ship_fits.py --check   # exit 1 when the shipped fits no longer match

Why: a bot on a new database otherwise fits the spam fusion (five cross-validated folds, seconds
of CPU) after polling has begun, and scores new members without the model meanwhile. The fits
are keyed by a digest of everything they read (samples, vectors, fitting code, numpy's version,
the embedding model), so run this after changing any of them, after scripts/embed_spam_samples.py.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.moderation.fits import SHIPPED_FITS, ShippedFits  # noqa: E402
from bot.moderation.spam import default_samples  # noqa: E402
from bot.moderation.understanding import SemanticSpamClassifier  # noqa: E402
from bot.reputation.classifier import ComplaintClassifier, shipped_examples  # noqa: E402
from bot.semantic.embeddings import create_embedding_service  # noqa: E402

TARGET = ROOT / "bot" / "moderation" / "data" / SHIPPED_FITS


async def fitted() -> ShippedFits:
    """What a first start on a new database fits, with no lessons and no SPAM_SAMPLES_DIR."""
    embeddings = create_embedding_service("builtin")
    if embeddings is None:
        raise SystemExit("the built-in model did not load")
    fits = ShippedFits({})
    spam = SemanticSpamClassifier(embeddings, fits=fits)
    await spam.train(default_samples("spam"), default_samples("ham"))
    complaints = ComplaintClassifier(embeddings, fits=fits)
    await complaints.train(*shipped_examples())
    if spam.fusion is None or not complaints.ready:
        raise SystemExit("a model did not train")
    return fits


def main(argv: list[str]) -> int:
    fits = asyncio.run(fitted())
    shipped = ShippedFits.packaged()
    if "--check" in argv:
        stale = sorted(set(fits.fits) - set(shipped.fits))
        for kind, digest in stale:
            print(f"{kind}: shipped fits lack {digest}; run scripts/ship_fits.py")
        return 1 if stale else 0
    TARGET.write_bytes(fits.to_bytes())
    print(f"{TARGET.relative_to(ROOT)}: {', '.join(k for k, _ in sorted(fits.fits))}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
