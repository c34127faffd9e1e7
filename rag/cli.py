"""The ``rag`` command: build the index, ask, search, evaluate and serve.

Exit codes: 0 success, 2 bad usage or input, 1 anything else. Errors are printed as
messages; ``--debug`` shows tracebacks.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from .errors import GuideError, NoGuidesError, QuestionError, RagError
from .normalization import clean_question
from .settings import Settings

EXIT_OK, EXIT_ERROR, EXIT_USAGE = 0, 1, 2


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seeds-dir", type=Path, default=None, help="folder of guides (default: seeds)")
    parser.add_argument("--index-dir", type=Path, default=None, help="index folder (default: embeddings)")
    parser.add_argument("--model", default=None, help="sentence-transformers model name or folder (default: bundled multilingual-e5-small)")
    parser.add_argument("--reranker", default=None, help="optional CrossEncoder name or folder (needs `rag tune --reranker`)")
    parser.add_argument("--data-dir", type=Path, default=None, help="feedback and tuned calibrations (default: data)")
    parser.add_argument(
        "--corpus", type=Path, default=None,
        help="labelled question corpus for fitting a model that has no calibration (default: eval/corpus)",
    )
    parser.add_argument("--strict", action="store_true", help="fail on a malformed guide instead of skipping it")
    parser.add_argument("--llm-base-url", default=None, help="OpenAI-compatible server, e.g. http://127.0.0.1:11434/v1")
    parser.add_argument("--llm-model", default=None, help="model name on that server")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    parser.add_argument("--verbose", action="store_true", help="show model-loading progress bars")
    parser.add_argument(
        "--adapter", action="store_true", help="merge the model's fitted adapter (`rag adapt`; shipped for the bundled model)"
    )
    parser.add_argument(
        "--no-build", action="store_true",
        help="never build: fail with the command to run when the index is missing, stale or damaged",
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``rag`` command."""
    parser = argparse.ArgumentParser(prog="rag", description="Ask career guides; answers cite guide sections.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("build", help="build or update the index")
    _common(p)
    p.add_argument("--rebuild", action="store_true", help="re-embed every guide, ignoring the previous index")

    p = sub.add_parser("ask", help="answer a question with citations")
    _common(p)
    p.add_argument("question")
    p.add_argument("--guide", default=None, help="only this guide (slug)")
    p.add_argument("--history", action="append", default=[], metavar="QUESTION", help="an earlier question (repeatable)")
    p.add_argument("--json", action="store_true", help="print the answer as JSON")

    p = sub.add_parser("search", help="show the best-matching passages")
    _common(p)
    p.add_argument("question")
    p.add_argument("-k", type=int, default=5, help="number of passages (default 5)")
    p.add_argument("--guide", default=None, help="only this guide (slug)")
    p.add_argument("--json", action="store_true", help="print hits as JSON")

    p = sub.add_parser("eval", help="evaluate over JSONL question files or a split of the labelled corpus")
    _common(p)
    p.add_argument("questions", type=Path, nargs="*", help="question files (JSONL)")
    p.add_argument(
        "--split", default=None, choices=("train", "validation", "heldout", "seed", "offtopic"),
        help="evaluate the labelled corpus's questions of this split (with --corpus; use --seeds-dir eval/guides)",
    )
    p.add_argument("--out", type=Path, default=None, help="results JSONL (default: results/<name>.results.jsonl)")

    p = sub.add_parser("guides", help="list the indexed guides (and the files that were skipped)")
    _common(p)
    p.add_argument("--json", action="store_true", help="print the library as JSON")

    p = sub.add_parser("tune", help="fit ranking and abstention for the model from labelled questions")
    _common(p)
    p.add_argument("questions", type=Path, nargs="*", help="extra labelled question files (JSONL) to fit on")
    p.add_argument("--feedback", type=Path, default=None, help="chat feedback log (data/feedback.jsonl) to learn from")
    p.add_argument("--out", type=Path, default=None, help="write the calibration here instead of <data-dir>/calibrations")
    p.add_argument("--no-measure", action="store_true", help="fit only; skip the before/after figures")

    p = sub.add_parser("adapt", help="fit the embedding model's adapter from labelled questions (then run `rag tune`)")
    _common(p)
    p.add_argument("--out", type=Path, default=None, help="write the adapter here instead of <data-dir>/adapters")
    p.add_argument("--epochs", type=int, default=None, help="passes over the training pairs (default 2)")

    p = sub.add_parser("serve", help="start the chat web app")
    _common(p)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=7860)
    p.add_argument("--mcp", action="store_true", help="also serve the ask tool over MCP")
    return parser


