"""A community's first FAQ entry, alone: what it answers, and what it answers wrongly.

After the first `/faq_add` a group's FAQ is one entry of one wording. Every question members ask
then meets that entry alone, with no runner-up to weigh it against. This benchmark makes such a
FAQ from each entry of the development sets in turn (`faq_eval.thin_faq`: its first wording and
its answer in its own language) and asks it the set's development questions: those written for
that entry (answered right, or not), those written for the set's other entries and the chat
lines (any answer to them is a false one). Both sides run in one process on the same vectors:
the answer model asked with a single entry in sight (before) and the calibrated thresholds
deciding alone there (`bot.faq.service.MODEL_NEEDS_ENTRIES`, now).

    .venv/bin/python bench/faq_single.py            # every development set, every entry

Development data only: held-out splits are never read.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from faq_eval import DATA, Bot, DataSet, subset_faq, thin_faq

from bot.faq import service as faq_service
from bot.faq.questions import looks_like_question
from bot.semantic import create_embedding_service
from storage.database import Database

SIDES = {"model asked (before)": 1, "thresholds alone (now)": faq_service.MODEL_NEEDS_ENTRIES}


@dataclass
class Count:
    own: int = 0
    own_answered: int = 0
    own_right: int = 0
    others: int = 0
    others_answered: int = 0
    chat: int = 0
    chat_answered: int = 0

    def line(self) -> str:
        return (
            f"own questions answered {self.own_answered / max(1, self.own):.3f} "
            f"({self.own_answered} of {self.own}, {self.own_right} right); "
            f"other entries' questions answered {self.others_answered / max(1, self.others):.3f} "
            f"({self.others_answered} of {self.others}); "
            f"chat answered {self.chat_answered / max(1, self.chat):.3f} "
            f"({self.chat_answered} of {self.chat})"
        )


async def run(args: argparse.Namespace) -> int:
    embeddings = create_embedding_service("builtin")
    if embeddings is None:
        print("the semantic model is unavailable: nothing to compare")
        return 1
    folders = args.data or sorted(p for p in DATA.glob("faq*") if (p / "faq.json").is_file())
    totals = {side: Count() for side in SIDES}
    with tempfile.TemporaryDirectory() as tmp:
        for folder in folders:
            if folder.name.startswith("faq_young"):
                continue  # held out as a whole: never read for development
            data = DataSet.load(folder)
            splits = [s for s in data.splits if s.name in {"dev", "all"}]
            if not splits:
                continue
            questions = [q for s in splits for q in s.questions]
            chat = [line for s in splits for line in s.chat if looks_like_question(line)]
            content = thin_faq(data.faq.read_bytes())
            entry_ids = [e["id"] for e in json.loads(content)["entries"]]
            per_set = {side: Count() for side in SIDES}
            for entry_id in entry_ids:
                db = Database(Path(tmp) / f"{folder.name}-{entry_id}.sqlite3")
                await db.open()
                bot = Bot(db, embeddings)
                try:
                    await bot.load(data.faq.name, subset_faq(content, {entry_id}))
                    assert bot.hybrid is not None
                    for side, needed in SIDES.items():
                        faq_service.MODEL_NEEDS_ENTRIES = needed
                        count = per_set[side]
                        for q in questions:
                            decision = await bot.hybrid.decide(q["question"], None)
                            answered = decision.kind == "answer"
                            if q["expected"] == entry_id:
                                count.own += 1
                                count.own_answered += answered
                                count.own_right += answered  # the only entry there is
                            else:
                                count.others += 1
                                count.others_answered += answered
                        for line in chat:
                            decision = await bot.hybrid.decide(line, None)
                            count.chat += 1
                            count.chat_answered += decision.kind == "answer"
                finally:
                    if bot.hybrid is not None:
                        bot.hybrid.close()
                    await db.close()
            print(f"\n{data.name}: {len(entry_ids)} single-entry FAQs")
            for side, count in per_set.items():
                print(f"  {side:24} {count.line()}")
                for name, value in vars(count).items():
                    setattr(totals[side], name, getattr(totals[side], name) + value)
    faq_service.MODEL_NEEDS_ENTRIES = SIDES["thresholds alone (now)"]
    print("\npooled")
    for side, count in totals.items():
        print(f"  {side:24} {count.line()}")
    embeddings.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, action="append", help="a data set folder")
    return asyncio.run(run(parser.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
