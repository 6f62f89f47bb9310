#!/usr/bin/env python3
"""Precompute the vectors of the shipped complaint examples into bot/reputation/data/.

    python scripts/embed_complaint_samples.py           # rewrite complaint_vectors.npz
    python scripts/embed_complaint_samples.py --check   # exit 1 if an example has no vector

Why: the bot trains its complaint classifier at every start; with these vectors it embeds
nothing but the staff lessons. Same format as scripts/embed_spam_samples.py (float16, with the
model's id; another model simply embeds the examples at start).
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.moderation.understanding import refresh_shipped_vectors  # noqa: E402
from bot.reputation.classifier import VECTORS_FILE, shipped_examples  # noqa: E402

if __name__ == "__main__":
    complaints, other = shipped_examples()
    sys.exit(
        refresh_shipped_vectors(
            [*complaints, *other],
            "bot.reputation",
            VECTORS_FILE,
            "--check" in sys.argv[1:],
            ROOT / "bot" / "reputation" / "data",
        )
    )
