"""The labelled question corpus: guides of many jobs, blind questions, labels, and the split.

``eval/corpus/corpus.json`` names the guides folder, the question folder (one JSONL file per
guide, ``<slug>.jsonl``) and the split by guide: ``train`` guides are the only ones any
fitting reads; ``validation`` guides are never fitted on either, and choices between fits (which
data, which features) are made on them; ``heldout`` guides are only measured, after choices are
made; the product's ``seed`` guide is reported on its own. See ``eval/corpus/README.md`` for how
questions were written and labelled.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace
from pathlib import Path

from ..errors import CalibrationError
from ..evaluation import EvalQuestion, load_questions

CORPUS_FILE = "corpus.json"
CORPUS_FORMAT = 1
SPLITS = ("train", "validation", "heldout", "seed", "offtopic")


@dataclass(frozen=True)
class Corpus:
    """Where the corpus lies and how it is split."""

    root: Path
    guides_dir: Path
    questions_dir: Path
    split: dict[str, tuple[str, ...]]

    @classmethod
    def load(cls, root: Path) -> Corpus:
        """Read ``root/corpus.json``; :class:`CalibrationError` says what is wrong."""
        root = Path(root)
        path = root / CORPUS_FILE
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise CalibrationError(f"no labelled corpus at {root} ({CORPUS_FILE} is missing); pass --corpus DIR") from None
        except (OSError, json.JSONDecodeError) as exc:
            raise CalibrationError(f"{path} cannot be read ({exc})") from None
        if not isinstance(data, dict) or data.get("format") != CORPUS_FORMAT:
            raise CalibrationError(f"{path} must be a JSON object with \"format\": {CORPUS_FORMAT}")
        split = {name: tuple(data.get("split", {}).get(name, [])) for name in SPLITS}
        if not split["train"]:
            raise CalibrationError(f"{path} names no training guides under split.train")
        kept_out = {name: set(split[name]) for name in SPLITS if name != "train"}
        for name, guides in kept_out.items():
            if overlap := set(split["train"]) & guides:
                raise CalibrationError(f"{path}: guides {sorted(overlap)} are both training and {name}")
        if overlap := kept_out["validation"] & kept_out["heldout"]:
            raise CalibrationError(f"{path}: guides {sorted(overlap)} are both validation and heldout")
        return cls(
            root=root,
            guides_dir=(root / data.get("guides", "guides")).resolve(),
            questions_dir=(root / data.get("questions", "questions")).resolve(),
            split=split,
        )

    def question_file(self, slug: str) -> Path:
        """The labelled questions of one guide."""
        return self.questions_dir / f"{slug}.jsonl"

    def questions(self, part: str) -> list[EvalQuestion]:
        """Every labelled question of the guides of one split part, with its target guide set."""
        found: list[EvalQuestion] = []
        for slug in self.split[part]:
            for q in load_questions(self.question_file(slug)):
                # a question typed with the guide chosen in the app's filter is asked with that filter
                guide = slug if q.guide_selected else q.guide
                found.append(replace(q, target_guide=q.target_guide or slug, guide=guide))
        return found

    def guides(self, part: str) -> list[str]:
        """The slugs of one split part that are guides (not sets of off-topic questions)."""
        return [slug for slug in self.split[part] if (self.guides_dir / f"{slug}.md").is_file()]

    def filter_for(self, q: EvalQuestion, guides: list[str], *, every: int = 2) -> str | None:
        """The guide filter to ask a copy of ``q`` with, for about one question in ``every``
        (chosen by a hash of its id): its own guide, or for a question about no guide, one of
        ``guides``. None for the others and for questions asked with a filter already.

        A reader who chose a guide in the app (or a collection of one guide) still types
        questions that guide cannot answer; such copies show the fitted abstention that case.
        """
        if q.guide:
            return None
        h = int(hashlib.sha256(q.id.encode()).hexdigest()[:8], 16)
        if h % every:
            return None
        if (self.guides_dir / f"{q.target_guide}.md").is_file():
            return q.target_guide
        return guides[(h // every) % len(guides)] if guides else None

    def with_filter(self, questions: list[EvalQuestion], guides: list[str], *, every: int = 1) -> list[EvalQuestion]:
        """The copies :meth:`filter_for` chooses, asked with their filter."""
        copies = []
        for q in questions:
            guide = self.filter_for(q, guides, every=every)
            if guide:
                copies.append(replace(q, id=f"{q.id}@{guide}", guide=guide, guide_selected=True))
        return copies

    def files(self, part: str) -> list[Path]:
        """The question and guide files one split part reads (for the data hash)."""
        paths = []
        for slug in self.split[part]:
            paths.append(self.question_file(slug))
            guide = self.guides_dir / f"{slug}.md"
            if guide.exists():
                paths.append(guide)
        return paths


def data_hash(paths: list[Path], extra: bytes = b"") -> str:
    """SHA-256 over the names and bytes of ``paths`` (and ``extra``)."""
    digest = hashlib.sha256()
    for path in sorted(Path(p) for p in paths):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    digest.update(extra)
    return digest.hexdigest()
