#!/usr/bin/env python3
"""The bot's resident memory in this tree and in another checkout, interleaved on one database.

    git archive main | tar -x -C /tmp/main-tree
    python bench/rss_compare.py /tmp/main-tree [--rounds 3]

Each round starts a fresh `bench/faq_cost.py --rss-child` process from each tree in turn (model
loaded, spam and complaint models trained, the FAQ's indexes built, 50 questions answered) on
the same prepared FAQ database of 1,000 entries, and reads its VmRSS and VmHWM. Why: a change
in the shipped samples or the models moves resident memory by a few MB, less than it varies
between runs on a loaded machine (a whole faq_cost.py run per tree, minutes apart, cannot show
it); interleaving puts both trees under the same load.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import faq_cost  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("other", type=Path, help="another checkout of Steward")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    trees = {"this tree": HERE.parent, str(args.other): args.other.resolve()}
    found: dict[str, list[dict[str, float]]] = {name: [] for name in trees}
    with tempfile.TemporaryDirectory() as folder:
        asyncio.run(faq_cost.prepare_faq(Path(folder), 1000))
        for round_ in range(args.rounds):
            for name, root in trees.items():
                script = root / "bench" / "faq_cost.py"
                out = subprocess.run(
                    [sys.executable, str(script), "--rss-child", folder],
                    capture_output=True,
                    text=True,
                    check=True,
                )
                found[name].append(json.loads(out.stdout.strip().splitlines()[-1]))
                print(f"round {round_ + 1}, {name}: {found[name][-1]}", flush=True)
    for name, values in found.items():
        rss = sorted(v["VmRSS"] for v in values)
        peak = sorted(v["VmHWM"] for v in values)
        print(
            f"{name}: VmRSS {rss[0]:.1f} / {rss[len(rss) // 2]:.1f} / {rss[-1]:.1f} MB, "
            f"VmHWM {peak[0]:.1f} / {peak[len(peak) // 2]:.1f} / {peak[-1]:.1f} MB "
            "(min / median / max)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
