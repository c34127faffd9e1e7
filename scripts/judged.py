"""Verdict counts of a judged evaluation (``eval/judged/<after>-vs-<before>/``), before and after.

    python scripts/judged.py eval/judged/86b43c7-vs-12389eb

Each ``<guide>.jsonl`` holds a reader's verdicts on two blind answers (A, B) per question;
``key.json`` says which answer came from which commit. Shares are of the questions the reader
judged answerable (GOOD, PARTIAL, WRONG, ABSTAIN_BAD) or unanswerable (the rest).
"""

from __future__ import annotations

import collections
import json
import sys
from pathlib import Path

ANSWERABLE = ("GOOD", "PARTIAL", "WRONG", "ABSTAIN_BAD")
UNANSWERABLE = ("ABSTAIN_OK", "ANSWERED_UNANSWERABLE")


def counts(folder: Path) -> dict[str, dict[str, collections.Counter]]:
    key = json.loads((folder / "key.json").read_text(encoding="utf-8"))["items"]
    out: dict[str, dict[str, collections.Counter]] = {}
    for path in sorted(folder.glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            item = key[row["id"]]
            part = "seed" if item["guide"] == "ciso" else "heldout"
            for slot in ("A", "B"):
                out.setdefault(part, {}).setdefault(item[slot], collections.Counter())[row[slot]] += 1
    return out


def main(argv: list[str]) -> int:
    folder = Path(argv[0])
    key = json.loads((folder / "key.json").read_text(encoding="utf-8"))
    print(f"judged: after = {key['after']}, before = {key['before']}")
    for part, sides in counts(folder).items():
        for side in ("before", "after"):
            c = sides.get(side, collections.Counter())
            answerable = sum(c[v] for v in ANSWERABLE)
            shares = {v: f"{c[v]} ({c[v] / answerable:.0%})" for v in ANSWERABLE if answerable}
            rest = {v: c[v] for v in UNANSWERABLE}
            print(f"{part:>8} {side:>6}: {answerable} answerable {shares}; unanswerable {rest}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
