"""Chunks follow the headings, keep exact heading texts and line ranges, and fit the model."""

from __future__ import annotations

from rag.chunking import Chunker
from rag.guides import read_guide
from rag.index.builder import context_line, embedding_text
from tests.conftest import SEEDS


def _chunker(embedder, max_tokens=320):
    return Chunker(
        embedder.count_tokens,
        max_tokens=max_tokens,
        token_limit=embedder.max_seq_length,
        context=lambda guide, path: context_line(guide.title, path),
    )


def test_seed_sections_have_exact_headings_and_line_ranges(embedder):
    guide = read_guide(SEEDS / "ciso.md")
    cut = _chunker(embedder).split(guide)
    lines = (SEEDS / "ciso.md").read_text(encoding="utf-8").split("\n")
    headings = {line.lstrip("#").strip() for line in lines if line.startswith("##")}
    assert cut.sections and cut.chunks and cut.units
    for section in cut.sections:
        assert all(h in headings for h in section.heading_path), section.heading_path
        file_text = "\n".join(lines[section.line_start - 1 : section.line_end])
        assert file_text == section.text  # the line range points exactly at the section text
    paths = {c.heading_path for c in cut.chunks}
    assert ("2️⃣ 主な業務：CISOが担う7つの核心的責任", "3. インシデント対応と危機管理（クライシスマネジメント）") in paths
    assert all(p[0].startswith(("1️⃣", "2️⃣", "3️⃣", "4️⃣", "5️⃣", "6️⃣", "7️⃣", "8️⃣", "9️⃣", "🔟", "🏷️")) for p in paths)


def test_table_rows_become_records_with_the_header(embedder):
    guide = read_guide(SEEDS / "ciso.md")
    cut = _chunker(embedder).split(guide)
    rows = [c for c in cut.chunks if c.kind == "table_row"]
    tools = [c for c in rows if c.heading_path[-1] == "💻 ツール・サービス"]
    assert len(tools) == 7
    edr = next(c for c in tools if "EDR/XDR" in c.text)
    assert edr.text.startswith("ツールカテゴリ: EDR/XDR / 具体的なツール名と用途: CrowdStrike Falcon")
    lines = (SEEDS / "ciso.md").read_text(encoding="utf-8").split("\n")
    assert edr.line_start == edr.line_end and "CrowdStrike Falcon" in lines[edr.line_start - 1]
    interview = [c for c in rows if c.heading_path[0].startswith("9️⃣")]
    assert len(interview) == 15 and all(c.text.startswith("No.: ") for c in interview)


def test_long_sections_are_split_to_fit_the_token_limit(embedder, write_guide):
    sentences = "".join(f"これは長い説明の第{i}文で、セキュリティ運用の細かな手順を述べています。" for i in range(200))
    path = write_guide("long", text=f"# 長いガイド\n\n## 長い節\n\n{sentences}\n\n## 短い節\n\n短い本文です。\n")
    guide = read_guide(path)
    cut = _chunker(embedder, max_tokens=120).split(guide)
    long_chunks = [c for c in cut.chunks if c.heading_path == ("長い節",)]
    assert len(long_chunks) > 5
    for chunk in cut.chunks:
        assert embedder.count_tokens(embedding_text(guide.title, chunk)) <= embedder.max_seq_length
    joined = "".join(c.text for c in long_chunks)
    assert "第0文" in joined and "第199文" in joined  # nothing was dropped
    assert long_chunks[0].line_start == long_chunks[-1].line_start == 5  # one long line


def test_headings_inside_code_fences_do_not_split(embedder, write_guide):
    path = write_guide("code", text="# T\n\n## 節A\n\n```\n## これは見出しではない\n```\n\n本文A。\n\n## 節B\n\n本文B。\n")
    cut = _chunker(embedder).split(read_guide(path))
    assert [s.heading_path for s in cut.sections] == [("節A",), ("節B",)]


def test_hashtag_lines_are_searchable_but_never_quoted(embedder):
    guide = read_guide(SEEDS / "ciso.md")
    cut = _chunker(embedder).split(guide)
    tags = [c for c in cut.chunks if c.heading_path[0] == "🏷️ #推奨タグ"]
    assert tags and "#CISO" in tags[0].text  # still a chunk, found by keyword search
    tag_ids = {c.id for c in tags}
    assert not [u for u in cut.units if u.chunk in tag_ids]  # but no answer unit quotes it
    assert not [u for u in cut.units if u.text.startswith("#")]


def test_split_units_drops_tag_lines_but_keeps_sentences_with_a_hash():
    from rag.chunking import split_units

    units = split_units("`#CISO #キャリアパス`\n#1位の課題は、人材不足です。", 10)
    assert len(units) == 1 and units[0][1] == 11 and "人材不足です。" in units[0][0]
