"""Faults: a build killed mid-way, damaged index files, rebuilds under load, parallel questions.

Every damaged index must give a typed :class:`rag.IndexProblem` naming the command to run
(``auto_build=False``) or be rebuilt (``auto_build=True``): never a crash, never ``-1`` ids.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from conftest import REPO, SEEDS, TINY_GUIDE, copy_seeds

QUESTIONS = ["パン職人の仕事内容は？", "花屋に必要なスキルは？", "発酵温度の記録とは", "What does a florist do?"]


def tiny_text(slug: str, title: str, duty: str, skill: str) -> str:
    return TINY_GUIDE.format(
        slug=slug, title=title, duty=duty, task="記録の確認", skill=skill, skill_detail=f"{skill}を実践する力。"
    )


def write_tiny_seeds(seeds: Path) -> Path:
    seeds.mkdir(parents=True, exist_ok=True)
    (seeds / "baker.md").write_text(tiny_text("baker", "パン職人（Baker）", "パン生地の仕込みと焼成", "発酵管理"), encoding="utf-8")
    (seeds / "florist.md").write_text(tiny_text("florist", "花屋（Florist）", "生花の仕入れとアレンジメント", "色彩設計"), encoding="utf-8")
    return seeds


@pytest.fixture(scope="module")
def base(tmp_path_factory, settings, embedder):
    """A built index over two tiny guides; tests copy it before damaging it."""
    from rag import Assistant

    root = tmp_path_factory.mktemp("faults")
    seeds = write_tiny_seeds(root / "seeds")
    assistant = Assistant(settings.replace(seeds_dir=seeds, index_dir=root / "index"), embedder=embedder)
    assistant.refresh()
    return assistant


def answers(assistant, questions=QUESTIONS) -> list[tuple[str, list[dict]]]:
    out = []
    for q in questions:
        a = assistant.ask(q)
        out.append((a.text, [c.to_dict() for c in a.citations]))
    return out


def open_copy(base, tmp_path, settings, embedder, *, auto_build: bool):
    from rag import Assistant

    assistant = Assistant(settings.replace(seeds_dir=base.settings.seeds_dir, index_dir=tmp_path / "index"), embedder=embedder)
    assistant.refresh(auto_build=auto_build)
    return assistant


def version_of(index_dir: Path) -> Path:
    from rag.index import layout

    version = layout.current_version(index_dir)
    assert version is not None
    return version


def rewrite_sizes(version: Path) -> None:
    """Make the manifest's file sizes agree again, so only the deeper cross-checks can notice."""
    from rag.index.snapshot import file_sizes

    manifest = json.loads((version / "manifest.json").read_text(encoding="utf-8"))
    manifest["files"] = file_sizes(version)
    (version / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False), encoding="utf-8")


def edit_manifest(version: Path, **changes) -> None:
    manifest = json.loads((version / "manifest.json").read_text(encoding="utf-8"))
    manifest.update(changes)
    (version / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False), encoding="utf-8")


# -- damage ---------------------------------------------------------------------------------------
def truncate(name):
    def damage(version: Path) -> None:
        path = version / name
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])

    return damage


def empty(name):
    def damage(version: Path) -> None:
        (version / name).write_bytes(b"")

    return damage


def garbage_same_size(name):
    def damage(version: Path) -> None:
        path = version / name
        size = path.stat().st_size
        rng = np.random.default_rng(0)
        path.write_bytes(rng.integers(0, 256, size, dtype=np.uint8).tobytes())

    return damage


def drop_last_chunk(version: Path) -> None:
    lines = (version / "chunks.jsonl").read_text(encoding="utf-8").splitlines(keepends=True)
    (version / "chunks.jsonl").write_text("".join(lines[:-1]), encoding="utf-8")
    rewrite_sizes(version)


def fewer_faiss_vectors(version: Path) -> None:
    import faiss

    index = faiss.read_index(str(version / "dense.faiss"))
    vectors = index.reconstruct_n(0, index.ntotal)
    smaller = faiss.IndexFlatIP(index.d)
    smaller.add(vectors[:-1])
    faiss.write_index(smaller, str(version / "dense.faiss"))
    rewrite_sizes(version)


def other_model(version: Path) -> None:
    edit_manifest(version, model="intfloat/multilingual-e5-large")


def other_dimension(version: Path) -> None:
    edit_manifest(version, dimension=768)


def other_fingerprint(version: Path) -> None:
    edit_manifest(version, model_fingerprint="0" * 16)


def manifest_not_object(version: Path) -> None:
    (version / "manifest.json").write_text("[1, 2, 3]", encoding="utf-8")


