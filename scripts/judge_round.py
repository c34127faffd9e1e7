"""One judged round: blind A/B files for readers, then the verdict folder ``eval/judged/<after>-vs-<before>/``.

    # 1. answers of both versions (at each commit): rag eval --split heldout|seed … --out RUN-heldout.jsonl
    python scripts/judge_round.py prepare /tmp/round AFTER_RUN BEFORE_RUN --guides-dir eval/guides
    # 2. one reader per guide: give each only /tmp/round/brief_<guide>.md (it names the guide and
    #    the answers file, and holds the rubric of eval/judged/README.md); each writes
    #    /tmp/round/<guide>.verdicts.jsonl
    # 3. the folder: changed answers get this round's verdicts, identical ones carry the previous
    #    folder's "after" verdict (the previous after is this round's before)
    python scripts/judge_round.py assemble /tmp/round AFTER_RUN eval/judged/PREVIOUS eval/judged/NEW \
        --after COMMIT --before COMMIT

``AFTER_RUN`` / ``BEFORE_RUN`` are path prefixes of ``rag eval`` results: ``PREFIX-heldout.jsonl``
and ``PREFIX-seed.jsonl``. Only answers that differ are judged; A and B are shuffled per question
(seeded by the round folder's name) and the key is kept apart from the readers' files until
they are done. Each row of the folder records the SHA-256 (16 hex digits) of the "after" answer
it holds a verdict for, so a later round can tell whether an answer changed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
from pathlib import Path

SPLITS = ("heldout", "seed")
RUBRIC_START = "## Rubric (as given to the reviewers)"
BRIEF = """You are a reviewer who reads one Japanese career guide and judges answers a chat assistant gave to questions about that job.

Files (read ONLY these two; do not open any other file or folder, do not run the assistant, do not look at git history):
- the guide: {guide}
- the answers: {answers} — one JSON object per line: id, history (earlier user turns of the conversation, oldest first; may be empty), question, and two answers "A" and "B" (two versions of the assistant, in random order; each ends with a sources list).

Read the whole guide first. Then, for every line, decide from the guide alone whether the guide answers the question (answerable true/false), and give each of A and B one verdict with this rubric:

{rubric}

English answers quote the Japanese guide with English framing: judge the content, not the language. A follow-up question is judged in the context of its history. Judge each answer on its own merits against the guide (the two may deserve the same verdict).

Write {verdicts}, one line per question, in the input order, exactly:
{{"id": "...", "answerable": true|false, "A": "<VERDICT>", "B": "<VERDICT>", "reason_A": "<one sentence>", "reason_B": "<one sentence>"}}
Reasons in English, one sentence each, saying what the answer gives or misses relative to the guide. Check the file parses as JSON lines. Reply with a one-line summary of counts when done.
"""


def sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def read_run(prefix: str) -> dict[str, dict]:
    """Every row of ``PREFIX-heldout.jsonl`` and ``PREFIX-seed.jsonl``, by question id."""
    rows: dict[str, dict] = {}
    for split in SPLITS:
        for line in Path(f"{prefix}-{split}.jsonl").read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            rows[row["id"]] = row
    return rows


def guide_of(question_id: str) -> str:
    return question_id.rsplit("-", 1)[0]


def rubric(readme: Path) -> str:
    """The rubric bullets of ``eval/judged/README.md``, as the readers get them."""
    text = readme.read_text(encoding="utf-8")
    part = text[text.index(RUBRIC_START) + len(RUBRIC_START) :]
    bullets = part.split("\n\n")[1]
    return bullets.replace("**", "").replace("\n  ", " ")


def prepare(args: argparse.Namespace) -> int:
    out = Path(args.round)
    out.mkdir(parents=True, exist_ok=True)
    after, before = read_run(args.after_run), read_run(args.before_run)
    if set(after) != set(before):
        odd = sorted(set(after) ^ set(before))
        print(f"the two runs ask different questions ({len(odd)}, first: {odd[0]}); run both on the same splits", file=sys.stderr)
        return 1
    rng = random.Random(out.name)
    key: dict[str, dict] = {}
    by_guide: dict[str, list[dict]] = {}
    for qid, a in after.items():
        b = before[qid]
        if a["answer"] == b["answer"]:
            continue
        flip = rng.random() < 0.5
        first, second = (b, a) if flip else (a, b)
        key[qid] = {"A": "before" if flip else "after", "B": "after" if flip else "before", "guide": guide_of(qid)}
        by_guide.setdefault(guide_of(qid), []).append(
            {"id": qid, "history": a.get("history") or [], "question": a["question"], "A": first["answer"], "B": second["answer"]}
        )
    bullets = rubric(Path(args.readme))
    for guide, rows in by_guide.items():
        answers = out / f"{guide}.jsonl"
        answers.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
        brief = BRIEF.format(
            guide=(Path(args.guides_dir) / f"{guide}.md").absolute(),
            answers=answers.absolute(),
            verdicts=(out / f"{guide}.verdicts.jsonl").absolute(),
            rubric=bullets,
        )
        (out / f"brief_{guide}.md").write_text(brief, encoding="utf-8")
    # the key stays outside the folder the readers are pointed at
    Path(f"{out}_key.json").write_text(json.dumps(key, indent=1) + "\n", encoding="utf-8")
    print(f"{len(key)} changed answers to judge: " + ", ".join(f"{g} {len(r)}" for g, r in sorted(by_guide.items())))
    return 0


def previous_after(folder: Path) -> dict[str, tuple[bool, str, str]]:
    """(answerable, verdict, reason) of each question's "after" answer in a judged folder."""
    key = json.loads((folder / "key.json").read_text(encoding="utf-8"))["items"]
    found: dict[str, tuple[bool, str, str]] = {}
    for path in folder.glob("*.jsonl"):
        for line in path.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            slot = "A" if key[row["id"]]["A"] == "after" else "B"
            found[row["id"]] = (row["answerable"], row[slot], row.get(f"reason_{slot}", ""))
    return found


