"""Experiment: the adapted model's calibration fitted on out-of-fold features (measured, not shipped).

The shipped adapter's calibration (`rag tune --adapter`) is fitted on the training questions the
adapter was trained on, so its cosines look better than they will on a new guide. Here the
training guides the adapter saw are split into folds; one adapter per fold is fitted on the
other folds' guides (`rag adapt` on a corpus of those guides), and each question is embedded
and matched by the adapter that never saw its guide. Training guides the final adapter never
saw (and small talk) are matched by the final adapter itself. The calibration is then fitted
on all of them as `rag tune` fits one, so its leave-one-guide-out figures are free of the leak
and comparable with the plain model's calibration on the same guides.

    python scripts/oof_adapter_calibration.py --work-dir /tmp/oof [--folds 2]

Fold adapters (``<work-dir>/fold<k>/adapters/``) are fitted once and reused; the calibration is
written to ``<work-dir>/calibrations/<adapted fingerprint>/`` (use it with
``rag eval --adapter --data-dir <work-dir>``). Measured on 2026-11-27 (two folds of the first 20
training guides, fold adapters of 545 and 558 pairs; the shipped adapter for the fourth round's
eight guides): see "More training data" in the README.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from rag.embedding.embedder import Embedder  # noqa: E402
from rag.fitting.adaptation import adapt  # noqa: E402
from rag.fitting.corpus import Corpus, data_hash  # noqa: E402
from rag.fitting.tuning import FitSession, fit_calibration, fitting_assistant  # noqa: E402
from rag.settings import Settings  # noqa: E402


def fold_corpus(corpus: Corpus, guides: list[str], folder: Path) -> Corpus:
    """A copy of the corpus description whose training split is ``guides``."""
    folder.mkdir(parents=True, exist_ok=True)
    data = json.loads((corpus.root / "corpus.json").read_text(encoding="utf-8"))
    data["guides"] = str(corpus.guides_dir)
    data["questions"] = str((corpus.root / data.get("questions", "labelled")).resolve())
    data["split"] = dict(data["split"], train=guides)
    (folder / "corpus.json").write_text(json.dumps(data, indent=2), encoding="utf-8")
    return Corpus.load(folder)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work-dir", type=Path, required=True)
    parser.add_argument("--corpus", type=Path, default=REPO / "eval/corpus")
    parser.add_argument("--folds", type=int, default=2)
    args = parser.parse_args()
    corpus = Corpus.load(args.corpus)
    base = Settings().replace(seeds_dir=corpus.guides_dir, index_dir=args.work_dir / "index", adapter=True)
    final_settings = base.replace(data_dir=args.work_dir)  # no adapters there: the shipped adapter
    final_embedder = Embedder.from_settings(final_settings)
    seen = [g for g in final_embedder.adapter.config.data.get("train_guides", []) if g in corpus.guides("train")]
    folds = [seen[k :: args.folds] for k in range(args.folds)]
    sessions: dict[str, FitSession] = {}
    for k, held in enumerate(folds):
        others = [g for g in seen if g not in held]
        fold_dir = args.work_dir / f"fold{k}"
        if not any((fold_dir / "adapters").glob("*/adapter.json")):
            print(f"fold {k}: fitting an adapter on {len(others)} guides", flush=True)
            adapt(base.replace(data_dir=fold_dir, adapter=False), fold_corpus(corpus, others, fold_dir / "corpus"))
        settings = base.replace(data_dir=fold_dir)
        session = FitSession(fitting_assistant(settings, corpus, Embedder.from_settings(settings), say=print))
        for guide in held:
            sessions[guide] = session
    final = FitSession(fitting_assistant(final_settings, corpus, final_embedder, say=print))
    for session in set(sessions.values()):
        assert [s.heading_path for s in session.snapshot.sections] == [s.heading_path for s in final.snapshot.sections]

    def origin(guide: str) -> FitSession:
        return sessions.get(guide, final)

    class Dispatch(FitSession):
        """Features of each question from the session of the adapter that never saw its guide."""

        def __init__(self) -> None:
            self.assistant, self.snapshot, self.slugs = final.assistant, final.snapshot, final.slugs

        def evidence(self, sample, types, intent):  # noqa: ANN001, ANN202
            return FitSession.evidence(origin(sample.guide_key), sample, types, intent)

        def question_row(self, sample, ev, scores, intent, question_terms=frozenset(), scope=0.0):  # noqa: ANN001, ANN202
            return FitSession.question_row(origin(sample.guide_key), sample, ev, scores, intent, question_terms, scope)

        def with_filter(self, sample, guide):  # noqa: ANN001, ANN202
            return FitSession.with_filter(origin(sample.guide_key), sample, guide)

    questions = corpus.questions("train")
    samples: list = [None] * len(questions)
    for session in {*sessions.values(), final}:
        at = [i for i, q in enumerate(questions) if origin(q.target_guide or "?") is session]
        for i, sample in zip(at, session.prepare([questions[i] for i in at])):
            samples[i] = sample
    dispatch = Dispatch()
    guides = corpus.guides("train")
    filtered = [(i, dispatch.with_filter(samples[i], g)) for i, q in enumerate(questions) if (g := corpus.filter_for(q, guides))]
    started = time.perf_counter()
    result = fit_calibration(
        dispatch,
        samples,
        filtered=filtered,
        train_guides=corpus.split["train"],
        model_name=final_embedder.name,
        fingerprint=final_embedder.fingerprint,
        data={
            "hash": data_hash(corpus.files("train")),
            "corpus": str(corpus.root),
            "train_guides": list(corpus.split["train"]),
            "questions": len(questions),
            "method": f"out-of-fold adapters ({args.folds} folds of the adapter's training guides)",
            "folds": folds,
        },
    )
    report = result.report
    print(f"fitted in {time.perf_counter() - started:.0f} s")
    print("ranker hit@1 (leave-one-guide-out):", report["ranker_cv_hit@1"], "ridge", report["ranker_l2"])
    print("by kind:", report["ranker_cv_hit@1_by_kind"])
    print("abstention:", report["abstain_cv"], "threshold", report["threshold"])
    target = args.work_dir / "calibrations" / final_embedder.fingerprint
    result.calibration.save(target)
    print("calibration", result.calibration.id, "in", target)
    return 0


if __name__ == "__main__":
    sys.exit(main())
