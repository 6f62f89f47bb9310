#!/usr/bin/env python3
"""Precompute the vectors of the shipped spam/ham samples into bot/moderation/data/.

    python scripts/embed_spam_samples.py           # rewrite sample_vectors.npz
    python scripts/embed_spam_samples.py --check   # exit 1 if a shipped sample has no vector

Why: embedding the ~5,700 shipped samples costs about two minutes of CPU; doing it once here instead
of at every start keeps the bot's start-up fast. Vectors are stored as float16 with the model's
id; a different model (or a changed sample) is simply embedded at start instead. The vectors are
of the texts as the classifier reads them (`unobfuscate`), not as written; the ham lines also as
written, where that differs ("Общага №3", a joined emoji, "SMMщик"): the FAQ's chat bank reads
ordinary chat as members write it (`bot.faq.service.load_chat_bank`).
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.moderation.spam import default_samples, unobfuscate  # noqa: E402
from bot.moderation.understanding import VECTORS_FILE, refresh_shipped_vectors  # noqa: E402

if __name__ == "__main__":
    sys.exit(
        refresh_shipped_vectors(
            [unobfuscate(text) for text in default_samples("spam") + default_samples("ham")]
            + default_samples("ham"),
            "bot.moderation",
            VECTORS_FILE,
            "--check" in sys.argv[1:],
            ROOT / "bot" / "moderation" / "data",
        )
    )
