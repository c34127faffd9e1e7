"""The public entry point: search the guides and answer questions with section citations."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from .answers import AnswerContext, ExtractiveAnswerer, decide_shape
from .answers.breadth import decide_broad
from .conversation import Message, RetrievalQuery, ordinal, retrieval_query
from .documents import Guide, Section
from .embedding.embedder import Embedder
from .errors import IndexProblem, IndexStaleError, QuestionError
from .fitting.artifact import Calibration
from .guides import SkippedGuide, load_guides
from .index.builder import BuildReport
from .index.snapshot import IndexSnapshot
from .library import GuideInfo, guide_infos, related_jobs, suggestions
from .index.store import IndexStore
from .normalization import clean_question, detect_language
from .relevance import RelevanceModel
from .reranking import Reranker
from .results import Answer, Hit
from .retrieval import Ranking, Retriever, conversation_guide, conversation_unnamed
from .settings import Settings

log = logging.getLogger("rag")


class Assistant:
    """Answers career questions from an index of guides; safe to share between threads."""

    def __init__(self, settings: Settings, *, embedder: Embedder | None = None) -> None:
        self.settings = settings
        self.embedder = embedder or Embedder.from_settings(settings)
        self.store = IndexStore(settings, self.embedder)
        self.retriever = Retriever(candidates=settings.candidates, candidate_guides=settings.candidate_guides)
        self.answerer = ExtractiveAnswerer(max_points=settings.max_points, max_sources=settings.max_sources)
        self.relevance = RelevanceModel()
        self.reranker: Reranker | None = Reranker(settings.reranker) if settings.reranker else None
        self.generator = None
        if settings.llm.enabled:
            from .llm.generator import LLMAnswerer

            self.generator = LLMAnswerer(settings.llm, self.embedder)
        self.skipped: list[SkippedGuide] = []
        self._snapshot: IndexSnapshot | None = None
        self._refresh_lock = threading.Lock()

    # -- construction -------------------------------------------------------------------------
    @classmethod
    def from_dir(
        cls,
        seeds_dir: str | Path = "seeds",
        index_dir: str | Path = "embeddings",
        *,
        model: str | None = None,
        settings: Settings | None = None,
        auto_build: bool = True,
        progress: bool = False,
    ) -> Assistant:
        """Open the index in ``index_dir``, building it from ``seeds_dir`` if missing or stale.

        With ``auto_build=False`` a missing, stale or damaged index raises a subclass of
        :class:`~rag.errors.IndexProblem` whose message says what to run.
        """
        base = settings or Settings.from_env()
        base = base.replace(seeds_dir=Path(seeds_dir), index_dir=Path(index_dir))
        if model:
            base = base.replace(model=model)
        assistant = cls(base)
        assistant.refresh(auto_build=auto_build, progress=progress)
        return assistant

    def refresh(
        self, *, auto_build: bool = True, rebuild: bool = False, progress: bool = False, calibrate: bool = True
    ) -> BuildReport | None:
        """Reload the guides; rebuild the index if it is missing, stale or damaged (or when asked).

        A model without a calibration (neither shipped nor tuned) is fitted first from the
        labelled corpus when ``settings.auto_tune`` is on and the corpus is there; otherwise
        the index is built uncalibrated and a warning says what to run.
        """
        with self._refresh_lock:
            guides, self.skipped = load_guides(
                self.settings.seeds_dir, strict=self.settings.strict, max_bytes=self.settings.max_guide_bytes
            )
            if auto_build and calibrate:
                self._ensure_calibration(progress=progress)
            reason = "rebuild requested" if rebuild else ""
            if not rebuild:
                try:
                    snapshot = self.store.load()
                    freshness = self.store.freshness(snapshot, guides)
                    if freshness.fresh:
                        self._snapshot = snapshot
                        return None
                    reason = "; ".join(freshness.reasons)
                    if not auto_build:
                        raise IndexStaleError(
                            f"the index in {self.settings.index_dir} is out of date ({reason}); "
                            f"run `rag build --seeds-dir {self.settings.seeds_dir} --index-dir {self.settings.index_dir}`"
                        )
                except IndexProblem as exc:
                    if not auto_build:
                        raise
                    reason = reason or str(exc)
            log.info("building the index: %s", reason)
            snapshot, report = self.store.build(guides, rebuild=rebuild, progress=progress)
            self._snapshot = snapshot
            return report

    def _ensure_calibration(self, *, progress: bool) -> None:
        """Fit a calibration from the corpus when this model has none (see :mod:`rag.fitting.tuning`)."""
        if self.store.calibration() is not None:
            return
        from .fitting.corpus import Corpus
        from .fitting.tuning import tune

        name = self.embedder.name
        corpus_file = Path(self.settings.corpus_dir) / "corpus.json"
        if not (self.settings.auto_tune and corpus_file.exists()):
            log.warning(
                "no calibration for model %r: ranking is not fitted and off-topic questions are not "
                "recognised; run `rag tune --model %s` (with the labelled corpus in %s)",
                name, name, self.settings.corpus_dir,
            )
            return
        log.warning("no calibration for model %r yet: fitting one from %s (once per model)", name, self.settings.corpus_dir)
        tune(self.settings, Corpus.load(Path(self.settings.corpus_dir)), embedder=self.embedder, progress=progress)

    def use_calibration(self, calibration: Calibration | None) -> None:
        """Answer with ``calibration`` in memory, without touching the index on disk (evaluation)."""
        self._snapshot = replace(self.snapshot, calibration=calibration)

    # -- reading ------------------------------------------------------------------------------
    @property
    def snapshot(self) -> IndexSnapshot:
        """The index version answering questions right now."""
        if self._snapshot is None:
            self.refresh()
        assert self._snapshot is not None
        return self._snapshot

    def guides(self) -> list[Guide]:
        """Indexed guides, in index order."""
        return list(self.snapshot.guides.values())

    def library(self) -> list[GuideInfo]:
        """Every indexed guide with its description, tags, related jobs and table of contents."""
        return guide_infos(self.snapshot)

    def section(self, guide: str, heading_path: Sequence[str]) -> Section | None:
        """The full text of one section, for readers who open a source."""
        wanted = tuple(heading_path)
        return next((s for s in self.snapshot.sections if s.guide == guide and s.heading_path == wanted), None)

    # -- questions ----------------------------------------------------------------------------
    def _clean(self, question: str) -> str:
        if not isinstance(question, str):
            raise QuestionError(f"a question must be text, not {type(question).__name__}")
        limit = self.settings.max_question_chars
        if len(question) > limit * 4:  # refuse early, before any work on a huge input
            raise QuestionError(f"the question has {len(question)} characters; the limit is {limit}. Shorten it.")
        cleaned = clean_question(question)
        if len(cleaned) > limit:
            raise QuestionError(f"the question has {len(cleaned)} characters; the limit is {limit}. Shorten it.")
        return cleaned

    def _check_guide(self, snapshot: IndexSnapshot, guide: str | None) -> None:
        if guide and guide not in snapshot.guides:
            known = ", ".join(sorted(snapshot.guides)) or "none"
            raise QuestionError(f"unknown guide {guide!r}; indexed guides: {known}")

    def search(
        self,
        question: str,
        k: int = 5,
        guide: str | None = None,
        history: Sequence[Message | str] | None = None,
    ) -> list[Hit]:
        """The ``k`` chunks that best match ``question``, best first (empty for an empty question).

        ``history`` (earlier turns) is read only when the question is a follow-up.
        """
        cleaned = self._clean(question)
        snapshot = self.snapshot
        self._check_guide(snapshot, guide)
        if not cleaned or k <= 0:
            return []
        query = retrieval_query(cleaned, history, self.settings.history_turns)
        vector, item = self._vector(query), ordinal(cleaned)
        ranking = self._rank(snapshot, query, guide, item, vector)
        return self._kept_to_conversation(snapshot, query, guide, ranking, vector, item).hits(snapshot, k)

    def _vector(self, query: RetrievalQuery) -> np.ndarray:
        """The query vector: the normalised mean of the vectors of the query's parts."""
        vectors = self.embedder.embed_queries(list(query.parts))
        vector = vectors.sum(axis=0)
        return (vector / (np.linalg.norm(vector) or 1.0)).astype(np.float32)

    def _rank(
        self,
        snapshot: IndexSnapshot,
        query: RetrievalQuery,
        guide: str | None,
        item: int | None,
        vector: np.ndarray | None = None,
    ) -> Ranking:
        calibration = snapshot.calibration
        return self.retriever.rank(
            snapshot,
            query,
            self._vector(query) if vector is None else vector,
            guide=guide,
            item=item,
            calibration=calibration,
            rerank=self.reranker,
        )

    def _kept_to_conversation(
        self,
        snapshot: IndexSnapshot,
        query: RetrievalQuery,
        guide: str | None,
        ranking: Ranking,
        vector: np.ndarray,
        item: int | None,
    ) -> Ranking:
        """Without a guide filter, a question that names no job stays with the one guide its
        conversation named, or, when the conversation named none (「I want to work at a hotel.」),
        with the guide its earlier turns are answered from (ranked within that guide, ``vector``
        the question's, when the question's own candidates lack it). Only the sections shown
        change: ranking and abstention are fitted on the ranking of every candidate guide, and
        judge that one."""
        if guide:
            return ranking
        position = conversation_guide(snapshot, query)
        if position is None and conversation_unnamed(snapshot, query):
            before = self._rank(snapshot, RetrievalQuery(query.context, (query.context,), ""), None, None)
            if not len(before.order):
                return ranking
            position = int(snapshot.layout.section_guide[int(before.sections[0])])
            if position not in ranking.guides:  # not among the follow-up's candidates: rank within it
                slug = snapshot.manifest.guides[position].slug
                return self._rank(snapshot, query, slug, item, vector)
        return ranking if position is None else ranking.within(snapshot, position)

    def _context(
        self,
        question: str,
        history: Sequence[Message | str] | None,
        guide: str | None,
        section: Sequence[str] | None = None,
    ) -> AnswerContext:
        """Clean the question, retrieve, and judge whether the guides answer it."""
        cleaned = self._clean(question)
        snapshot = self.snapshot  # one version for the whole answer
        pinned_section = self._section_index(snapshot, section) if section else None
        if pinned_section is not None:
            guide = snapshot.sections[pinned_section].guide
        self._check_guide(snapshot, guide)
        language = detect_language(cleaned) if cleaned else "ja"
        if not cleaned:
            return AnswerContext(cleaned, cleaned, language, snapshot, [], None, 0.0, list(history or []))
        query = retrieval_query(cleaned, history, self.settings.history_turns)
        if self.generator is not None and query.is_follow_up:
            rewritten = self.generator.rewrite(cleaned, history)
            if rewritten:
                query = RetrievalQuery(rewritten, (rewritten,), query.context)
        item = ordinal(cleaned)
        vector = self._vector(query)
        ranking = self._rank(snapshot, query, guide, item, vector)
        if pinned_section is not None:
            ranking = ranking.pinned_to(snapshot, pinned_section)
        judged = ranking
        if pinned_section is None:
            ranking = self._kept_to_conversation(snapshot, query, guide, ranking, vector, item)
        hits = ranking.hits(snapshot, 8)
        judgement = self.relevance.judge(snapshot, cleaned, language, judged, snapshot.calibration, vector)
        if pinned_section is not None:  # the reader asked about this very section
            judgement = replace(judgement, forced=True)
        shape = decide_shape(cleaned, vector, snapshot.calibration)
        broad = item is None and decide_broad(snapshot, ranking, cleaned, snapshot.calibration)
        return AnswerContext(
            cleaned,
            query.text,
            language,
            snapshot,
            hits,
            vector if hits else None,
            judgement.probability,
            list(history or []),
            item=item,
            ranking=ranking,
            judgement=judgement,
            shape=shape,
            broad=broad,
        )

    def _section_index(self, snapshot: IndexSnapshot, section: Sequence[str]) -> int:
        """The index of the section ``(guide, H2, H3…)``; :class:`QuestionError` when unknown."""
        guide, *path = section
        for i, s in enumerate(snapshot.sections):
            if s.guide == guide and list(s.heading_path) == path:
                return i
        raise QuestionError(f"unknown section {' › '.join(section)!r}; pick one from the guide's table of contents")

    def _extractive(self, ctx: AnswerContext) -> Answer:
        if not ctx.question:
            return self.answerer.abstain(ctx.snapshot, [], ctx.language, empty=True)
        if not ctx.hits or ctx.vector is None or ctx.judgement is None or not ctx.judgement.answer:
            answer = self.answerer.abstain(ctx.snapshot, ctx.hits, ctx.language, judgement=ctx.judgement)
        else:
            answer = self.answerer.compose(ctx)
        return self._with_next_steps(replace(answer, confidence=ctx.confidence), ctx)

    def _with_next_steps(self, answer: Answer, ctx: AnswerContext) -> Answer:
        """Next questions and related jobs for an answer (none for an abstention)."""
        if answer.abstained or not answer.citations:
            return answer
        return replace(
            answer,
            suggestions=suggestions(ctx.snapshot, answer, ctx.language),
            related_jobs=related_jobs(ctx.snapshot, answer.citations[0].guide),
        )

    def ask(
        self,
        question: str,
        history: Sequence[Message | str] | None = None,
        guide: str | None = None,
        section: Sequence[str] | None = None,
    ) -> Answer:
        """A cited Markdown answer, or an abstention naming the nearest sections.

        ``section`` (``(guide slug, H2, H3…)``, as in a table of contents) asks about that
        section itself: the answer comes from it.
        """
        answer: Answer | None = None
        for event in self.stream(question, history=history, guide=guide, section=section):
            if isinstance(event, Answer):
                answer = event
        assert answer is not None
        return answer

    def stream(
        self,
        question: str,
        history: Sequence[Message | str] | None = None,
        guide: str | None = None,
        section: Sequence[str] | None = None,
    ) -> Iterator[str | Answer]:
        """Yield the answer text in pieces as it is produced, then the final :class:`Answer`.

        Without a language model the extractive answer is computed at once and yielded line by
        line; with one, generated text streams in and the final answer holds only verified
        citations (or the extractive answer, with a notice, if generation fails).
        """
        ctx = self._context(question, history, guide, section)
        extractive = self._extractive(ctx)
        if self.generator is not None and not extractive.abstained:
            yield from self.generator.stream(ctx, extractive)
            return
        for line in extractive.text.splitlines(keepends=True):
            yield line
        yield extractive