def settings_from_args(args: argparse.Namespace) -> Settings:
    """Settings from the environment, overridden by command-line flags."""
    settings = Settings.from_env(
        seeds_dir=args.seeds_dir,
        index_dir=args.index_dir,
        model=args.model,
        data_dir=getattr(args, "data_dir", None),
        reranker=args.reranker,
        corpus_dir=getattr(args, "corpus", None),
    )
    if args.strict:
        settings = settings.replace(strict=True)
    if args.verbose:
        settings = settings.replace(verbose=True)
    if args.adapter:
        settings = settings.replace(adapter=True)
    if args.llm_base_url or args.llm_model:
        llm = settings.llm
        from dataclasses import replace

        llm = replace(llm, base_url=args.llm_base_url or llm.base_url, model=args.llm_model or llm.model)
        settings = settings.replace(llm=llm)
    return settings


def _require_question(question: str) -> None:
    if not clean_question(question):
        raise QuestionError("the question is empty; type a question, for example: rag ask \"CISOに必要なスキルは？\"")


def _open(settings: Settings, *, auto_build: bool = True, warn_skipped: bool = True):  # noqa: ANN202 - rag.Assistant
    from .assistant import Assistant

    assistant = Assistant(settings)
    report = assistant.refresh(progress=True, auto_build=auto_build)
    for skipped in assistant.skipped if warn_skipped else []:
        print(f"warning: {skipped}", file=sys.stderr)
    if report is not None:
        print(
            f"index built: {report.chunks} chunks, {report.units} units, "
            f"{len(report.embedded)} guides embedded, {len(report.reused)} reused, {report.seconds:.1f} s",
            file=sys.stderr,
        )
    return assistant


def cmd_build(args: argparse.Namespace) -> int:
    """``rag build``."""
    from .assistant import Assistant

    settings = settings_from_args(args)
    assistant = Assistant(settings)
    report = assistant.refresh(rebuild=args.rebuild, progress=True)
    for skipped in assistant.skipped:
        print(f"warning: {skipped}", file=sys.stderr)
    snapshot = assistant.snapshot
    if report is None:
        print(f"index is up to date: {len(snapshot.guides)} guides, {len(snapshot.chunks)} chunks in {snapshot.path}")
    else:
        print(
            f"built {snapshot.path}: {len(snapshot.guides)} guides, {report.chunks} chunks, {report.units} units; "
            f"embedded {len(report.embedded)}, reused {len(report.reused)}; {report.seconds:.1f} s"
        )
    return EXIT_OK


def cmd_ask(args: argparse.Namespace) -> int:
    """``rag ask``."""
    _require_question(args.question)
    assistant = _open(settings_from_args(args), auto_build=not args.no_build)
    stream = getattr(assistant, "stream", None)
    if stream is not None and assistant.settings.llm.enabled and not args.json:
        answer = None
        for event in stream(args.question, history=args.history, guide=args.guide):
            if isinstance(event, str):
                print(event, end="", flush=True)
            else:
                answer = event
        print()
        if answer is not None and answer.notice:
            print(f"note: {answer.notice}", file=sys.stderr)
        return EXIT_OK
    answer = assistant.ask(args.question, history=args.history, guide=args.guide)
    if args.json:
        print(json.dumps(answer.to_dict(), ensure_ascii=False, indent=2))
    else:
        print(answer.text)
        if answer.notice:
            print(f"note: {answer.notice}", file=sys.stderr)
    return EXIT_OK


