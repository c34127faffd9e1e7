"""Extractive answers shaped for what was asked, every line quoted from a guide and cited.

* **explanation** — a lead sentence that answers, then supporting points from the same
  section (and its subsections), in the guide's order;
* **list** — the items themselves (table rows as label and detail, list items, or the
  subsections a section introduces), complete up to :data:`MAX_ITEMS`, saying how many more
  the section holds, after the section's own sentence before its items that is closest to the
  question (「必須の資格はありませんが…」), unless it only announces them;
* **table** — a compact Markdown table of the matching rows with the columns that matter;
* **steps** — numbered steps in the guide's order.

A question about a whole section that landed on one of its subsections (the fitted breadth
model, :mod:`rag.answers.breadth`) gets every subsection: grouped lists for a list question,
else the family's closest sentence and then each subsection's heading and first sentence.
Such an outline (and a steps answer) also quotes, under the subsection the ranker put first,
its :data:`OUTLINE_DETAILS` closest sentences not shown yet.

Two questions every job seeker asks are answered from the guide's template, whichever
subsection the ranker chose: what the job itself is or does (the guide's sentence that says
what the job is, then every subsection of its duties section; :meth:`ExtractiveAnswerer._overview`)
and what an interview asks (the interview section's own list of questions, not its preparation
tips or 「逆質問」; :meth:`ExtractiveAnswerer._interview_questions`). The sections are found by
the calibration's section typer.

A lead sentence that states a view the guide goes on to turn (「『AIに代替される』という議論は
たびたび話題になります。」) is shown with the next sentence of its paragraph when that one opens
with a turn (「確かに…が」「しかし実際には…」, :meth:`ExtractiveAnswerer._sequel`): alone, it
would answer "will AI replace it?" with the fear, not with what the guide says of it.

Retrieval often has the right section second rather than first: when the fitted ranker gives
another section at least :data:`RELATED_RATIO` of the first one's probability, the answer goes
on with that section under its title (its items for a list question, else its closest
sentences), so a close call shows both candidates instead of betting on one. A sibling
subsection counts (another duty, another step); the lead's own subsections and its parent do
not (the lead's answer already draws on them).

A section introduction that announces what follows (「以下に…解説します。」) is never an
answer alone: its subsections follow; when several rows of one table answer a question, the
whole table is shown in order (after the best sentence, or, when a row is the best, after what
the section says before the table). When the assistant abstains, terms of the question that the
guides never use are named (「ガイドには『ビザ』についての記載はありません。」). Answers do not
carry that note: on the judged held-out answers it was wrong for two of three answered
questions (the guide did cover the asker's point in other words). No language model is
involved; sentence vectors come from the index.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..documents import display_path, heading_title, strip_item_number
from ..fitting.intent import SECTION_TYPES
from ..index.snapshot import IndexSnapshot
from ..naming import aliases_of
from ..normalization import fold, plain
from ..relevance import Judgement, asks_amount, holds_number
from ..results import Answer, Citation, Hit
from ..retrieval import Ranking, keyword_query, section_types
from ..tokenization import BigramTokenizer
from .breadth import family
from .prose import (
    FragmentDetector,
    announces,
    concedes,
    is_clock_label,
    is_list_item,
    is_pointer,
    is_schedule_entry,
    item_label,
    points_forward,
    row_text,
    shorten,
    strip_label,
    turns,
)
from .shape import (
    amount_in_asked_unit,
    asked_topics,
    asks_comparison,
    asks_definition,
    asks_feasibility,
    asks_first,
    asks_interview_questions,
    asks_need,
    asks_schedule,
    asks_what_job_does,
    defines,
    definition_rank,
    question_shape,
    states_need,
    states_openness,
)
from .structure import Structure, Table, parse

#: Items shown in a list or steps answer before "… more in the full section".
MAX_ITEMS = 15
#: A list answer needs at least this many items (two labelled items, 「目的」「アクション」, are prose).
MIN_LIST_ITEMS = 3
#: Rows shown in a table answer.
MAX_ROWS = 8
#: Columns of a table answer besides the row label.
MAX_COLUMNS = 2
#: Characters of one item (a row's detail, a list item, a subsection's first sentence) before it
#: is cut at a sentence or clause end with 「…」; a table answer's cells are cut at CELL_CHARS.
ITEM_CHARS = 200
CELL_CHARS = 100
#: A second section is offered when the ranker gives it at least this share of the top
#: section's probability (a ratio of fitted probabilities, not a cosine).
RELATED_RATIO = 0.125
#: Sentences quoted from that second section in an explanation.
RELATED_POINTS = 3
#: A question asking for an amount (「何年かかる？」) is led by the first of this many closest
#: readable sentences that states a number, one asking whether something is needed by the
#: first that states a requirement (ranks, not cosines: no score scale of one model).
ANSWER_RANKS = 3
#: An outline of subsections (each shown by its heading and first sentence) also quotes, under
#: the subsection the ranker put first, this many more of its sentences closest to the
#: question: a step's first sentence states its aim, and what the asker wants (the hours, the
#: correspondence course) is often further in.
OUTLINE_DETAILS = 2
_LISTED_GUIDES = 10  # an abstention names at most this many of the indexed guides
_TERMS = BigramTokenizer()
# A subsection that is itself about what is asked (「…の面接で問われること」「よく聞かれる質問」;
# not 「逆質問」, the questions for the interviewer).
_QUESTIONS_HEADING = re.compile(r"(?<!逆)質問|問われ|聞かれ|\bquestions?\b", re.IGNORECASE)


def _is_item_line(line: str) -> bool:
    """True for a Markdown line of a list item or a table row."""
    return is_list_item(line) or line.lstrip().startswith("|")


def _one_line_per_item(points: list[tuple[int, str]]) -> list[tuple[int, str]]:
    """(section, text) points in the guide's order, two sentences of one labelled item of one
    section joined on one line under one label (「**全国通訳案内士** — 観光庁所管の国家資格。
    翻訳とは別の職種ですが、…」), not shown as two points with the same label."""
    merged: list[tuple[int, str]] = []
    for section, text in points:
        label, _, rest = text.partition(" — ")
        if merged and label.startswith("**") and merged[-1][0] == section and merged[-1][1].startswith(label + " — "):
            last = merged[-1][1]
            merged[-1] = (section, last + ("" if last.endswith(("。", "！", "？")) else " ") + rest)
        else:
            merged.append((section, text))
    return merged

TEXT = {
    "ja": {
        "related_part": "**関連する記載 — {title}**",
        "sources": "**出典**",
        "abstain": "ご質問の内容は、収録されているガイドには書かれていないようです。",
        "missing": "ガイドには{terms}についての記載はありません。",
        "nearest": "近い内容のセクション:",
        "covered": "収録されているガイド: ",
        "joiner": "、",
        "quote": "『{}』",
        "more": "ほか{n}件はセクション全文へ",
        "items": "{title}（{n}件）:",
        "groups": "{title}（{n}項目）:",
        "part_cut": "（{total}件中{shown}件、残りはセクション全文へ）",
        "steps": "{title}（ガイドの順）:",
        "first_step": "まずは「{title}」から（ガイドの順で最初のステップ）: {text}",
        "empty": "質問を入力してください。例: 「CISOに必要なスキルは？」",
        "lines": "行",
        "english_note": "",
    },
    "en": {
        "related_part": "**Related — {title}**",
        "sources": "**Sources**",
        "abstain": "The guides do not seem to cover this question.",
        "missing": "The guides say nothing about {terms}.",
        "nearest": "Nearest sections:",
        "covered": "Guides available: ",
        "joiner": ", ",
        "quote": "'{}'",
        "more": "+{n} more in the full section",
        "items": "{title} ({n} items):",
        "groups": "{title} ({n} parts):",
        "part_cut": " ({shown} of {total}; the rest in the full section)",
        "steps": "{title} (in the guide's order):",
        "first_step": "Start with \"{title}\" (the first step in the guide's order): {text}",
        "empty": "Please type a question, for example: \"What skills does a CISO need?\"",
        "lines": "lines",
        "english_note": (
            "From the guides (the quotes are in Japanese, as written; configure a language model "
            "with `--llm-base-url` and `--llm-model` for answers in English):"
        ),
    },
}


@dataclass(frozen=True)
class AnswerContext:
    """Everything known about a question once retrieval is done."""

    question: str  # cleaned, as displayed
    query: str  # what retrieval used (with earlier turns for a follow-up)
    language: str
    snapshot: IndexSnapshot
    hits: list[Hit]
    vector: np.ndarray | None
    confidence: float
    history: list[Any]
    item: int | None = None  # the numbered item a follow-up points at (「5つ目」), if any
    ranking: Ranking | None = None
    judgement: Judgement | None = None
    shape: str = "explanation"
    #: The first section is one subsection of a section the question is about as a whole
    #: (rag.answers.breadth): the answer covers every subsection of its parent.
    broad: bool = False


#: The citation mark at the end of an answer line (「… [2]」).
_CITED = re.compile(r"\s*\[\d+\]$")


@dataclass
class _Draft:
    """An answer under construction: lines of text and the sections they cite."""

    snapshot: IndexSnapshot
    lines: list[str] = field(default_factory=list)
    numbers: dict[int, int] = field(default_factory=dict)
    quotes: dict[int, list[str]] = field(default_factory=dict)
    shape: str = "explanation"  # the shape actually composed
    items_shown: int = 0  # for list, steps and table answers: items shown of ...
    items_total: int = 0  # ... the items the section holds

    def cite(self, section: int, quote: str) -> int:
        number = self.numbers.setdefault(section, len(self.numbers) + 1)
        bucket = self.quotes.setdefault(section, [])
        if quote and quote not in bucket:
            bucket.append(quote)
        return number

    def drop_repeats(self, text: str, after: int) -> None:
        """Remove the lines after line ``after`` that quote ``text`` again (as a sentence or a
        point, with their citation)."""
        kept = self.lines[: after + 1]
        for line in self.lines[after + 1 :]:
            body = _CITED.sub("", line[2:] if line.startswith("- ") else line)
            if body == text:
                continue
            if not line.strip() and kept and not kept[-1].strip():
                continue  # no blank line twice where one went
            kept.append(line)
        self.lines = kept

    def citations(self) -> list[Citation]:
        out = []
        for section_index, number in self.numbers.items():
            section = self.snapshot.sections[section_index]
            guide = self.snapshot.guides[section.guide]
            out.append(
                Citation(
                    number=number,
                    guide=section.guide,
                    guide_label=guide.label,
                    heading_path=section.heading_path,
                    quote=" … ".join(self.quotes.get(section_index, [])),
                    line_start=section.line_start,
                    line_end=section.line_end,
                    section_text=section.text,
                )
            )
        return out


class ExtractiveAnswerer:
    """Composes a shaped, cited Markdown answer from a ranking."""

    def __init__(self, *, max_points: int = 4, max_items: int = MAX_ITEMS, max_sources: int = 3) -> None:
        self.max_points = max_points
        self.max_items = max_items
        self.max_sources = max_sources
        self.fragments = FragmentDetector()

    # -- sections --------------------------------------------------------------------------------
    def _children(self, snapshot: IndexSnapshot, section: int) -> list[int]:
        """Subsections of a top-level section, in order."""
        layout = snapshot.layout
        if layout.section_depth[section] != 0:
            return []
        entry = next(e for e in snapshot.manifest.guides if e.slug == snapshot.sections[section].guide)
        return [
            s for s in range(section + 1, entry.sections[1])
            if layout.section_parent[s] == section and s != section
        ]

    def _numbered_family(self, snapshot: IndexSnapshot, section: int) -> list[int]:
        """The numbered subsections (「1. …」「2. …」) of the section's top-level section."""
        parent = int(snapshot.layout.section_parent[section])
        children = self._children(snapshot, parent)
        numbered = [c for c in children if self._is_numbered(snapshot, c)]
        return numbered if len(numbered) >= 2 else []

    @staticmethod
    def _is_numbered(snapshot: IndexSnapshot, section: int) -> bool:
        """The section's heading is numbered (「1. …」)."""
        heading = snapshot.sections[section].heading_path[-1]
        return strip_item_number(heading) != heading

    # -- scoring units ---------------------------------------------------------------------------
    def _unit_scores(self, snapshot: IndexSnapshot, sections: list[int], vector: np.ndarray) -> list[tuple[int, int, float]]:
        """(unit index, section, cosine) of every unit of ``sections``."""
        out = []
        layout = snapshot.layout
        for s in sections:
            u0, u1 = (int(v) for v in layout.section_units[s])
            if u1 <= u0:
                continue
            sims = np.asarray(snapshot.unit_vectors[u0:u1]) @ vector
            out.extend((u0 + i, s, float(v)) for i, v in enumerate(sims))
        return out

    def _row_of(self, snapshot: IndexSnapshot, unit: int) -> tuple[Table, tuple[str, ...]] | None:
        """The table row behind a table-row unit."""
        chunk = snapshot.chunks[snapshot.units[unit].chunk]
        if chunk.kind != "table_row":
            return None
        section = snapshot.sections[chunk.section]
        offset = chunk.line_start - section.line_start
        for table in parse(section.text).tables:
            at = offset - table.line - 2
            if 0 <= at < len(table.rows):
                return table, table.rows[at]
        return None

    def _readable(self, snapshot: IndexSnapshot, unit: int, language: str) -> str | None:
        """A unit as it may stand in an explanation, or None (pointer, fragment, too short)."""
        row = self._row_of(snapshot, unit)
        if row is not None:
            return row_text(*row)
        text = strip_label(snapshot.units[unit].text)
        if len(text) < 8 or is_pointer(text):
            return None
        label = self._item_label(snapshot, unit)
        if label and (snapshot.item_labels[label] == 1 or is_clock_label(label)):
            # a label that names its item (not a template's 「目的」) reads as a row does:
            # 「**ステップ2（半年〜1年半）** — カラー塗布、…」, a noun phrase as its detail included;
            # so does a time of day, which every schedule has (「**11:00** — 同僚のレビューを受ける。」)
            return f"**{label}** — {text}"
        if self.fragments.is_fragment(text):
            return None
        return text

    def _sequel(self, snapshot: IndexSnapshot, unit: int, language: str) -> tuple[tuple[int, ...], str] | None:
        """The sentences after ``unit`` in its prose paragraph that turn what it said
        (:func:`~rag.answers.prose.turns`: 「確かに…が」「しかし実際には…」): a lead that states a
        view the guide goes on to answer (「『AIに代替される』という議論は…」) is shown with the
        answer. A concession (「確かに…」) is followed to the turn after it (「しかしその一方で…」).
        Returns the units and their text, or None."""
        if self._item_label(snapshot, unit) or self._row_of(snapshot, unit) is not None:
            return None
        units: list[int] = []
        texts: list[str] = []
        here = unit
        while len(units) < 2 and (not texts or concedes(texts[-1])):
            nxt = here + 1
            if nxt >= len(snapshot.units):
                break
            a, b = snapshot.units[here], snapshot.units[nxt]
            if a.line != b.line or snapshot.chunks[a.chunk].section != snapshot.chunks[b.chunk].section:
                break
            text = self._readable(snapshot, nxt, language)
            if text is None or announces(text) or not turns(text):
                break
            units.append(nxt)
            texts.append(text)
            here = nxt
        return (tuple(units), "".join(texts)) if units else None

    def _with_sequel(self, snapshot: IndexSnapshot, unit: int, text: str, language: str) -> str:
        """``text`` (unit ``unit``'s readable form) with its :meth:`_sequel`, if any."""
        sequel = self._sequel(snapshot, unit, language)
        return text if sequel is None else text + sequel[1]

    @staticmethod
    def _unit_line(snapshot: IndexSnapshot, unit: int) -> str:
        """The Markdown line of its section a unit was taken from ("" when none)."""
        record = snapshot.units[unit]
        section = snapshot.sections[snapshot.chunks[record.chunk].section]
        lines = section.text.split("\n")
        at = record.line - section.line_start
        return lines[at] if 0 <= at < len(lines) else ""

    @classmethod
    def _item_label(cls, snapshot: IndexSnapshot, unit: int) -> str:
        """The label of the list item a unit was taken from ("" when none)."""
        return item_label(cls._unit_line(snapshot, unit))

    # -- composing -------------------------------------------------------------------------------
    def compose(self, ctx: AnswerContext, *, shape: str | None = None) -> Answer:
        """The answer for ``ctx`` (assumed answerable)."""
        assert ctx.ranking is not None and ctx.vector is not None
        snapshot, ranking, language = ctx.snapshot, ctx.ranking, ctx.language
        labels = TEXT[language]
        lead = int(ranking.sections[0])
        if ranking.pinned:
            lead = snapshot.chunks[ranking.pinned[0]].section
        draft = _Draft(snapshot)
        if language == "en":
            draft.lines += [labels["english_note"], ""]
        wanted = shape or ctx.shape
        # no item asked for by number and no passage pinned: the answer's form is ours to choose
        free = ctx.item is None and not ranking.pinned
        overview = free and ctx.query == ctx.question and self._overview(ctx, draft, lead)
        done = overview
        entry = self._who_may_enter(ctx, draft, lead) if not done and free else None
        if not done and free:
            asked = self._interview_questions(ctx, draft, lead)
            if asked is not None:
                lead, done = asked, True
        if not done and free:
            done = self._schedule(ctx, draft, lead)
        if not done and free and ctx.broad and wanted != "steps":
            widened = family(snapshot, lead)
            if widened is not None:
                lead = widened[0]
                done = self._broad(ctx, draft, *widened, grouped=wanted in ("list", "table"))
        if ctx.item is None and not done:
            if wanted == "steps":
                done = self._steps(ctx, draft, lead)
            if wanted in ("list", "steps") and not done:
                done = self._list(ctx, draft, lead)
            if wanted == "table" and not done:
                done = self._table(ctx, draft, lead) or self._list(ctx, draft, lead)
        if not done and free:
            done = self._short_list(ctx, draft, lead)
        if not done:
            self._explanation(ctx, draft, lead)
        if not ranking.pinned and not overview:  # an overview answers with two sections already
            self._related(ctx, draft, lead)
        if entry is not None:  # the sentence that leads is not quoted again below it
            draft.drop_repeats(*entry)
        return self._finish(ctx, draft)

    def _overview(self, ctx: AnswerContext, draft: _Draft, lead: int) -> bool:
        """「看護師って何する仕事？」: what the guide says the job is, then its duties.

        For a question about what the lead section's job is or does (not a part of it, not its
        day), the answer is the guide's sentence that says what the job is (from its overview
        section) followed by the subsections of its duties section, each by its heading and
        first sentence. The sections are the top-level ones the calibration's section typer
        calls ``overview`` and ``duties``. False (nothing written) when the question is of
        another kind or the guide has no duties section with subsections."""
        snapshot = ctx.snapshot
        calibration = snapshot.calibration
        guide = snapshot.guides[snapshot.sections[lead].guide]
        names = aliases_of(guide)
        if calibration is None or not asks_what_job_does(ctx.question, names):
            return False
        types = section_types(snapshot, calibration)
        layout = snapshot.layout
        entry = next(e for e in snapshot.manifest.guides if e.slug == guide.slug)
        tops = [s for s in range(*entry.sections) if layout.section_depth[s] == 0]
        kind = {t: next((s for s in tops if SECTION_TYPES[int(types[s])] == t), None) for t in ("overview", "duties")}
        duties = kind["duties"]
        children = (self._numbered_family(snapshot, duties) or self._children(snapshot, duties)) if duties is not None else []
        if len(children) < 2:
            return False
        overview = [kind["overview"], *self._children(snapshot, kind["overview"])] if kind["overview"] is not None else []
        # the sentence that says what the job is (the plainest definition, then the closest);
        # else the overview's sentence closest to the question
        scored = sorted(self._unit_scores(snapshot, overview, ctx.vector), key=lambda u: -u[2])
        readable = [(s, t) for u, s, _ in scored if (t := self._readable(snapshot, u, ctx.language)) is not None]
        defined = [(r, i) for i, (_, t) in enumerate(readable) if (r := definition_rank(t, names)) is not None]
        for section, text in [readable[min(defined)[1]]] if defined else readable[:1]:
            draft.lines += [f"{text} [{draft.cite(section, text)}]", ""]
        self._write_items(ctx, draft, duties, [(self._child_text(ctx, c), c) for c in children], numbered=False)
        return True

    def _who_may_enter(self, ctx: AnswerContext, draft: _Draft, lead: int) -> tuple[str, int] | None:
        """「文系でもなれる？」: first, what the guide says about who may enter the job.

        For a question whether the asker can get into the job, the sentence of the guide's
        learning section (its own text before its subsections) or of the lead's parent section
        that says who may enter (「学歴や資格よりも…」), the closest to the question of those,
        leads the answer. Returns that sentence and the index of its line in the draft, or None
        (nothing written) when there is none."""
        snapshot = ctx.snapshot
        calibration = snapshot.calibration
        if calibration is None or not asks_feasibility(ctx.question):
            return None
        types = section_types(snapshot, calibration)
        layout = snapshot.layout
        entry = next(e for e in snapshot.manifest.guides if e.slug == snapshot.sections[lead].guide)
        places = [
            s for s in range(*entry.sections) if layout.section_depth[s] == 0 and SECTION_TYPES[int(types[s])] == "learning"
        ]
        parent = int(layout.section_parent[lead])
        if parent not in places:
            places.append(parent)
        scored = sorted(self._unit_scores(snapshot, places, ctx.vector), key=lambda u: -u[2])
        for unit, section, _ in scored:
            if self._row_of(snapshot, unit) is not None or self._item_label(snapshot, unit):
                continue
            text = self._readable(snapshot, unit, ctx.language)
            if text is not None and states_openness(text) and not announces(text) and not points_forward(text):
                draft.lines += [f"{text} [{draft.cite(section, text)}]", ""]
                return text, len(draft.lines) - 2
        return None

    def _interview_questions(self, ctx: AnswerContext, draft: _Draft, lead: int) -> int | None:
        """「面接でよく聞かれることは？」: the interview section's own list of questions.

        When the question asks what an interview asks (or what to ask in one) and the ranker's
        first section lies in the section the typer calls ``interview``, the answer is that
        section's own table or list of questions, after its own sentence before them, even when
        the ranker chose one of its subsections (preparation tips, 「逆質問」). Returns the
        section answered from, or None (nothing written) when the question is of another kind
        or the section has no list of its own."""
        snapshot = ctx.snapshot
        calibration = snapshot.calibration
        if calibration is None or not asks_interview_questions(ctx.question):
            return None
        top = int(snapshot.layout.section_parent[lead])  # the lead itself when it is top-level
        if not self._in_interview(snapshot, top):
            return None
        if lead != top and _QUESTIONS_HEADING.search(snapshot.sections[lead].heading_path[-1]):
            return None  # the ranker chose a subsection of questions (「社会人経験者採用の面接で問われること」)
        structure = parse(snapshot.sections[top].text)
        if not structure.tables and len(self._top_items(structure)) < MIN_LIST_ITEMS:
            return None  # its questions are its subsections, or it has none: the usual answer
        self._write_led_items(ctx, draft, top, self._items_of(ctx, top))
        return top

    def _schedule(self, ctx: AnswerContext, draft: _Draft, lead: int) -> bool:
        """「1日のスケジュールってどんな感じ？」: the lead section's schedule, every entry in order.

        When the question asks what a day or a week looks like and the ranker's first section is
        a schedule (at least MIN_LIST_ITEMS items or rows that open with a time of day or a
        weekday), the answer is that whole schedule after its own sentence before it, whatever
        shape the classifier chose: three entries of a day are not the day. False (nothing
        written) otherwise."""
        if not asks_schedule(ctx.question):
            return False
        items = self._items_of(ctx, lead)
        if sum(is_schedule_entry(text) for text, _ in items) < MIN_LIST_ITEMS:
            return False
        self._write_led_items(ctx, draft, lead, items)
        return True

    def _short_list(self, ctx: AnswerContext, draft: _Draft, lead: int) -> bool:
        """An explanation whose section is a short list: the whole list, in order.

        When the lead section's own list or table has no more items than an explanation shows
        points (:attr:`max_points`), the reader gets all of them — no longer than the excerpt,
        and nothing left out (「休みが水曜なのはなぜ？」 on a four-item list of working
        conditions: the item with the reason, not the two lines closest to the question). They
        are led by the section's sentence that answers (:meth:`_closest_sentence`) when that is
        prose, else by its sentence before the items (:meth:`_prose_lead`). Longer lists are
        excerpted by :meth:`_explanation`, except for a question that asks how things differ:
        a comparison is read across all its rows (「幼稚園教諭と保育士の違いは？」 on a five-row
        table: the qualification, ages, curriculum and ministry, not the workplace row alone).
        False (nothing written) otherwise."""
        snapshot = ctx.snapshot
        structure = parse(snapshot.sections[lead].text)
        if not structure.tables and len(self._top_items(structure)) < MIN_LIST_ITEMS:
            return False
        items = self._items_of(ctx, lead)
        whole = asks_comparison(ctx.question) and not self._unasked_interview(ctx, lead)
        if len(items) < 2 or (len(items) > self.max_points and not whole):
            return False
        # led, as an explanation is, by the section's sentence that answers (「年収の目安は…」
        # after the table) unless that is one of the items; else by its sentence before them
        unit, _, text = self._closest_sentence(ctx, [lead])
        if unit < 0 or self._in_items(snapshot, unit) or announces(text):
            self._write_led_items(ctx, draft, lead, items)
            return True
        text = self._with_sequel(snapshot, unit, text, ctx.language)
        draft.lines += [f"{text} [{draft.cite(lead, text)}]", ""]
        self._write_items(ctx, draft, lead, items, numbered=False)
        return True

    @classmethod
    def _in_items(cls, snapshot: IndexSnapshot, unit: int) -> bool:
        """True for a unit taken from a list item or a table row."""
        return _is_item_line(cls._unit_line(snapshot, unit))

    def _explanation(self, ctx: AnswerContext, draft: _Draft, lead: int, *, points: int | None = None) -> None:
        """A lead sentence from the lead section, then the best other sentences of it and of
        its subsections, shown in the guide's order."""
        snapshot = ctx.snapshot
        family = [lead]
        if snapshot.layout.section_has_children[lead]:
            family += self._children(snapshot, lead)
        scored = self._unit_scores(snapshot, family, ctx.vector)
        if ctx.ranking is not None and ctx.ranking.pinned:
            pinned = set(ctx.ranking.pinned)
            scored = [u for u in scored if snapshot.units[u[0]].chunk in pinned] or scored
        best_first = sorted(scored, key=lambda u: -u[2])
        own_first = self._answering_first(ctx, sorted(scored, key=lambda u: (u[1] != lead, -u[2])), related=points is not None)
        chosen: list[tuple[int, int, str]] = []
        seen: set[str] = set()
        for pool in (own_first, best_first):
            for unit, section, _score in pool:
                if len(chosen) >= (1 if pool is own_first else points or self.max_points):
                    break
                if any(unit == c[0] for c in chosen):
                    continue
                text = self._readable(snapshot, unit, ctx.language)
                if text is None or fold(text) in seen:
                    continue
                seen.add(fold(text))
                chosen.append((unit, section, text))
        if not chosen:  # nothing readable: quote the section's beginning as it is
            text = shorten(" ".join(parse(snapshot.sections[lead].text).sentences) or snapshot.sections[lead].text, 200)
            draft.lines.append(f"{text} [{draft.cite(lead, text)}]")
            return
        first = chosen[0]
        sequel = self._sequel(snapshot, first[0], ctx.language)
        if sequel is not None:  # the lead with the sentence that turns it; not again as a point
            first = (first[0], first[1], first[2] + sequel[1])
            chosen = [c for c in chosen if c[0] not in sequel[0]]
        rest = sorted(chosen[1:], key=lambda c: c[0])
        for unit, section, text in chosen if points is None else ():
            # a quoted sentence announces the list after it (「次のような特徴を持つ人は…」): the
            # reader gets that list, after the lead and the announcing sentence (not in a
            # related part, which quotes its closest sentences only)
            announced = self._announced_items(ctx, unit, section)
            if announced:
                draft.lines += [f"{first[2]} [{draft.cite(first[1], first[2])}]", ""]
                if unit != first[0]:
                    draft.lines += [f"{text} [{draft.cite(section, text)}]", ""]
                self._write_items(ctx, draft, section, announced, numbered=False)
                return
        rows = [c for c in chosen if self._row_of(snapshot, c[0]) is not None]
        several = len(rows) >= 2 and len({snapshot.units[c[0]].chunk for c in rows}) >= 2
        if several and not self._unasked_interview(ctx, rows[0][1]):
            # several rows of one table answer it: the reader gets the whole table, in order,
            # after the lead sentence when the best match is a sentence rather than a row
            section = rows[0][1]
            items = self._items_of(ctx, section)
            if len(items) >= MIN_LIST_ITEMS:
                # led by the best sentence, or, when a row is the best, by what the section says
                # before its table
                if self._row_of(snapshot, first[0]) is None:
                    lead_text, cited = first[2], first[1]
                else:
                    lead_text, cited = self._prose_lead(ctx, section), section
                if lead_text is not None:
                    draft.lines += [f"{lead_text} [{draft.cite(cited, lead_text)}]", ""]
                self._write_items(ctx, draft, section, items, numbered=False)
                return
        draft.lines.append(f"{first[2]} [{draft.cite(first[1], first[2])}]")
        if rest:
            draft.lines.append("")
            points = _one_line_per_item([(section, text) for _, section, text in rest])
            draft.lines += [f"- {text} [{draft.cite(section, text)}]" for section, text in points]

    def _unasked_interview(self, ctx: AnswerContext, section: int) -> bool:
        """The section lies in the guide's interview section and the question does not ask what
        an interview asks: its table of questions answers another question in a row or two
        (「校正と校閲の違いは？」), not as a whole."""
        return not asks_interview_questions(ctx.question) and self._in_interview(ctx.snapshot, section)

    @staticmethod
    def _in_interview(snapshot: IndexSnapshot, section: int) -> bool:
        """The section lies in the one the calibration's typer calls ``interview`` (False
        without a calibration)."""
        calibration = snapshot.calibration
        return calibration is not None and SECTION_TYPES[int(section_types(snapshot, calibration)[section])] == "interview"

    def _announced_items(self, ctx: AnswerContext, unit: int, section: int) -> list[tuple[str, int]]:
        """The items of the list or table that ``unit`` announces: the unit is the last sentence
        of a paragraph of ``section``, refers forward (「次のような…」「以下の…」), and the block
        right after that paragraph is a list or a table of at least MIN_LIST_ITEMS items. Empty
        otherwise."""
        snapshot = ctx.snapshot
        text = plain(snapshot.units[unit].text).strip()
        if self._row_of(snapshot, unit) is not None or not points_forward(text):
            return []
        at = snapshot.units[unit].line - snapshot.sections[section].line_start
        blocks = parse(snapshot.sections[section].text).blocks
        index = max((i for i, b in enumerate(blocks) if b.line <= at), default=None)
        if index is None or index + 1 >= len(blocks):
            return []
        block, following = blocks[index], blocks[index + 1]
        if block.kind != "paragraph" or block.sentences[-1] != text or following.kind == "paragraph":
            return []
        if following.table is not None:
            items = [row_text(following.table, row, limit=ITEM_CHARS) for row in following.table.rows]
        else:
            items = [self._item_text(t) for t in self._top_items(Structure((following,)))]
        return [(t, section) for t in items] if len(items) >= MIN_LIST_ITEMS else []

    def _items_of(self, ctx: AnswerContext, section: int) -> list[tuple[str, int]]:
        """The items a section offers: its table rows, its list items, or its subsections."""
        snapshot = ctx.snapshot
        structure = parse(snapshot.sections[section].text)
        if structure.tables:
            table = max(structure.tables, key=lambda t: len(t.rows))
            return [(row_text(table, row, limit=ITEM_CHARS), section) for row in table.rows]
        items = self._top_items(structure)
        if len(items) >= MIN_LIST_ITEMS:
            return [(self._item_text(text), section) for text in items]
        children = self._children(snapshot, section) if snapshot.layout.section_has_children[section] else []
        if len(children) >= 2:
            return [(self._child_text(ctx, c), c) for c in children]
        return []

    @staticmethod
    def _top_items(structure: Structure) -> list[str]:
        """Top-level list items; an item that is only a label (「アクション:」) carries its sub-items."""
        grouped: list[tuple[str, list[str]]] = []
        for block in structure.blocks:
            if block.kind != "list":
                continue
            for item in block.items:
                if item.depth == 0 or not grouped:
                    grouped.append((item.text, []))
                else:
                    grouped[-1][1].append(item.text)
        return [
            f"{text.rstrip()} {' / '.join(children)}" if children and text.rstrip().endswith((":", "：")) else text
            for text, children in grouped
        ]

    @staticmethod
    def _item_text(text: str) -> str:
        stripped = strip_label(text)
        if stripped != text and stripped:
            label = text[: len(text) - len(stripped)].rstrip(":： ")
            return f"**{label}** — {shorten(stripped, ITEM_CHARS)}"
        return shorten(text, ITEM_CHARS)

    def _child_text(self, ctx: AnswerContext, child: int) -> str:
        """A subsection as an item: its heading and its first readable sentence."""
        title = strip_item_number(ctx.snapshot.sections[child].heading_path[-1])
        first = self._first_sentence(ctx, child)
        return f"**{title}** — {first}" if first else f"**{title}**"

    def _first_sentence(self, ctx: AnswerContext, section: int) -> str:
        """The section's first readable sentence or list item, shortened ("" when none)."""
        structure = parse(ctx.snapshot.sections[section].text)
        for sentence in structure.sentences + [strip_label(i.text) for i in structure.items]:
            sentence = strip_label(sentence)
            if len(sentence) >= 8 and not is_pointer(sentence):
                return shorten(sentence, ITEM_CHARS)
        return ""

    def _list(self, ctx: AnswerContext, draft: _Draft, lead: int) -> bool:
        """The lead section's own items (rows, list items, or the subsections it introduces).

        A subsection's siblings are not listed: a question that landed on one duty is about
        that duty."""
        items = self._items_of(ctx, lead)
        if len(items) >= 2:
            self._write_led_items(ctx, draft, lead, items)
            return True
        return False

    def _write_led_items(self, ctx: AnswerContext, draft: _Draft, section: int, items: list[tuple[str, int]]) -> None:
        """``items`` of ``section`` after the section's own sentence before them (:meth:`_prose_lead`)."""
        intro = self._prose_lead(ctx, section)
        if intro is not None:
            draft.lines += [f"{intro} [{draft.cite(section, intro)}]", ""]
        self._write_items(ctx, draft, section, items, numbered=False)

    def _prose_lead(self, ctx: AnswerContext, section: int) -> str | None:
        """The readable sentence closest to the question among those the section writes before
        its first list item or table (None when there is none, or when it only announces the
        items): what the section says about its items (「必須の資格はありませんが…」) often
        answers before the items do."""
        snapshot = ctx.snapshot
        record = snapshot.sections[section]
        lines = record.text.split("\n")
        first_item = next((i for i, line in enumerate(lines) if _is_item_line(line)), len(lines))
        for unit, _, _ in sorted(self._unit_scores(snapshot, [section], ctx.vector), key=lambda u: -u[2]):
            at = snapshot.units[unit].line - record.line_start
            if not 0 <= at < first_item or self._row_of(snapshot, unit) is not None:
                continue
            text = self._readable(snapshot, unit, ctx.language)
            if text is not None and not announces(text):
                return self._with_sequel(snapshot, unit, text, ctx.language)
        return None

    def _steps(self, ctx: AnswerContext, draft: _Draft, lead: int) -> bool:
        snapshot = ctx.snapshot
        family = self._numbered_family(snapshot, lead)
        if not family and snapshot.layout.section_has_children[lead]:
            family = self._numbered_family(snapshot, self._children(snapshot, lead)[0])
        if not family:
            return False
        parent = int(snapshot.layout.section_parent[family[0]])
        self._outline(ctx, draft, parent, family, numbered=True)
        return True

    def _answering_first(
        self, ctx: AnswerContext, ranked: list[tuple[int, int, float]], *, related: bool = False
    ) -> list[tuple[int, int, float]]:
        """``ranked`` units (closest first), with the first of the :data:`ANSWER_RANKS` closest
        that answers the kind of question moved to the front: one that states a number (in
        itself or its item's label) for an amount — in the unit the question asks in at any rank
        (「3,000〜5,000時間」), unless ``related`` (a related part quotes only its closest
        sentences) — a requirement for "is it needed?"; for "what does X do?", the sentence of
        the closest one's section, at any rank, that opens on the job (or on what the question
        asks about) as its topic (「データサイエンティストは、…」)."""
        found: tuple[int, int, float] | None = None
        if asks_amount(ctx.question):
            unit = amount_in_asked_unit(ctx.question)
            if unit is not None:  # a number in the asked unit first (「3,000〜5,000時間」), else any
                reach = ANSWER_RANKS if related else len(ranked)
                found = self._first_answering(ctx, ranked, reach, lambda text: bool(unit.search(text)))
            if found is None:
                found = self._first_answering(ctx, ranked, ANSWER_RANKS, holds_number)
        elif asks_need(ctx.question):
            found = self._first_answering(ctx, ranked, ANSWER_RANKS, states_need)
        elif asks_definition(ctx.question) and ranked:
            # 「PdMって何する人？」: the sentence of the closest section that says what the job
            # (or the thing asked about) is, wherever it stands in the section
            names = self._subject_names(ctx, ranked[0][1])
            home = [u for u in ranked if u[1] == ranked[0][1]]
            found = self._first_answering(ctx, home, len(home), lambda text: defines(text, names))
        return ranked if found is None else [found, *(u for u in ranked if u != found)]

    def _first_answering(
        self, ctx: AnswerContext, ranked: list[tuple[int, int, float]], window: int, answers: Callable[[str], bool]
    ) -> tuple[int, int, float] | None:
        """The first of the ``window`` first readable units of ``ranked`` that ``answers`` (in
        itself or its item's label), or None."""
        seen = 0
        for entry in ranked:
            unit = entry[0]
            if self._readable(ctx.snapshot, unit, ctx.language) is None:
                continue
            if answers(ctx.snapshot.units[unit].text) or answers(self._item_label(ctx.snapshot, unit)):
                return entry
            seen += 1
            if seen == window:
                break
        return None

    @staticmethod
    def _subject_names(ctx: AnswerContext, section: int) -> list[str]:
        """What a definition is about: what the question names before 「って」/「とは」, else
        the names of the section's job (its title, the title's parts, its label: 「法人営業」
        「BtoB営業」), folded."""
        topics = asked_topics(ctx.question)
        if topics:  # 「MLOpsって何するの？」 asks about MLOps, whichever guide speaks of it
            return topics
        return list(aliases_of(ctx.snapshot.guides[ctx.snapshot.sections[section].guide]))

    def _closest_sentence(self, ctx: AnswerContext, sections: list[int]) -> tuple[int, int, str]:
        """The readable sentence or row of ``sections`` closest to the question: its unit, its
        section and its text (``(-1, -1, "")`` when none is readable)."""
        scored = self._unit_scores(ctx.snapshot, sections, ctx.vector)
        for unit, section, _ in self._answering_first(ctx, sorted(scored, key=lambda u: -u[2])):
            text = self._readable(ctx.snapshot, unit, ctx.language)
            if text is not None:
                return unit, section, text
        return -1, -1, ""

    def _closest_lead(self, ctx: AnswerContext, draft: _Draft, sections: list[int]) -> str:
        """Lead an outline of subsections (``sections[1:]``, each shown by its first sentence)
        with the sentence of the family closest to the question (and the sentence that turns
        it, :meth:`_sequel`), unless the outline shows it.

        A question that asks where to begin (「最初にどれから」) over numbered steps is led by
        the first step instead: the guide's order is its answer. Returns the sentence shown
        ("" when none)."""
        snapshot = ctx.snapshot
        steps = [c for c in sections[1:] if self._is_numbered(snapshot, c)]
        if len(steps) >= 2 and asks_first(ctx.question):
            first = steps[0]
            text = self._closest_sentence(ctx, [first])[2] or self._first_sentence(ctx, first)
            title = heading_title(strip_item_number(snapshot.sections[first].heading_path[-1]))
            line = TEXT[ctx.language]["first_step"].format(title=title, text=text)
            draft.lines += [f"{line} [{draft.cite(first, text)}]", ""]
            return text
        unit, section, text = self._closest_sentence(ctx, sections)
        firsts = {fold(self._first_sentence(ctx, c)) for c in sections[1:]}
        if text and fold(shorten(text, ITEM_CHARS)) not in firsts:
            text = self._with_sequel(ctx.snapshot, unit, text, ctx.language)
            draft.lines += [f"{text} [{draft.cite(section, text)}]", ""]
            return text
        return ""

    def _outline(self, ctx: AnswerContext, draft: _Draft, parent: int, children: list[int], *, numbered: bool) -> None:
        """``children`` of ``parent``, each by its heading and first sentence, led by the
        family's sentence closest to the question. The subsection the ranker put first also
        shows, under its heading, its :data:`OUTLINE_DETAILS` closest sentences not shown yet."""
        lead = self._closest_lead(ctx, draft, [parent, *children])
        items, details = self._outline_items(ctx, children, lead)
        self._write_items(ctx, draft, parent, items, numbered=numbered, details=details)

    def _outline_items(
        self, ctx: AnswerContext, children: list[int], lead: str
    ) -> tuple[list[tuple[str, int]], dict[int, list[str]]]:
        """An outline's items (each subsection by its heading and first sentence) and, under the
        subsection the ranker put first, its :data:`OUTLINE_DETAILS` closest sentences not shown
        yet (in the items or in ``lead``)."""
        items = [(self._child_text(ctx, c), c) for c in children]
        top = int(ctx.ranking.sections[0]) if ctx.ranking is not None else -1
        details: list[tuple[int, str]] = []
        if top in children:
            shown = [fold(text) for text, _ in items] + ([fold(lead)] if lead else [])
            scored = sorted(self._unit_scores(ctx.snapshot, [top], ctx.vector), key=lambda u: -u[2])
            for unit, _section, _score in self._answering_first(ctx, scored):
                text = self._readable(ctx.snapshot, unit, ctx.language)
                if text is None:
                    continue
                short = shorten(text, ITEM_CHARS)
                raw = fold(shorten(strip_label(ctx.snapshot.units[unit].text), ITEM_CHARS))
                if any(raw in s or fold(short) in s for s in shown):
                    continue
                shown.append(fold(short))
                details.append((unit, short))
                if len(details) == OUTLINE_DETAILS:
                    break
        lines = [text for _, text in _one_line_per_item([(top, text) for _unit, text in sorted(details)])]
        return items, {top: lines}

    def _broad(self, ctx: AnswerContext, draft: _Draft, parent: int, children: list[int], *, grouped: bool) -> bool:
        """Every subsection of ``parent``: for a list question each one's own items, else each
        one's heading and first sentence. Each subsection's list is shown up to the documented
        limit (sharing one limit out between them cut lists that readers wanted whole). A parent
        with a table or list of its own (a career ladder before its subsections) shows that
        first, led by its sentence before it, then its subsections as an outline does."""
        snapshot = ctx.snapshot
        own = parse(snapshot.sections[parent].text)
        if own.tables or len(self._top_items(own)) >= MIN_LIST_ITEMS:
            self._write_led_items(ctx, draft, parent, self._items_of(ctx, parent))
            shape, shown, total = draft.shape, draft.items_shown, draft.items_total
            draft.lines.append("")
            outline, details = self._outline_items(ctx, children, "")
            self._write_items(ctx, draft, parent, outline, numbered=False, titled=False, details=details)
            draft.shape, draft.items_shown, draft.items_total = shape, shown, total
            return True
        groups = [(c, self._items_of(ctx, c)) for c in children] if grouped else []
        if sum(len(items) >= MIN_LIST_ITEMS for _, items in groups) < 2:
            if grouped:
                self._write_items(ctx, draft, parent, [(self._child_text(ctx, c), c) for c in children], numbered=False)
            else:  # an explanation: the sentence of the family closest to the question leads
                self._outline(ctx, draft, parent, children, numbered=False)
            return True
        for i, (child, items) in enumerate(groups):
            if not items and (first := self._first_sentence(ctx, child)):
                groups[i] = (child, [(first, child)])  # a subsection without items: its first sentence
        quota = [min(len(items), self.max_items) for _, items in groups]
        labels = TEXT[ctx.language]
        title = heading_title(snapshot.sections[parent].heading_path[-1])
        draft.lines += [labels["groups"].format(title=title, n=len(groups)), ""]
        for (child, items), n in zip(groups, quota):
            cut = labels["part_cut"].format(shown=n, total=len(items)) if len(items) > n else ""
            draft.lines.append(f"- **{heading_title(snapshot.sections[child].heading_path[-1])}**{cut}")
            draft.lines += [f"  - {text} [{draft.cite(cited, text)}]" for text, cited in items[:n]]
        draft.shape = "list"
        draft.items_shown = sum(quota)
        draft.items_total = sum(len(items) for _, items in groups)
        return True

    def _write_items(
        self,
        ctx: AnswerContext,
        draft: _Draft,
        section: int,
        items: list[tuple[str, int]],
        *,
        numbered: bool,
        titled: bool = True,
        details: dict[int, list[str]] | None = None,
    ) -> None:
        """``items`` (text, cited section) under the section's title, up to the limit; an item
        is followed by the ``details`` quoted from its cited section, indented."""
        labels = TEXT[ctx.language]
        if titled:
            title = heading_title(ctx.snapshot.sections[section].heading_path[-1])
            key = "steps" if numbered else "items"
            draft.lines += [labels[key].format(title=title, n=len(items)), ""]
        shown = items[: self.max_items]
        draft.shape = "steps" if numbered else "list"
        draft.items_shown, draft.items_total = len(shown), len(items)
        for i, (text, cited) in enumerate(shown, start=1):
            marker = f"{i}." if numbered else "-"
            draft.lines.append(f"{marker} {text} [{draft.cite(cited, text)}]")
            indent = " " * (len(marker) + 1)
            draft.lines += [f"{indent}- {d} [{draft.cite(cited, d)}]" for d in (details or {}).get(cited, [])]
        if len(items) > len(shown):
            draft.lines += ["", labels["more"].format(n=len(items) - len(shown))]

    def _table(self, ctx: AnswerContext, draft: _Draft, lead: int) -> bool:
        snapshot = ctx.snapshot
        structure = parse(snapshot.sections[lead].text)
        if not structure.tables:
            return False
        table = max(structure.tables, key=lambda t: len(t.rows))
        label_at = table.label_column()
        terms = set(_TERMS.tokenize(keyword_query(snapshot, ctx.question)))  # English words as guide terms

        def relevance(i: int) -> float:
            header = set(_TERMS.tokenize(table.header[i])) if i < len(table.header) else set()
            return len(terms & header)

        others = [i for i in range(len(table.header)) if i != label_at and not table.is_counter(i)]
        columns = sorted(sorted(others, key=lambda i: (-relevance(i), i))[:MAX_COLUMNS])
        rows = list(table.rows)
        if len(rows) > MAX_ROWS:
            scores = self._row_scores(ctx, lead, table)
            keep = sorted(sorted(range(len(rows)), key=lambda r: -scores.get(r, -1.0))[:MAX_ROWS])
            rows = [rows[r] for r in keep]
        number = draft.cite(lead, " / ".join(r[label_at] for r in rows if label_at < len(r)))

        def cell(text: str) -> str:
            return shorten(text, CELL_CHARS).replace("|", "／").replace("\n", " ")

        header = [table.header[label_at], *(table.header[i] for i in columns)]
        draft.lines.append(f"{heading_title(snapshot.sections[lead].heading_path[-1])} [{number}]")
        draft.lines.append("")
        draft.lines.append("| " + " | ".join(cell(h) for h in header) + " |")
        draft.lines.append("|" + " --- |" * len(header))
        for row in rows:
            values = [row[label_at] if label_at < len(row) else "", *(row[i] if i < len(row) else "" for i in columns)]
            draft.lines.append("| " + " | ".join(cell(v) for v in values) + " |")
        if len(table.rows) > len(rows):
            draft.lines += ["", TEXT[ctx.language]["more"].format(n=len(table.rows) - len(rows))]
        draft.shape = "table"
        draft.items_shown, draft.items_total = len(rows), len(table.rows)
        return True

    def _row_scores(self, ctx: AnswerContext, section: int, table: Table) -> dict[int, float]:
        snapshot = ctx.snapshot
        out: dict[int, float] = {}
        for unit, _, score in self._unit_scores(snapshot, [section], ctx.vector):
            row = self._row_of(snapshot, unit)
            if row is not None and row[0] is not None:
                try:
                    out[list(table.rows).index(row[1])] = max(out.get(list(table.rows).index(row[1]), -1.0), score)
                except ValueError:
                    continue
        return out

    def _related(self, ctx: AnswerContext, draft: _Draft, lead: int) -> None:
        """When the ranker found another section nearly as likely as the first, answer from it
        too: its items for a list question, else its closest sentences (up to
        :data:`RELATED_POINTS`), under its title (with its job's name when it is from another
        guide). Only the lead's shape is reported."""
        ranking, snapshot = ctx.ranking, ctx.snapshot
        if ranking is None or len(ranking.order) < 2:
            return
        scores = ranking.scores[ranking.order]
        p = np.exp(scores - scores.max())
        p /= p.sum()
        layout = snapshot.layout
        lead_family = {lead, int(layout.section_parent[lead])}
        for position in range(1, min(len(ranking.order), 4)):
            section = int(ranking.sections[position])
            if p[position] < RELATED_RATIO * p[0]:
                break
            if section in draft.numbers or section in lead_family or int(layout.section_parent[section]) == lead:
                continue
            kept = (draft.shape, draft.items_shown, draft.items_total)
            title = heading_title(snapshot.sections[section].heading_path[-1])
            guide = snapshot.sections[section].guide
            if guide != snapshot.sections[lead].guide:  # another job's section says which job
                title = f"{snapshot.guides[guide].label} › {title}"
            draft.lines += ["", TEXT[ctx.language]["related_part"].format(title=title), ""]
            items = self._items_of(ctx, section) if ctx.shape in ("list", "steps", "table") else []
            if len(items) >= MIN_LIST_ITEMS:  # the part's heading names the section: no title line
                self._write_items(ctx, draft, section, items, numbered=False, titled=False)
            else:  # always writes at least one line (the section's beginning when nothing is readable)
                self._explanation(ctx, draft, section, points=RELATED_POINTS)
            draft.shape, draft.items_shown, draft.items_total = kept
            return

    def _finish(self, ctx: AnswerContext, draft: _Draft) -> Answer:
        labels = TEXT[ctx.language]
        citations = draft.citations()
        lines = [*draft.lines, "", labels["sources"], ""]
        for c in citations:
            lines.append(f"[{c.number}] {c.path}（{labels['lines']} {c.line_start}–{c.line_end}）")
        return Answer(
            text="\n".join(lines).rstrip() + "\n",
            citations=citations,
            language=ctx.language,
            hits=ctx.hits,
            shape=draft.shape,
            items=(draft.items_shown, draft.items_total),
        )

    # -- abstaining ------------------------------------------------------------------------------
    def abstain(
        self,
        snapshot: IndexSnapshot,
        hits: list[Hit],
        language: str,
        *,
        empty: bool = False,
        judgement: Judgement | None = None,
    ) -> Answer:
        """A plain "not covered" answer naming what is missing and the nearest sections."""
        text = TEXT[language]
        if empty:
            return Answer(text=text["empty"], abstained=True, language=language)
        lines = [text["abstain"]]
        if judgement is not None and judgement.named:
            terms = text["joiner"].join(text["quote"].format(t.shown) for t in judgement.named[:3])
            lines.append(text["missing"].format(terms=terms))
        seen: list[str] = []
        for hit in hits:
            guide = snapshot.guides[hit.chunk.guide]
            path = display_path(guide.label, hit.chunk.heading_path)
            if path not in seen:
                seen.append(path)
            if len(seen) == 3:
                break
        if seen:
            lines += ["", text["nearest"], *[f"- {p}" for p in seen]]
        labels = [g.label for g in snapshot.guides.values()]
        if labels:
            shown = text["joiner"].join(labels[:_LISTED_GUIDES])
            extra = f" (+{len(labels) - _LISTED_GUIDES})" if len(labels) > _LISTED_GUIDES else ""
            lines += ["", f"{text['covered']}{shown}{extra}"]
        return Answer(text="\n".join(lines) + "\n", abstained=True, language=language, hits=hits)


def decide_shape(ctx_question: str, vector: np.ndarray | None, calibration: Any) -> str:
    """The shape the question asks for (the calibration's classifier, else rules)."""
    model = getattr(calibration, "shape", None) if calibration is not None else None
    return question_shape(ctx_question, vector, model)
