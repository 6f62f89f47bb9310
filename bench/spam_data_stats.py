#!/usr/bin/env python3
"""Sanity check of the spam/ham sample files: counts, duplicates, links, held-out leakage.

    python bench/spam_data_stats.py

Prints per-file line counts, exact and near-duplicate lines (same text after normalising case,
look-alike letters, digits and punctuation; plus pairs whose word sets overlap by 80 % or more),
and the share of spam lines carrying a link or an @mention. Exits 1 if any held-out line also
appears, normalised, in the shipped training files: the held-out set is only worth something
while no training line leaks into it.
"""

from __future__ import annotations

import re
import sys
import unicodedata
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TRAIN_DIR = ROOT / "bot" / "moderation" / "data"
# every blind held-out set: spam_heldout (the first), spam_heldout2 (written later, by another hand)
HELDOUT_DIRS = (ROOT / "bench" / "data" / "spam_heldout", ROOT / "bench" / "data" / "spam_heldout2")
LANGS = ("en", "ru", "nl")
NEAR_JACCARD = 0.8

# Cyrillic/Latin look-alikes folded onto one alphabet so "сrурtо" and "crypto" normalise alike.
_HOMOGLYPHS = str.maketrans(
    {
        "а": "a",
        "в": "b",
        "е": "e",
        "ё": "e",
        "к": "k",
        "м": "m",
        "н": "h",
        "о": "o",
        "р": "p",
        "с": "c",
        "т": "t",
        "у": "y",
        "х": "x",
        "і": "i",
        "0": "o",
    }
)
_LINK = re.compile(
    r"(https?://|www\.|t\.me/|\b[\w-]+\.(com|ru|io|net|org|me|xyz|top|site|nl)\b)", re.I
)
_MENTION = re.compile(r"(?<![\w.])@[A-Za-z0-9_]{4,}")


def read_lines(path: Path) -> list[str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def normalise(text: str) -> str:
    """Lower-case, fold look-alikes and digits, keep letters only: catches number-swapped copies."""
    text = unicodedata.normalize("NFKC", text).casefold().translate(_HOMOGLYPHS)
    text = re.sub(r"\d+", "0", text)
    return re.sub(r"[^\w]+", "", text)


def words(text: str) -> frozenset[str]:
    text = unicodedata.normalize("NFKC", text).casefold().translate(_HOMOGLYPHS)
    return frozenset(w for w in re.findall(r"\w+", text) if len(w) > 2)


def near_pairs(lines: list[str], others: list[str] | None = None) -> list[tuple[str, str, float]]:
    """Pairs (within `lines`, or between `lines` and `others`) whose word sets mostly overlap."""
    sets = [words(line) for line in lines]
    other_sets = sets if others is None else [words(line) for line in others]
    other_lines = lines if others is None else others
    found = []
    for i, a in enumerate(sets):
        if len(a) < 4:
            continue
        start = i + 1 if others is None else 0
        for j in range(start, len(other_sets)):
            b = other_sets[j]
            if len(b) < 4:
                continue
            score = len(a & b) / len(a | b)
            if score >= NEAR_JACCARD:
                found.append((lines[i], other_lines[j], score))
    return found


def main() -> int:
    files = sorted(TRAIN_DIR.glob("*.txt"))
    for folder in HELDOUT_DIRS:
        files += sorted(folder.glob("*.txt"))
    content = {path: read_lines(path) for path in files}
    print(f"{'file':55} {'lines':>6} {'exact dup':>9} {'norm dup':>8} {'link/@':>7}")
    for path, lines in content.items():
        exact = len(lines) - len(set(lines))
        norm = len(lines) - len({normalise(line) for line in lines})
        share = ""
        if "spam" in path.name:
            linked = sum(1 for line in lines if _LINK.search(line) or _MENTION.search(line))
            share = f"{linked / len(lines):.0%}" if lines else "-"
        print(f"{path.relative_to(ROOT)!s:55} {len(lines):>6} {exact:>9} {norm:>8} {share:>7}")

    print("\nDuplicates by normalised text (within and across files):")
    # held-out text is never printed: whoever reads this output writes training lines
    seen: dict[str, list[str]] = defaultdict(list)
    for path, lines in content.items():
        blind = path.parent in HELDOUT_DIRS
        for line in lines:
            seen[normalise(line)].append(
                f"{path.parent.name}/{path.name}: (held-out line)"
                if blind
                else f"{path.name}: {line[:70]}"
            )
    dups = [where for where in seen.values() if len(where) > 1]
    for where in dups:
        print("  " + " | ".join(where))
    print(f"  {len(dups)} group(s)")

    print(f"\nNear-duplicates inside each new file (word-set overlap >= {NEAR_JACCARD:.0%}):")
    count = 0
    for path, lines in content.items():
        if path.name.startswith("default_"):
            continue
        for a, b, score in near_pairs(lines):
            count += 1
            print(f"  {path.name} {score:.2f}: {a[:60]!r} ~ {b[:60]!r}")
    print(f"  {count} pair(s)")

    train_norm = {
        normalise(line)
        for path, lines in content.items()
        if path.parent == TRAIN_DIR
        for line in lines
    }
    where_in_training = {
        normalise(line): f"{path.name}:{number}"
        for path, lines in content.items()
        if path.parent == TRAIN_DIR
        for number, line in enumerate(lines, 1)
    }
    leaked = [
        (f"{path.parent.name}/{path.name}", where_in_training[normalise(line)])
        for path, lines in content.items()
        if path.parent in HELDOUT_DIRS
        for line in lines
        if normalise(line) in train_norm
    ]
    print("\nHeld-out lines close to a training line (word-set overlap, informative):")
    close = 0
    for folder in HELDOUT_DIRS:
        for lang in LANGS:
            for kind in ("spam", "ham"):
                held = content.get(folder / f"{kind}_{lang}.txt", [])
                train = content.get(TRAIN_DIR / f"{kind}_{lang}.txt", [])
                for _, b, score in near_pairs(held, train):
                    close += 1
                    print(f"  {folder.name}/{kind}_{lang} {score:.2f} ~ training line {b[:60]!r}")
    print(f"  {close} pair(s)")

    print(f"\nHeld-out lines found (normalised) in training files: {len(leaked)}")
    for name, training_line in leaked:
        print(f"  {name}: the same as {training_line}")
    missing = [
        f"{folder.name}/{kind}_{lang}.txt"
        for folder in HELDOUT_DIRS
        for lang in LANGS
        for kind in ("spam", "ham")
        if not (folder / f"{kind}_{lang}.txt").exists()
    ]
    if missing:
        print(f"Missing held-out files: {', '.join(missing)}")
    return 1 if leaked else 0


if __name__ == "__main__":
    sys.exit(main())
