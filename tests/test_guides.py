"""Reading guides: front-matter formats, metadata, malformed files skipped with a reason."""

from __future__ import annotations

import pytest

from rag import GuideError, NoGuidesError
from rag.guides import load_guides, read_guide
from tests.conftest import SEEDS


def test_seed_guide_json_front_matter_is_parsed():
    guide = read_guide(SEEDS / "ciso.md")
    assert guide.slug == "ciso"
    assert guide.title == "最高情報セキュリティ責任者（CISO）"
    assert guide.label == "CISO"
    assert guide.metadata["category"] == "cyber-security"
    assert "security_engineer" in guide.metadata["related_jobs"]
    assert not guide.body.lstrip().startswith("{")  # the JSON did not stay in the body
    lines = (SEEDS / "ciso.md").read_text(encoding="utf-8").split("\n")
    body_lines = guide.body.split("\n")
    h1 = next(i for i, line in enumerate(body_lines) if line.startswith("# "))
    assert lines[guide.body_start_line - 1 + h1] == body_lines[h1]  # body line i is file line start+i
    assert body_lines[h1].startswith("# [完全ガイド]")


def test_yaml_and_toml_front_matter(tmp_path):
    (tmp_path / "a.md").write_text("---\nslug: nurse\ntitle: 看護師\ntags: [医療]\n---\n# 看護師\n\n本文です。\n", encoding="utf-8")
    (tmp_path / "b.md").write_text('+++\nslug = "chef"\ntitle = "料理人"\n+++\n# 料理人\n\n本文です。\n', encoding="utf-8")
    (tmp_path / "c.md").write_text("# 見出しだけの題名\n\n前付けのないガイド。\n", encoding="utf-8")
    guides, skipped = load_guides(tmp_path)
    assert skipped == []
    by_slug = {g.slug: g for g in guides}
    assert by_slug["nurse"].metadata["tags"] == ["医療"]
    assert by_slug["chef"].title == "料理人"
    assert by_slug["c"].title == "見出しだけの題名"  # slug from the file stem, title from the H1


MALFORMED = {
    "bad_json.md": ("---json\n{\"slug\": \"x\",}\n---\n# T\n\nbody\n", "not valid"),
    "unclosed.md": ("---json\n{\"slug\": \"y\"}\n# T\n\nbody\n", "never closed"),
    "nan.md": ("---json\n{\"slug\": \"z\", \"n\": NaN}\n---\n# T\n\nbody\n", "NaN"),
    "list.md": ("---json\n[1, 2]\n---\n# T\n\nbody\n", "not a list"),
    "empty_body.md": ("---json\n{\"slug\": \"e\"}\n---\n\n   \n", "no body"),
    "bom.md": ("\ufeff---json\n{\"slug\": \"b\"}\n---\n# T\n\nbody\n", "byte-order mark"),
    "crlf.md": ("---json\r\n{\"slug\": \"c\"}\r\n---\r\n# T\r\n\r\nbody\r\n", "CRLF"),
    "deep.md": ("---json\n" + "[" * 5000 + "]" * 5000 + "\n---\n# T\n\nbody\n", "nested"),
}


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_guide_is_skipped_with_reason_and_others_indexed(tmp_path, name):
    text, reason = MALFORMED[name]
    (tmp_path / name).write_text(text, encoding="utf-8", newline="")
    (tmp_path / "good.md").write_text("# 良いガイド\n\n本文。\n", encoding="utf-8")
    guides, skipped = load_guides(tmp_path)
    assert [g.slug for g in guides] == ["good"]
    assert len(skipped) == 1 and skipped[0].path.name == name
    assert reason.lower() in skipped[0].reason.lower() or (name == "list.md" and "list" in skipped[0].reason)
    with pytest.raises(GuideError) as exc:
        load_guides(tmp_path, strict=True)
    assert name in str(exc.value)


def test_binary_and_oversized_files_are_skipped(tmp_path):
    (tmp_path / "bin.md").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00binary")
    (tmp_path / "huge.md").write_text("# 大きい\n\n" + "あ" * 2_000_000, encoding="utf-8")
    (tmp_path / "good.md").write_text("# 良い\n\n本文。\n", encoding="utf-8")
    guides, skipped = load_guides(tmp_path)
    assert [g.slug for g in guides] == ["good"]
    reasons = {s.path.name: s.reason for s in skipped}
    assert "binary" in reasons["bin.md"]
    assert "MB" in reasons["huge.md"] and "limit" in reasons["huge.md"]


def test_duplicate_slug_is_skipped(tmp_path):
    (tmp_path / "a.md").write_text("---json\n{\"slug\": \"same\"}\n---\n# A\n\nbody\n", encoding="utf-8")
    (tmp_path / "b.md").write_text("---json\n{\"slug\": \"same\"}\n---\n# B\n\nbody\n", encoding="utf-8")
    guides, skipped = load_guides(tmp_path)
    assert len(guides) == 1 and len(skipped) == 1 and "already used" in skipped[0].reason


def test_no_usable_guide_is_a_typed_error(tmp_path):
    with pytest.raises(NoGuidesError, match="does not exist"):
        load_guides(tmp_path / "missing")
    (tmp_path / "only.md").write_text("---json\n{bad\n---\n# T\n\nbody\n", encoding="utf-8")
    with pytest.raises(NoGuidesError, match="no usable guide"):
        load_guides(tmp_path)