def assemble(args: argparse.Namespace) -> int:
    round_dir, out = Path(args.round), Path(args.out)
    key = json.loads(Path(f"{round_dir}_key.json").read_text(encoding="utf-8"))
    judged: dict[str, dict] = {}
    for path in round_dir.glob("*.verdicts.jsonl"):
        for line in path.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            judged[row["id"]] = row
    missing = sorted(set(key) - set(judged))
    if missing:
        print(f"{len(missing)} changed answers have no verdict yet (first: {missing[0]}); wait for the readers", file=sys.stderr)
        return 1
    carried = previous_after(Path(args.previous))
    after = read_run(args.after_run)
    unknown = sorted(q for q in after if q not in key and q not in carried)
    if unknown:
        print(f"{len(unknown)} unchanged answers have no verdict in {args.previous} (first: {unknown[0]}); is it the folder of the before run?", file=sys.stderr)
        return 1
    items: dict[str, dict] = {}
    rows: dict[str, list[dict]] = {}
    for qid, answer in after.items():
        digest = sha(answer["answer"])
        if qid in key:
            row = dict(judged[qid]) | {"carried": False}
            items[qid] = key[qid]
        else:
            answerable, verdict, reason = carried[qid]
            row = {"id": qid, "answerable": answerable, "A": verdict, "B": verdict, "reason_A": reason, "reason_B": reason, "carried": True}
            items[qid] = {"A": "after", "B": "before", "guide": guide_of(qid)}
        after_slot = "A" if items[qid]["A"] == "after" else "B"
        row[f"sha_{after_slot}"] = digest
        rows.setdefault(guide_of(qid), []).append(row)
    out.mkdir(parents=True, exist_ok=True)
    for guide, guide_rows in rows.items():
        (out / f"{guide}.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in guide_rows), encoding="utf-8")
    method = "changed answers judged blind A/B; identical answers carry the previous folder's verdict"
    record = {"after": args.after, "before": args.before, "method": method, "items": items}
    (out / "key.json").write_text(json.dumps(record, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"{out}: {len(items)} answers, {len(key)} judged in this round, {len(items) - len(key)} carried")
    return 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("prepare", help="A/B files and one brief per guide for the changed answers")
    p.add_argument("round", help="folder for the readers' files (the key goes beside it)")
    p.add_argument("after_run")
    p.add_argument("before_run")
    p.add_argument("--guides-dir", default="eval/guides")
    p.add_argument("--readme", default="eval/judged/README.md", help="where the rubric is read from")
    p.set_defaults(run=prepare)
    p = sub.add_parser("assemble", help="the judged folder: this round's verdicts plus the carried ones")
    p.add_argument("round")
    p.add_argument("after_run")
    p.add_argument("previous", help="the judged folder whose 'after' is this round's 'before'")
    p.add_argument("out")
    p.add_argument("--after", required=True, help="commit of the after answers")
    p.add_argument("--before", required=True, help="commit of the before answers")
    p.set_defaults(run=assemble)
    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