def manifest_missing_key(version: Path) -> None:
    manifest = json.loads((version / "manifest.json").read_text(encoding="utf-8"))
    del manifest["guides"]
    (version / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")


def manifest_deleted(version: Path) -> None:
    (version / "manifest.json").unlink()


def keyword_garbage(version: Path) -> None:
    for path in sorted((version / "keyword").iterdir()):
        garbage_same_size(f"keyword/{path.name}")(version)


def unit_vectors_wrong_shape(version: Path) -> None:
    arr = np.load(version / "unit_vectors.npy")
    np.save(version / "unit_vectors.npy", arr[:-1])
    rewrite_sizes(version)


def chunk_bad_section(version: Path) -> None:
    lines = (version / "chunks.jsonl").read_text(encoding="utf-8").splitlines()
    record = json.loads(lines[0])
    record["section"] = 10_000
    lines[0] = json.dumps(record, ensure_ascii=False)
    (version / "chunks.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    rewrite_sizes(version)


def current_names_missing(version: Path) -> None:
    (version.parent / "CURRENT").write_text("v-does-not-exist\n", encoding="utf-8")


def current_binary(version: Path) -> None:
    (version.parent / "CURRENT").write_bytes(b"\xff\xfe\x00\x01garbage")


def current_outside(version: Path) -> None:
    (version.parent / "CURRENT").write_text("../../../etc\n", encoding="utf-8")


def current_empty(version: Path) -> None:
    (version.parent / "CURRENT").write_text("", encoding="utf-8")


def current_deleted(version: Path) -> None:
    (version.parent / "CURRENT").unlink()


def version_deleted(version: Path) -> None:
    shutil.rmtree(version)


DAMAGE = {
    "truncated faiss": (truncate("dense.faiss"), "IndexCorruptError"),
    "emptied faiss": (empty("dense.faiss"), "IndexCorruptError"),
    "garbage faiss": (garbage_same_size("dense.faiss"), "IndexCorruptError"),
    "truncated chunks": (truncate("chunks.jsonl"), "IndexCorruptError"),
    "garbage chunks": (garbage_same_size("chunks.jsonl"), "IndexCorruptError"),
    "garbage units": (garbage_same_size("units.jsonl"), "IndexCorruptError"),
    "garbage sections": (garbage_same_size("sections.jsonl"), "IndexCorruptError"),
    "garbage guides": (garbage_same_size("guides.jsonl"), "IndexCorruptError"),
    "truncated unit vectors": (truncate("unit_vectors.npy"), "IndexCorruptError"),
    "garbage unit vectors": (garbage_same_size("unit_vectors.npy"), "IndexCorruptError"),
    "unit vectors wrong shape": (unit_vectors_wrong_shape, "IndexCorruptError"),
    "garbage keyword index": (keyword_garbage, "IndexCorruptError"),
    "truncated manifest": (truncate("manifest.json"), "IndexCorruptError"),
    "emptied manifest": (empty("manifest.json"), "IndexCorruptError"),
    "garbage manifest": (garbage_same_size("manifest.json"), "IndexCorruptError"),
    "manifest not an object": (manifest_not_object, "IndexCorruptError"),
    "manifest missing a key": (manifest_missing_key, "IndexCorruptError"),
    "manifest deleted": (manifest_deleted, "IndexCorruptError"),
    "manifest names another model": (other_model, "IndexStaleError"),
    "manifest names another fingerprint": (other_fingerprint, "IndexStaleError"),
    "manifest names another dimension": (other_dimension, "IndexCorruptError"),
    "chunk count disagrees with faiss": (drop_last_chunk, "IndexCorruptError"),
    "faiss holds fewer vectors": (fewer_faiss_vectors, "IndexCorruptError"),
    "chunk points to a missing section": (chunk_bad_section, "IndexCorruptError"),
    "CURRENT names a missing version": (current_names_missing, "IndexCorruptError"),
    "CURRENT is binary": (current_binary, "IndexCorruptError"),
    "CURRENT points outside": (current_outside, "IndexCorruptError"),
    "CURRENT empty": (current_empty, "IndexMissingError"),
    "CURRENT deleted": (current_deleted, "IndexMissingError"),
    "version folder deleted": (version_deleted, "IndexCorruptError"),
}


@pytest.mark.parametrize("case", list(DAMAGE))
def test_damaged_index_gives_a_typed_error_then_rebuilds(case, base, tmp_path, settings, embedder):
    import rag

    damage, expected = DAMAGE[case]
    shutil.copytree(base.settings.index_dir, tmp_path / "index")
    damage(version_of(tmp_path / "index"))

    started = time.perf_counter()
    with pytest.raises(rag.IndexProblem) as info:
        open_copy(base, tmp_path, settings, embedder, auto_build=False)
    print(f"[timing] detect {case}: {(time.perf_counter() - started) * 1000:.0f} ms -> {info.value}")
    assert type(info.value).__name__ == expected, str(info.value)
    assert "rag build" in str(info.value)

    started = time.perf_counter()
    repaired = open_copy(base, tmp_path, settings, embedder, auto_build=True)
    print(f"[timing] rebuild after {case}: {time.perf_counter() - started:.1f} s")
    assert answers(repaired) == answers(base)
    # and the repaired index now opens without a build
    again = open_copy(base, tmp_path, settings, embedder, auto_build=False)
    assert again.snapshot.path == repaired.snapshot.path


def test_from_dir_without_auto_build_names_the_command(tmp_path, base):
    import rag

    with pytest.raises(rag.IndexMissingError, match="rag build"):
        rag.Assistant.from_dir(base.settings.seeds_dir, tmp_path / "none", auto_build=False)
    shutil.copytree(base.settings.index_dir, tmp_path / "index")
    seeds = write_tiny_seeds(tmp_path / "seeds")
    (seeds / "chef.md").write_text(tiny_text("chef", "料理長（Chef）", "献立の設計", "衛生管理"), encoding="utf-8")
    with pytest.raises(rag.IndexStaleError, match="new guides: chef") as info:
        rag.Assistant.from_dir(seeds, tmp_path / "index", auto_build=False)
    assert "rag build --seeds-dir" in str(info.value)


@pytest.mark.parametrize("exact_max", [20_000, 0], ids=["flat", "hnsw"])
def test_no_padding_ids_reach_the_user(tmp_path, settings, embedder, exact_max):
    from rag import Assistant

    seeds = write_tiny_seeds(tmp_path / "seeds")
    assistant = Assistant(settings.replace(seeds_dir=seeds, index_dir=tmp_path / "index", exact_search_max_chunks=exact_max), embedder=embedder)
    assistant.refresh()
    snapshot = assistant.snapshot
    assert snapshot.manifest.dense_kind == ("flat" if exact_max else "hnsw")
    n = len(snapshot.chunks)
    for guide in (None, "baker", "florist"):
        hits = assistant.search("パン職人の仕事内容は？", k=n + 50, guide=guide)
        assert hits
        assert all(0 <= h.chunk.id < n for h in hits)
        assert len({h.chunk.id for h in hits}) == len(hits)
        if guide:
            assert {h.chunk.guide for h in hits} == {guide}
        id_range = snapshot.guide_ranges[guide] if guide else None
        scores, ids = snapshot.dense.search(assistant.embedder.embed_queries(["花"])[0], n + 50, id_range)
        assert (ids >= 0).all() and len(ids) == len(scores)
        answer = assistant.ask("花屋の仕事内容は？", guide=guide)
        assert all(c.guide in snapshot.guides for c in answer.citations)


def test_filtered_hnsw_search_is_exact_within_the_range():
    from rag.index.dense import DenseIndex

    rng = np.random.default_rng(1)
    vectors = rng.normal(size=(4000, 32)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    flat = DenseIndex.build(vectors, exact_max=10_000)
    hnsw = DenseIndex.build(vectors, exact_max=0)
    assert (flat.kind, hnsw.kind) == ("flat", "hnsw")
    for start, end in [(1000, 1040), (0, 5), (3990, 4000), (7, 7), (3999, 5000)]:
        for q in vectors[[0, 1020, 3995]]:
            fs, fi = flat.search(q, 10, (start, end))
            hs, hi = hnsw.search(q, 10, (start, end))
            assert list(hi) == list(fi)
            assert np.allclose(hs, fs, atol=1e-5)
            assert ((hi >= start) & (hi < end)).all()


# -- kill -9 during a build -------------------------------------------------------------------------
@pytest.mark.slow
def test_kill_9_during_build_leaves_the_previous_index_usable(tmp_path, base, settings, embedder):
    from rag import Assistant
    from rag.index import layout

    index = tmp_path / "index"
    shutil.copytree(base.settings.index_dir, index)
    seeds = write_tiny_seeds(tmp_path / "seeds")
    before_version = version_of(index)
    # a collection big enough to still be embedding a few seconds after start
    copy_seeds(seeds)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "rag", "build", "--seeds-dir", str(seeds), "--index-dir", str(index)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        cwd=REPO,
    )
    # wait until the progress bar of the embedding shows, then a little longer
    stderr = b""
    deadline = time.monotonic() + 120
    os.set_blocking(proc.stderr.fileno(), False)
    while time.monotonic() < deadline and proc.poll() is None:
        chunk = proc.stderr.read() or b""
        stderr += chunk
        if b"Batches" in stderr:
            break
        time.sleep(0.1)
    assert proc.poll() is None, f"the build ended before it could be killed: {stderr.decode(errors='replace')[-2000:]}"
    assert b"Batches" in stderr, "the build never started embedding"
    time.sleep(1.5)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL

    assert version_of(index) == before_version
    # the previous index still loads and answers: with the guides it was built from...
    for extra in seeds.glob("*.md"):
        if extra.name not in ("baker.md", "florist.md"):
            extra.unlink()
    old = Assistant(settings.replace(seeds_dir=seeds, index_dir=index), embedder=embedder)
    old.refresh(auto_build=False)
    assert answers(old) == answers(base)
    # ... and the next build goes through (no stale lock) and tidies up.
    copy_seeds(seeds)
    new = Assistant(settings.replace(seeds_dir=seeds, index_dir=index), embedder=embedder)
    report = new.refresh()
    assert report is not None and sorted(report.embedded) == ["ciso"]
    assert sorted(report.reused) == ["baker", "florist"]
    assert not list(index.glob(f"{layout.BUILD_PREFIX}*"))
    assert new.ask("CISOとは何ですか？").citations


def test_leftovers_of_a_crashed_publish_are_ignored_and_cleaned(base, tmp_path, settings, embedder):
    from rag.index import layout

    index = tmp_path / "index"
    shutil.copytree(base.settings.index_dir, index)
    version = version_of(index)
    # a half-written build folder, a renamed version without manifest, a temporary pointer
    (index / f"{layout.BUILD_PREFIX}deadbeef0000").mkdir()
    (index / f"{layout.BUILD_PREFIX}deadbeef0000" / "chunks.jsonl").write_text("{", encoding="utf-8")
    (index / "v-20000101T000000-deadbeef0001").mkdir()
    (index / f"{layout.CURRENT}.tmp-12345678").write_text("v-20000101T000000-deadbeef0001\n", encoding="utf-8")
    opened = open_copy(base, tmp_path, settings, embedder, auto_build=False)
    assert opened.snapshot.path == version
    assert answers(opened) == answers(base)
    opened.refresh(rebuild=True)
    assert not list(index.glob(f"{layout.BUILD_PREFIX}*"))
    assert not list(index.glob(f"{layout.CURRENT}.tmp-*"))


# -- concurrency -----------------------------------------------------------------------------------
@pytest.mark.slow
def test_rebuild_while_answering_gives_old_or_new_answers(tmp_path, settings, embedder):
    from rag import Assistant

    seeds = write_tiny_seeds(tmp_path / "seeds")
    assistant = Assistant(settings.replace(seeds_dir=seeds, index_dir=tmp_path / "index"), embedder=embedder)
    assistant.refresh()
    questions = [*QUESTIONS, "料理長の衛生管理とは？"]
    old = answers(assistant, questions)
    old_path = assistant.snapshot.path

    (seeds / "chef.md").write_text(tiny_text("chef", "料理長（Chef）", "献立の設計と厨房の指揮", "衛生管理"), encoding="utf-8")
    results: list[tuple[int, tuple[str, list[dict]]]] = []
    errors: list[BaseException] = []
    stop = threading.Event()

    def ask_loop(offset: int) -> None:
        i = offset
        while not stop.is_set():
            q = i % len(questions)
            try:
                a = assistant.ask(questions[q])
                results.append((q, (a.text, [c.to_dict() for c in a.citations])))
            except BaseException as exc:  # noqa: BLE001 - any error fails the test
                errors.append(exc)
            i += 1

    threads = [threading.Thread(target=ask_loop, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    time.sleep(0.5)
    report = assistant.refresh(rebuild=True)
    time.sleep(0.5)
    stop.set()
    for t in threads:
        t.join(timeout=60)
    assert report is not None and assistant.snapshot.path != old_path
    new = answers(assistant, questions)
    assert not errors, errors[:3]
    assert old != new, "the rebuild should change at least one answer"
    seen_old = seen_new = 0
    for q, got in results:
        assert got in (old[q], new[q]), f"answer to {questions[q]!r} matches neither index"
        seen_old += got == old[q]
        seen_new += got == new[q]
    print(f"[info] {len(results)} answers during the rebuild: {seen_old} old-index, {seen_new} new-index")
    assert seen_old and seen_new


@pytest.mark.slow
def test_32_parallel_questions_match_sequential_answers(seed_assistant):
    lines = (REPO / "eval" / "questions.jsonl").read_text(encoding="utf-8").splitlines()
    questions = [json.loads(line)["question"] for line in lines if line.strip()][:32]
    assert len(questions) == 32
    sequential = answers(seed_assistant, questions)
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=32) as pool:
        parallel = list(pool.map(lambda q: answers(seed_assistant, [q])[0], questions))
    print(f"[timing] 32 parallel questions: {time.perf_counter() - started:.1f} s")
    assert parallel == sequential
    assert SEEDS.exists()