def cmd_search(args: argparse.Namespace) -> int:
    """``rag search``."""
    _require_question(args.question)
    assistant = _open(settings_from_args(args), auto_build=not args.no_build)
    hits = assistant.search(args.question, k=args.k, guide=args.guide)
    if args.json:
        print(json.dumps([h.to_dict() for h in hits], ensure_ascii=False, indent=2))
        return EXIT_OK
    if not hits:
        print("no passages found")
    for hit in hits:
        guide = assistant.snapshot.guides[hit.chunk.guide]
        path = " › ".join((guide.label, *hit.chunk.heading_path))
        print(f"{hit.rank}. [{hit.score:.4f}] {path} (lines {hit.chunk.line_start}-{hit.chunk.line_end})")
        print("   " + hit.chunk.text.replace("\n", "\n   ")[:400])
    return EXIT_OK


def cmd_eval(args: argparse.Namespace) -> int:
    """``rag eval``."""
    from .evaluation import evaluate, format_summary, load_questions

    settings = settings_from_args(args)
    if not args.questions and not args.split:
        raise QuestionError("give question files, or --split heldout (the labelled corpus); see rag eval --help")
    questions = [q for path in args.questions for q in load_questions(path)]
    if args.split:
        from .fitting.corpus import Corpus

        questions += Corpus.load(settings.corpus_dir).questions(args.split)
    assistant = _open(settings, auto_build=not args.no_build)
    from tqdm import tqdm

    bar = tqdm(total=len(questions), desc="questions", unit="q", file=sys.stderr)
    run = evaluate(assistant, questions, on_result=lambda row: bar.update(1))
    bar.close()
    name = args.split or args.questions[0].stem
    out = args.out or Path("results") / f"{name}.results.jsonl"
    summary_path = run.save(out)
    print(format_summary(run.summary))
    print(f"results: {out}\nsummary: {summary_path}")
    return EXIT_OK


def cmd_guides(args: argparse.Namespace) -> int:
    """``rag guides``: the library — each guide's title, sections, tags — and skipped files."""
    assistant = _open(settings_from_args(args), auto_build=not args.no_build, warn_skipped=False)
    library = assistant.library()
    skipped = [{"path": str(s.path), "reason": s.reason} for s in assistant.skipped]
    if args.json:
        print(json.dumps({"guides": [g.to_dict() for g in library], "skipped": skipped}, ensure_ascii=False, indent=2))
        return EXIT_OK
    for info in library:
        related = ", ".join(r.slug + ("" if r.indexed else " (not indexed)") for r in info.related_jobs)
        print(f"{info.slug}: {info.title} — {info.sections} sections, indexed {info.indexed_at}")
        if info.description:
            print(f"    {info.description}")
        if info.tags:
            print(f"    tags: {', '.join(info.tags)}")
        if related:
            print(f"    related jobs: {related}")
        print(f"    file: {info.path}")
    for item in skipped:
        print(f"skipped {item['path']}: {item['reason']}")
    return EXIT_OK


