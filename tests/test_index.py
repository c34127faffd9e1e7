"""The index on disk: plain files, save→load→search round trip, incremental and checked rebuilds."""

from __future__ import annotations

import json

import numpy as np
import pytest

from rag import Assistant, IndexMissingError, IndexStaleError
from rag.index import layout
from rag.index.manifest import Manifest
from rag.index.snapshot import IndexSnapshot


def test_round_trip_save_load_search(write_guide, make_assistant, embedder):
    write_guide("baker")
    write_guide("florist", title="花屋（Florist）", duty="切り花の仕入れと店頭装飾", skill="色彩感覚",
                skill_detail="季節の花を組み合わせる感覚。", task="水替えと鮮度チェック")
    built = make_assistant()
    before = built.search("花の仕入れを担当するのは？", k=3)
    folder = layout.current_version(built.settings.index_dir)
    loaded = IndexSnapshot.load(folder)  # a fresh read of the files
    assert len(loaded.chunks) == len(built.snapshot.chunks)
    assert loaded.calibration is not None and loaded.calibration.id == built.snapshot.calibration.id
    from rag.conversation import RetrievalQuery

    vector = embedder.embed_queries(["花の仕入れを担当するのは？"])[0]
    query = RetrievalQuery("花の仕入れを担当するのは？", ("花の仕入れを担当するのは？",))
    after = built.retriever.rank(loaded, query, vector, calibration=loaded.calibration).hits(loaded, 3)
    assert [h.chunk for h in after] == [h.chunk for h in before]
    assert before[0].chunk.guide == "florist"


def test_index_files_are_plain_and_manifest_records_the_build(write_guide, make_assistant):
    write_guide("baker")
    assistant = make_assistant()
    folder = layout.current_version(assistant.settings.index_dir)
    names = {p.name for p in folder.rglob("*") if p.is_file()}
    assert {"manifest.json", "chunks.jsonl", "sections.jsonl", "units.jsonl", "guides.jsonl", "dense.faiss",
            "unit_vectors.npy", "section_vectors.npy", "guide_vectors.npy", "vocabulary.json",
            "calibration.json", "intent_weights.npy", "scope_weights.npy"} <= names
    assert not [n for n in names if n.endswith((".pkl", ".pickle", ".pt"))]
    for npy in folder.rglob("*.npy"):
        np.load(npy, allow_pickle=False)  # no pickled objects inside
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["model"] == assistant.embedder.name and manifest["dimension"] == 384
    assert manifest["guides"][0]["slug"] == "baker" and len(manifest["guides"][0]["content_hash"]) == 64
    assert {"sentence-transformers", "faiss-cpu", "bm25s", "torch"} <= set(manifest["versions"])
    assert manifest["build_config"]["max_chunk_tokens"] == assistant.settings.max_chunk_tokens
    assert manifest["build_seconds"] > 0 and manifest["created_at"]
    chunk = json.loads((folder / "chunks.jsonl").read_text(encoding="utf-8").splitlines()[0])
    assert {"guide", "heading_path", "line_start", "line_end", "text"} <= set(chunk)


def test_rebuild_reembeds_only_changed_guides(write_guide, make_assistant):
    write_guide("baker")
    florist = write_guide("florist", title="花屋（Florist）", duty="切り花の仕入れ")
    assistant = make_assistant()
    florist.write_text(florist.read_text(encoding="utf-8").replace("切り花の仕入れ", "鉢植えの手入れ"), encoding="utf-8")
    write_guide("chef", title="料理人（Chef）", duty="仕込みと盛り付け")
    report = assistant.refresh()
    assert report is not None
    assert sorted(report.embedded) == ["chef", "florist"] and report.reused == ["baker"]
    assert assistant.refresh() is None  # fresh now: nothing to do
    hits = assistant.search("鉢植えの手入れ", k=1)
    assert hits[0].chunk.guide == "florist"
    versions = [p for p in assistant.settings.index_dir.iterdir() if p.name.startswith("v-")]
    assert len(versions) <= layout.KEEP_VERSIONS


def test_stale_or_missing_index_raises_typed_error_without_auto_build(write_guide, make_assistant, tmp_path, settings):
    guide = write_guide("baker")
    with pytest.raises(IndexMissingError, match="rag build"):
        Assistant.from_dir(tmp_path / "seeds", tmp_path / "nothing", settings=settings, auto_build=False)
    make_assistant()
    guide.write_text(guide.read_text(encoding="utf-8") + "\n追記です。\n", encoding="utf-8")
    with pytest.raises(IndexStaleError, match="changed guides: baker") as exc:
        Assistant.from_dir(tmp_path / "seeds", tmp_path / "index", settings=settings, auto_build=False)
    assert "rag build" in str(exc.value)


def test_manifest_naming_another_model_is_stale(write_guide, make_assistant, tmp_path, settings):
    write_guide("baker")
    assistant = make_assistant()
    folder = layout.current_version(assistant.settings.index_dir)
    manifest = Manifest.read(folder)
    data = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    data["model"] = "someone/other-model"
    (folder / "manifest.json").write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(IndexStaleError, match="other-model"):
        Assistant.from_dir(tmp_path / "seeds", tmp_path / "index", settings=settings, auto_build=False)
    rebuilt = Assistant.from_dir(tmp_path / "seeds", tmp_path / "index", settings=settings)  # auto rebuild
    assert rebuilt.snapshot.manifest.model == manifest.model
