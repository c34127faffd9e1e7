"""What the collection holds and where a reader can go next: guide summaries with their tables
of contents, related jobs, and next questions drawn from the sections around an answer."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .answers.structure import parse
from .documents import heading_title, strip_item_number
from .index.snapshot import IndexSnapshot
from .results import Answer, RelatedJob, Suggestion

@dataclass(frozen=True)
class TocEntry:
    """One section of a guide's table of contents."""

    heading_path: tuple[str, ...]
    level: int  # 0 for a top-level (H2) section, 1 for a subsection
    line_start: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"heading_path": list(self.heading_path), "level": self.level, "line_start": self.line_start}


@dataclass(frozen=True)
class GuideInfo:
    """An indexed guide as the library shows it."""

    slug: str
    title: str
    label: str
    description: str
    tags: list[str]
    keywords: list[str]
    related_jobs: list[RelatedJob]
    sections: int
    indexed_at: str
    path: str
    toc: list[TocEntry] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "slug": self.slug,
            "title": self.title,
            "label": self.label,
            "description": self.description,
            "tags": self.tags,
            "keywords": self.keywords,
            "related_jobs": [r.to_dict() for r in self.related_jobs],
            "sections": self.sections,
            "indexed_at": self.indexed_at,
            "path": self.path,
            "toc": [t.to_dict() for t in self.toc],
        }


def _strings(value: Any) -> list[str]:
    return [str(v) for v in value if isinstance(v, (str, int, float))] if isinstance(value, list) else []


def related_jobs(snapshot: IndexSnapshot, slug: str) -> list[RelatedJob]:
    """The ``related_jobs`` of a guide, each marked indexed (a link) or not (plain text)."""
    guide = snapshot.guides.get(slug)
    if guide is None:
        return []
    out = []
    for other in _strings(guide.metadata.get("related_jobs")):
        target = snapshot.guides.get(other)
        out.append(RelatedJob(other, target.title if target else other.replace("_", " "), target is not None))
    return out


def guide_infos(snapshot: IndexSnapshot) -> list[GuideInfo]:
    """Every indexed guide, in index order, with its table of contents."""
    infos = []
    for entry in snapshot.manifest.guides:
        guide = snapshot.guides[entry.slug]
        meta = guide.metadata
        s0, s1 = entry.sections
        toc = [
            TocEntry(s.heading_path, len(s.heading_path) - 1, s.line_start)
            for s in snapshot.sections[s0:s1]
            if s.heading_path
        ]
        description = meta.get("meta_description") or meta.get("description") or ""
        infos.append(
            GuideInfo(
                slug=guide.slug,
                title=guide.title,
                label=guide.label,
                description=str(description),
                tags=_strings(meta.get("tags")),
                keywords=_strings(meta.get("keywords")),
                related_jobs=related_jobs(snapshot, guide.slug),
                sections=s1 - s0,
                indexed_at=snapshot.manifest.created_at,
                path=guide.path,
                toc=toc,
            )
        )
    return infos


def section_title(heading: str) -> str:
    """A heading as a short topic: no template emoji, no item number, no subtitle after a colon
    (「2️⃣ 主な業務：CISOが担う7つの核心的責任」 → 「主な業務」)."""
    title = strip_item_number(heading_title(heading))
    for mark in ("：", ": "):
        head = title.split(mark, 1)[0].strip()
        if mark in title and len(head) >= 2:
            title = head
    if "？ " in title:
        title = title.split("？ ", 1)[0] + "？"
    return title


def question_about(snapshot: IndexSnapshot, section: int, language: str) -> str:
    """A question that asks about one section, naming its guide."""
    s = snapshot.sections[section]
    label = snapshot.guides[s.guide].label
    title = section_title(s.heading_path[-1]) if s.heading_path else label
    named = label in title  # 「CISOの将来展望」 already names its guide
    if language == "en":
        return f'Tell me about "{title}"' + ("" if named else f" ({label})")
    return f"「{title}」について教えて" if named else f"{label}の「{title}」について教えて"


def suggestions(snapshot: IndexSnapshot, answer: Answer, language: str, limit: int = 4) -> list[Suggestion]:
    """2–4 next questions: the cited sections' subsections and siblings, and what follows them in
    the guide. Each points at a section of the index, so the guides answer it."""
    if answer.abstained or not answer.citations:
        return []
    layout = snapshot.layout
    index = {(s.guide, s.heading_path): i for i, s in enumerate(snapshot.sections)}
    cited = [index[(c.guide, c.heading_path)] for c in answer.citations if (c.guide, c.heading_path) in index]
    if not cited:
        return []
    taken = set(cited)
    picks: list[int] = []

    def take(section: int) -> None:
        s = snapshot.sections[section]
        if section not in taken and len(picks) < limit and s.heading_path and parse(s.text).blocks:
            taken.add(section)
            picks.append(section)

    lead = cited[0]
    guide = snapshot.sections[lead].guide
    entry = next(e for e in snapshot.manifest.guides if e.slug == guide)
    s0, s1 = entry.sections
    family = [s for s in range(s0, s1) if layout.section_parent[s] == layout.section_parent[lead] and s != layout.section_parent[lead]]
    children = [s for s in range(s0, s1) if layout.section_parent[s] == lead and s != lead]
    for s in children[:2]:
        take(s)
    if lead in family:  # the next and the previous sibling
        at = family.index(lead)
        for s in family[at + 1 : at + 2] + family[max(0, at - 1) : at]:
            take(s)
    top = int(layout.section_parent[lead])
    tops = [s for s in range(s0, s1) if layout.section_depth[s] == 0]
    if top in tops:  # the next top-level section, in the guide's order, then the one before
        at = tops.index(top)
        for s in tops[at + 1 : at + 2] + tops[max(0, at - 1) : at]:
            take(s)
    for s in family:
        take(s)
    if top in tops:
        for s in tops[tops.index(top) + 2 :]:
            take(s)
    return [Suggestion(question_about(snapshot, s, language), snapshot.sections[s].guide, snapshot.sections[s].heading_path) for s in picks]
