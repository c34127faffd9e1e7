"""``rag adapt``: fit the embedding model's adapter on the corpus's training guides.

The pairs are the training questions and the text of each section a reader labelled as
answering them (at most two per question). Only the training guides are read; the held-out and
seed guides are measured afterwards by ``rag tune``, which fits the calibration of the adapted
model (its vectors differ, so it has a fingerprint and a calibration of its own).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from ..embedding.adapter import Adapter, AdapterConfig, TrainingPair, fit_adapter
from .corpus import Corpus, data_hash
from .tuning import FitSession, Sample, fitting_assistant

if TYPE_CHECKING:
    from ..index.snapshot import IndexSnapshot
    from ..settings import Settings

log = logging.getLogger("rag.fitting")

#: Characters of a section's text in its training passage (after its heading path).
PASSAGE_CHARS = 600
#: Labelled sections used per question (the first ones in the guide's order).
SECTIONS_PER_QUESTION = 2


@dataclass
class AdaptReport:
    adapter: Adapter
    saved_to: Path


def section_passage(snapshot: IndexSnapshot, section: int) -> str:
    """A section as the adapter learns to match it: its heading path, then its opening text."""
    s = snapshot.sections[section]
    return " › ".join(s.heading_path) + "\n" + s.text[:PASSAGE_CHARS]


def training_pairs(snapshot: IndexSnapshot, samples: Sequence[Sample]) -> list[TrainingPair]:
    """Question → passage pairs of the answerable labelled samples."""
    return [
        TrainingPair(s.query.text, section_passage(snapshot, g), s.query.parts)
        for s in samples
        if s.question.answerable and s.gold
        for g in sorted(s.gold)[:SECTIONS_PER_QUESTION]
    ]


def adapt(
    settings: Settings,
    corpus: Corpus,
    *,
    config: AdapterConfig | None = None,
    out: Path | None = None,
    progress: bool = False,
    on_step: Callable[[str], None] | None = None,
) -> AdaptReport:
    """Fit an adapter for ``settings.model`` (without any adapter) and save it to ``out`` or to
    ``<data_dir>/adapters/<model fingerprint>/``, where the model picks it up when it loads."""
    from ..embedding.embedder import Embedder

    say = on_step or (lambda message: log.info("%s", message))
    base = settings.replace(adapter=False)
    embedder = Embedder.from_settings(base)
    fingerprint = embedder.fingerprint
    assistant = fitting_assistant(base, corpus, embedder, progress=progress, say=say)
    session = FitSession(assistant)
    samples = session.prepare(corpus.questions("train"))
    pairs = training_pairs(assistant.snapshot, samples)
    files = corpus.files("train")
    data = {
        "hash": data_hash(files),
        "corpus": str(corpus.root),
        "train_guides": list(corpus.split["train"]),
        "questions": len(samples),
        "pairs": len(pairs),
    }
    chosen = config or AdapterConfig(base_model=embedder.name, base_fingerprint=fingerprint)
    chosen = replace(chosen, base_model=embedder.name, base_fingerprint=fingerprint, data=data)
    say(
        f"fitting a rank-{chosen.rank} adapter on {len(pairs)} question-section pairs of the training guides "
        f"({chosen.epochs} epochs)"
    )
    adapter = fit_adapter(embedder.model, pairs, chosen, threads=base.build_threads)
    target = out or Path(base.data_dir) / "adapters" / fingerprint
    adapter.save(target)
    return AdaptReport(adapter, Path(target))
