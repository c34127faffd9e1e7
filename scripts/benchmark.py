"""Speed and memory figures of the assistant (printed; ``--json-out`` also writes them as JSON).

    python scripts/benchmark.py [--seeds-dir seeds] [--questions 30] [--json-out bench.json]
    python scripts/benchmark.py --scale 10,100,1000 [--synth-sections 1] [--json-out scale.json]

Default mode: model materialisation into a fresh cache folder, index build of ``--seeds-dir``
(chunks and texts per second), ``ask``/``search`` latency p50/p95 beside the latency of
embedding the question alone (and their ratio), query embedding with 1 vs 2 torch threads,
peak memory (RSS high-water mark) and cold start (a subprocess that imports, loads the built
index and answers once, timed whole).

Scale mode builds synthetic collections (``scripts/synth_guides.py``) and reports build time,
index size on disk, query p50/p95 and memory; for the largest also FAISS exact vs HNSW
recall@10 and latency, and an incremental rebuild after one guide out of N changes.
Flat-vs-HNSW latency at larger sizes is measured on perturbed copies of real vectors (no
embedding needed), to choose ``Settings.exact_search_max_chunks``.

Figures are not asserted anywhere: the machine is shared, so the load average is recorded.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))

RESULTS: dict[str, object] = {}
JSON_OUT: Path | None = None


def record(key: str, value: object) -> None:
    """Keep a figure and rewrite the JSON file, so partial runs still leave their numbers."""
    RESULTS[key] = value
    if JSON_OUT is not None:
        JSON_OUT.parent.mkdir(parents=True, exist_ok=True)
        JSON_OUT.write_text(json.dumps(RESULTS, ensure_ascii=False, indent=2, default=str) + "\n", encoding="utf-8")


def load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def current_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def summary_ms(values: list[float]) -> dict[str, float]:
    ms = [v * 1000 for v in values]
    return {"p50_ms": round(pct(ms, 0.5), 2), "p95_ms": round(pct(ms, 0.95), 2), "mean_ms": round(statistics.fmean(ms), 2), "n": len(ms)}


def dir_size(path: Path) -> int:
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file())


def questions(n: int) -> list[str]:
    lines = (REPO / "eval" / "questions.jsonl").read_text(encoding="utf-8").splitlines()
    qs = [json.loads(line)["question"] for line in lines if line.strip()]
    return qs[:n]


def say(text: str) -> None:
    print(text, flush=True)


# ---------------------------------------------------------------------------------------------
def bench_model(settings) -> object:
    """Materialise the bundled model into a fresh cache folder; time a warm load too."""
    from rag.embedding.embedder import Embedder

    started = time.perf_counter()
    import torch  # noqa: F401
    import sentence_transformers  # noqa: F401

    imports = time.perf_counter() - started
    with tempfile.TemporaryDirectory(prefix="rag-bench-cache-") as tmp:
        started = time.perf_counter()
        cold = Embedder(settings.model, cache_dir=Path(tmp))
        cold.model  # noqa: B018
        first = time.perf_counter() - started
        started = time.perf_counter()
        warm = Embedder(settings.model, cache_dir=Path(tmp))
        warm.model  # noqa: B018
        second = time.perf_counter() - started
        size = dir_size(Path(tmp))
    fig = {
        "import_torch_st_s": round(imports, 2),
        "first_run_materialise_and_load_s": round(first, 2),
        "warm_load_s": round(second, 2),
        "materialised_size_mb": round(size / 1e6, 1),
        "load_avg": load(),
    }
    say(f"model: imports {imports:.1f} s; first run (materialise + load, fresh cache) {first:.1f} s; "
        f"warm load {second:.1f} s; {size / 1e6:.0f} MB on disk  [load {load()}]")
    record("model", fig)
    return warm


def bench_build(settings, embedder, seeds: Path, index: Path) -> object:
    from rag import Assistant

    assistant = Assistant(settings.replace(seeds_dir=seeds, index_dir=index), embedder=embedder)
    started = time.perf_counter()
    report = assistant.refresh(rebuild=True)
    seconds = time.perf_counter() - started
    assert report is not None
    fig = {
        "guides": len(assistant.snapshot.guides),
        "chunks": report.chunks,
        "units": report.units,
        "build_s": round(seconds, 2),
        "chunks_per_s": round(report.chunks / seconds, 2),
        "embedded_texts_per_s": round((report.chunks + report.units) / seconds, 2),
        "index_size_mb": round(dir_size(assistant.snapshot.path) / 1e6, 2),
        "build_threads": settings.build_threads,
        "load_avg": load(),
    }
    say(f"build {seeds}: {fig['guides']} guides, {report.chunks} chunks + {report.units} units in {seconds:.1f} s "
        f"= {fig['chunks_per_s']} chunks/s, {fig['embedded_texts_per_s']} embedded texts/s; "
        f"index {fig['index_size_mb']} MB  [load {load()}]")
    record("build", fig)
    return assistant


def time_queries(assistant, qs: list[str], repeat: int = 1) -> dict[str, object]:
    embed, ask, search = [], [], []
    assistant.ask(qs[0])  # warm-up
    for _ in range(repeat):
        for q in qs:
            t = time.perf_counter()
            assistant.embedder.embed_queries([q])
            embed.append(time.perf_counter() - t)
            t = time.perf_counter()
            assistant.ask(q)
            ask.append(time.perf_counter() - t)
            t = time.perf_counter()
            assistant.search(q, k=5)
            search.append(time.perf_counter() - t)
    e, a, s = summary_ms(embed), summary_ms(ask), summary_ms(search)
    return {
        "embed_question": e,
        "ask": a,
        "search": s,
        "ask_over_embed_p50": round(a["p50_ms"] / e["p50_ms"], 2),
        "ask_over_embed_p95": round(a["p95_ms"] / e["p95_ms"], 2),
        "load_avg": load(),
    }


def bench_queries(assistant, qs: list[str]) -> None:
    fig = time_queries(assistant, qs)
    say(f"ask    p50 {fig['ask']['p50_ms']} ms  p95 {fig['ask']['p95_ms']} ms  (n={fig['ask']['n']})")
    say(f"search p50 {fig['search']['p50_ms']} ms  p95 {fig['search']['p95_ms']} ms")
    say(f"embed question alone p50 {fig['embed_question']['p50_ms']} ms  p95 {fig['embed_question']['p95_ms']} ms; "
        f"ask/embed ratio p50 {fig['ask_over_embed_p50']}x  p95 {fig['ask_over_embed_p95']}x  [load {load()}]")
    record("queries", fig)

    # torch threads: the embedder uses query_threads for questions; compare 1 and 2
    threads = {}
    emb = assistant.embedder
    saved = emb.query_threads
    for n in (1, 2):
        emb.query_threads = n
        emb.embed_queries([qs[0]])
        times = []
        for q in qs:
            t = time.perf_counter()
            emb.embed_queries([q])
            times.append(time.perf_counter() - t)
        threads[str(n)] = summary_ms(times)
    emb.query_threads = saved
    threads["load_avg"] = load()
    say(f"query embedding 1 thread p50 {threads['1']['p50_ms']} ms / 2 threads p50 {threads['2']['p50_ms']} ms  [load {load()}]")
    record("query_threads", threads)


def bench_batch_threads(embedder, texts: list[str]) -> None:
    saved = embedder.build_threads
    fig = {}
    for n in (1, 2):
        embedder.build_threads = n
        embedder.embed_passages(texts[:8])
        t = time.perf_counter()
        embedder.embed_passages(texts)
        fig[str(n)] = round(len(texts) / (time.perf_counter() - t), 2)
    embedder.build_threads = saved
    fig["texts"] = len(texts)
    fig["load_avg"] = load()
    say(f"passage batches: 1 thread {fig['1']} texts/s, 2 threads {fig['2']} texts/s ({len(texts)} texts)  [load {load()}]")
    record("build_threads_texts_per_s", fig)


def bench_cold_start(seeds: Path, index: Path, question: str) -> None:
    code = (
        "import sys, resource\n"
        "from rag import Assistant\n"
        f"a = Assistant.from_dir({str(seeds)!r}, {str(index)!r}, auto_build=False)\n"
        f"ans = a.ask({question!r})\n"
        # VmHWM, not ru_maxrss: ru_maxrss carries the parent's peak across fork + exec
        "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM:')][0].split()[1]\n"
        "print(len(ans.citations), int(hwm) // 1024)\n"
    )
    runs = []
    for _ in range(3):
        t = time.perf_counter()
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO,
                              env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=600)
        runs.append(time.perf_counter() - t)
        if proc.returncode != 0:
            say(f"cold start failed: {proc.stderr[-2000:]}")
            return
    citations, rss = proc.stdout.split()[-2:]
    fig = {"runs_s": [round(r, 2) for r in runs], "median_s": round(statistics.median(runs), 2),
           "child_peak_rss_mb": int(rss), "citations": int(citations), "load_avg": load()}
    say(f"cold start (import + load index + first answer, subprocess): median {fig['median_s']} s "
        f"{fig['runs_s']}; child peak RSS {rss} MB  [load {load()}]")
    record("cold_start", fig)


# ---------------------------------------------------------------------------------------------
def recall_at_10(exact_ids, approx_ids) -> float:
    total = 0.0
    for e, a in zip(exact_ids, approx_ids, strict=True):
        e = [i for i in e if i >= 0][:10]
        total += len(set(e) & set(a[:10])) / max(1, len(e))
    return total / len(exact_ids)


def bench_dense(vectors, queries, label: str) -> dict[str, object]:
    """Flat vs HNSW over ``vectors``: recall@10 of HNSW against exact, latency, build time."""
    import faiss

    from rag.index.dense import DenseIndex

    faiss.omp_set_num_threads(1)
    t = time.perf_counter()
    flat = DenseIndex.build(vectors, exact_max=len(vectors) + 1)
    flat_build = time.perf_counter() - t
    t = time.perf_counter()
    hnsw = DenseIndex.build(vectors, exact_max=0)
    hnsw_build = time.perf_counter() - t
    assert flat.kind == "flat" and hnsw.kind == "hnsw"
    exact, approx, tf, th = [], [], [], []
    for q in queries:
        t = time.perf_counter()
        _, ids = flat.search(q, 10)
        tf.append(time.perf_counter() - t)
        exact.append(list(ids))
        t = time.perf_counter()
        _, ids = hnsw.search(q, 10)
        th.append(time.perf_counter() - t)
        approx.append(list(ids))
    # restricted to one guide-sized id range (the guide filter)
    n = len(vectors)
    lo, hi = n // 3, n // 3 + max(10, n // 200)
    exact_r, approx_r = [], []
    for q in queries:
        exact_r.append(list(flat.search(q, 10, (lo, hi))[1]))
        approx_r.append(list(hnsw.search(q, 10, (lo, hi))[1]))
    fig = {
        "vectors": n,
        "queries": len(queries),
        "recall_at_10": round(recall_at_10(exact, approx), 4),
        "recall_at_10_filtered": round(recall_at_10(exact_r, approx_r), 4),
        "flat_search": summary_ms(tf),
        "hnsw_search": summary_ms(th),
        "flat_build_s": round(flat_build, 3),
        "hnsw_build_s": round(hnsw_build, 3),
        "load_avg": load(),
    }
    say(f"dense {label}: {n} vectors; HNSW recall@10 {fig['recall_at_10']} (guide filter {fig['recall_at_10_filtered']}); "
        f"flat p50 {fig['flat_search']['p50_ms']} ms vs HNSW p50 {fig['hnsw_search']['p50_ms']} ms; "
        f"HNSW build {hnsw_build:.1f} s  [load {load()}]")
    return fig


def bench_scale(settings, embedder, sizes: list[int], sections: int, qs: list[str], work: Path) -> None:
    import numpy as np

    from rag import Assistant
    from synth_guides import generate

    scale: list[dict[str, object]] = []
    assistant = None
    for n in sizes:
        seeds = work / f"g{n}"
        index = work / f"i{n}"
        generate(seeds, n, seed=0, sections=sections)
        assistant = Assistant(settings.replace(seeds_dir=seeds, index_dir=index), embedder=embedder)
        t = time.perf_counter()
        report = assistant.refresh(rebuild=True)
        build = time.perf_counter() - t
        assert report is not None
        q = time_queries(assistant, qs)
        row = {
            "guides": n,
            "chunks": report.chunks,
            "units": report.units,
            "dense_kind": assistant.snapshot.manifest.dense_kind,
            "build_s": round(build, 2),
            "chunks_per_s": round(report.chunks / build, 2),
            "index_size_mb": round(dir_size(assistant.snapshot.path) / 1e6, 2),
            "ask": q["ask"],
            "search": q["search"],
            "embed_question": q["embed_question"],
            "rss_mb": round(current_rss_mb(), 1),
            "peak_rss_mb_so_far": round(peak_rss_mb(), 1),
            "load_avg": load(),
        }
        scale.append(row)
        say(f"scale {n:>5} guides: {report.chunks} chunks, {report.units} units, {row['dense_kind']}; build {build:.1f} s; "
            f"index {row['index_size_mb']} MB; ask p50 {q['ask']['p50_ms']} / p95 {q['ask']['p95_ms']} ms; "
            f"search p50 {q['search']['p50_ms']} ms; RSS {row['rss_mb']} MB (peak {row['peak_rss_mb_so_far']})  [load {load()}]")
        record("scale", scale)
    assert assistant is not None
    largest = sizes[-1]

    # exact vs HNSW on the largest collection's real vectors, real questions + unit vectors as queries
    snapshot = assistant.snapshot
    vectors = snapshot.dense.vectors()
    queries = list(embedder.embed_queries(qs))
    rng = np.random.default_rng(0)
    picks = rng.choice(len(snapshot.unit_vectors), size=min(200, len(snapshot.unit_vectors)), replace=False)
    queries += [np.asarray(snapshot.unit_vectors[i]) for i in picks]
    record("dense_largest", bench_dense(vectors, queries, f"{largest} guides (real vectors)"))

    # end to end with HNSW: the same collection built with exact_search_max_chunks below its size
    hnsw_settings = settings.replace(seeds_dir=work / f"g{largest}", index_dir=work / f"i{largest}-hnsw",
                                     exact_search_max_chunks=min(1000, len(vectors) - 1))
    hnsw = Assistant(hnsw_settings, embedder=embedder)
    t = time.perf_counter()
    hnsw.refresh()
    hnsw_build = time.perf_counter() - t
    same_top = 0
    for q in qs:
        a, b = assistant.search(q, k=5), hnsw.search(q, k=5)
        same_top += [h.chunk.id for h in a] == [h.chunk.id for h in b]
    fig = {"exact_search_max_chunks": hnsw_settings.exact_search_max_chunks, "dense_kind": hnsw.snapshot.manifest.dense_kind,
           "build_s_with_reused_embeddings_none": round(hnsw_build, 2), "same_top5_as_exact": f"{same_top}/{len(qs)}",
           "ask": time_queries(hnsw, qs)["ask"], "load_avg": load()}
    say(f"HNSW end to end ({largest} guides, exact_search_max_chunks={fig['exact_search_max_chunks']}): "
        f"top-5 identical to exact for {fig['same_top5_as_exact']} questions; ask p50 {fig['ask']['p50_ms']} ms  [load {load()}]")
    record("hnsw_end_to_end", fig)

    # larger synthetic sizes: perturbed copies of real vectors (no embedding), to place the switch point
    dense_sizes = []
    for target in (20_000, 50_000, 100_000):
        reps = int(np.ceil(target / len(vectors)))
        big = np.concatenate([vectors + rng.normal(0, 0.02, vectors.shape).astype(np.float32) for _ in range(reps)])[:target]
        big /= np.linalg.norm(big, axis=1, keepdims=True)
        dense_sizes.append(bench_dense(big, queries[:100], f"{target} (perturbed copies)"))
        record("dense_scaling", dense_sizes)

    # incremental rebuild: change one guide out of N
    guide = sorted((work / f"g{largest}").glob("*.md"))[largest // 2]
    guide.write_text(guide.read_text(encoding="utf-8") + "\nこのガイドはベンチマークで一文だけ書き換えられました。\n", encoding="utf-8")
    t = time.perf_counter()
    report = assistant.refresh()
    incremental = time.perf_counter() - t
    assert report is not None
    fig = {"guides": largest, "embedded": report.embedded, "reused": len(report.reused), "seconds": round(incremental, 2),
           "ok": report.embedded == [guide.stem], "load_avg": load()}
    say(f"incremental rebuild after changing {guide.name} (1 of {largest}): {incremental:.1f} s; "
        f"embedded {report.embedded}, reused {len(report.reused)}  [load {load()}]")
    record("incremental", fig)


def main(argv: list[str] | None = None) -> int:
    global JSON_OUT
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds-dir", type=Path, default=REPO / "seeds")
    parser.add_argument("--questions", type=int, default=30, help="eval questions used for timing (default 30)")
    parser.add_argument("--scale", default="", help="comma-separated collection sizes, e.g. 10,100,1000")
    parser.add_argument("--synth-sections", type=int, default=1, help="H2 sections per synthetic guide (0 = all)")
    parser.add_argument("--skip-model", action="store_true", help="skip the fresh-cache materialisation")
    parser.add_argument("--work-dir", type=Path, default=None, help="keep built collections here (default: a temp dir)")
    parser.add_argument("--json-out", type=Path, default=None)
    args = parser.parse_args(argv)
    JSON_OUT = args.json_out

    from rag import Settings
    from rag.embedding.embedder import Embedder

    settings = Settings()
    record("machine", {"cpus": os.cpu_count(), "load_avg_start": load(), "python": sys.version.split()[0]})
    say(f"machine: {os.cpu_count()} CPUs, load average {load()}")
    qs = questions(args.questions)
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="rag-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        if not args.skip_model:
            bench_model(settings)
        embedder = Embedder.from_settings(settings)
        embedder.model  # noqa: B018
        if args.scale:
            sizes = sorted(int(s) for s in args.scale.split(",") if s.strip())
            bench_scale(settings, embedder, sizes, args.synth_sections, qs, work)
        else:
            assistant = bench_build(settings, embedder, args.seeds_dir, work / "index")
            bench_queries(assistant, qs)
            from rag.index.builder import embedding_text

            texts = [embedding_text(assistant.snapshot.guides[c.guide].title, c) for c in assistant.snapshot.chunks[:48]]
            bench_batch_threads(embedder, texts)
            bench_cold_start(args.seeds_dir, work / "index", qs[0])
        fig = {"peak_rss_mb": round(peak_rss_mb(), 1), "load_avg_end": load()}
        say(f"peak RSS (high-water mark) {fig['peak_rss_mb']} MB  [load {load()}]")
        record("memory", fig)
    finally:
        if args.work_dir is None:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