def cmd_tune(args: argparse.Namespace) -> int:
    """``rag tune``: fit a calibration, print before/after figures, publish it with the index."""
    from .fitting.corpus import Corpus
    from .fitting.tuning import HEADLINE, tune

    settings = settings_from_args(args)
    for path in args.questions:
        if not path.is_file():
            raise QuestionError(f"question file {path} does not exist")
    if args.feedback is not None and not args.feedback.is_file():
        raise QuestionError(f"feedback log {args.feedback} does not exist")
    corpus = Corpus.load(settings.corpus_dir)
    report = tune(
        settings,
        corpus,
        extra_questions=args.questions,
        feedback=args.feedback,
        out=args.out,
        progress=True,
        measure=not args.no_measure,
        on_step=lambda message: print(message, file=sys.stderr),
    )
    fit = report.fit
    print(f"calibration {report.calibration.id} for {report.calibration.model} saved to {report.saved_to}")
    print(
        f"fitted on {fit['train_questions']} questions of {', '.join(corpus.split['train'])} "
        f"(data {report.calibration.data_hash[:12]}); threshold {fit['threshold']}; "
        f"cross-validated hit@1 {fit['ranker_cv_hit@1']}, log-loss {fit['ranker_cv_logloss']} "
        f"(ridge {fit['ranker_l2']}, the lowest log-loss)"
    )
    kinds = fit.get("ranker_cv_hit@1_by_kind") or {}
    if kinds:
        print("  by kind: " + ", ".join(f"{k} {v['hit@1']} ({v['n']})" for k, v in kinds.items()))
    cv = fit.get("abstain_cv") or {}
    if cv:
        print(
            f"  abstention (cross-validated): unanswerable abstained {cv.get('unanswerable_abstained')}, "
            f"answerable abstained {cv.get('answerable_abstained')}"
        )
    for part in report.after:
        if part in corpus.split:
            print(f"\n{part} guides ({', '.join(corpus.split[part])}), never used for fitting:")
        else:
            print(f"\n{part} (the off-topic questions asked with a held-out guide chosen), never used for fitting:")
        print(f"{'':>24}  {'before':>8}  {'after':>8}  after, 95 % interval")
        intervals = report.after[part].get("interval95", {})
        for key in HEADLINE:
            b, a = report.before.get(part, {}).get(key), report.after[part].get(key)
            spread = f"  {intervals[key][0]:.3f}–{intervals[key][1]:.3f} ({intervals[key][2]})" if key in intervals else ""
            print(f"{key:>24}  {b if b is not None else '-':>8}  {a if a is not None else '-':>8}{spread}")
    if args.out is None:
        assistant = _open(settings.replace(auto_tune=False), auto_build=not args.no_build)
        print(f"\nindex {assistant.snapshot.path} now uses calibration {assistant.snapshot.manifest.calibration.get('id')}")
    return EXIT_OK


def cmd_adapt(args: argparse.Namespace) -> int:
    """``rag adapt``: fit and save the model's adapter; the calibration is then refitted by `rag tune`."""
    from dataclasses import replace

    from .embedding.adapter import AdapterConfig
    from .fitting.adaptation import adapt
    from .fitting.corpus import Corpus

    settings = settings_from_args(args)
    if args.epochs is not None and args.epochs < 1:
        raise QuestionError(f"--epochs must be at least 1, got {args.epochs}")
    corpus = Corpus.load(settings.corpus_dir)
    config = AdapterConfig(base_model=settings.model, base_fingerprint="")
    if args.epochs is not None:
        config = replace(config, epochs=args.epochs)
    report = adapt(
        settings, corpus, config=config, out=args.out, progress=True, on_step=lambda m: print(m, file=sys.stderr)
    )
    fitted = report.adapter.config
    print(
        f"adapter {report.adapter.id} for {fitted.base_model} ({fitted.base_fingerprint}) saved to {report.saved_to}: "
        f"{fitted.report['pairs']} pairs, loss per epoch {fitted.report['loss_per_epoch']}, {fitted.report['seconds']} s"
    )
    if args.out is None:
        print("the adapted model has its own calibration: run `rag tune --adapter` to fit it, then use --adapter")
    return EXIT_OK


def cmd_serve(args: argparse.Namespace) -> int:
    """``rag serve``: the same as ``python app.py``."""
    from .web import launch

    settings = settings_from_args(args)
    launch(settings, host=args.host, port=args.port, mcp=args.mcp)
    return EXIT_OK


COMMANDS = {
    "build": cmd_build,
    "ask": cmd_ask,
    "search": cmd_search,
    "eval": cmd_eval,
    "guides": cmd_guides,
    "tune": cmd_tune,
    "adapt": cmd_adapt,
    "serve": cmd_serve,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        return COMMANDS[args.command](args)
    except (QuestionError, GuideError, NoGuidesError) as exc:
        if args.debug:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except RagError as exc:
        if args.debug:
            raise
        code = EXIT_USAGE if type(exc).__name__ == "QuestionFileError" else EXIT_ERROR
        print(f"error: {exc}", file=sys.stderr)
        return code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # last resort: a message, never a traceback, unless asked
        if args.debug:
            raise
        print(f"error: unexpected {type(exc).__name__}: {exc} (rerun with --debug for details)", file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
