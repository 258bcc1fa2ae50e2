"""Indexing benchmarks: full index of the pydoc corpus vs the raw ONNX ceiling, and live sync.

Prints one JSON object. Two parts (`--part a|b|all`, default all):

a) Full index of the pydoc corpus (79 Markdown files, ~1,140 chunks) in a fresh temporary home
   with the real embedder: wall time from `scan()` to idle, files/s, chunks/s end to end, peak
   RSS. In the same run, the raw onnxruntime throughput of the same model.onnx (same intra-op
   thread count as the embedder's own session) on the same texts (the stored chunks' embed
   texts, heading + text), sorted by length, greedy batches of at most `--raw-batch-tokens`
   padded tokens, mean pooling + L2 in numpy. `pipeline_efficiency` = e2e chunks/s / raw
   chunks/s (target >= 0.85). `--rounds` (3) rounds of: raw on one half of the texts, a fresh
   e2e index, raw on the other half (order alternating), so load that drifts on a shared machine
   hits each e2e run and its own ceiling alike; the headline is the median of per-round ratios.
   Each round also reports CPU seconds by thread role (onnxruntime + embedder thread, writer,
   LanceDB), when the first embed call started, how long the run went on after the last one,
   the padding of the pipeline's batches, and the load average. `--embedder-pass` also times
   `FastEmbedEmbedder.embed` on the same texts (splits a loss between the embedder and the
   pipeline around it). `--other DIR` (repeatable) measures another checkout's code (e.g. a
   worktree of the previous commit) with this same bench, rotating with this one, one process
   per run: before/after in one run. `--no-spin` makes onnxruntime's threads sleep instead of
   spin on both sides, so CPU-time ratios compare work even on a busy machine.

b) Live sync on a folder of `--files` (1,000) small text files, 2-5 sentences each from the
   pydoc text. After indexing it, `--trials` (20) times: with `start_watching()` active, append
   a unique word to one file and measure (1) until `search(word, mode="bm25")` returns the file
   (keyword-searchable; target p95 < 1 s) and (2) until the file's `FileEmbedded` event after
   the edit (semantically searchable; target p95 < 5 s). Then rename one embedded file
   `--renames` (10) times and count embedding work on the pipeline's embedder thread (calls,
   texts, `progress.chunks_embedded` delta, FileEmbedded events with embedded > 0): must be 0.

    .venv/bin/python bench/bench_indexing.py                       # both parts
    .venv/bin/python bench/bench_indexing.py --part a --embedder-pass --rounds 3
    .venv/bin/python bench/bench_indexing.py --part a --other /tmp/base --rounds 3
    .venv/bin/python bench/bench_indexing.py --part b --files 1000 --trials 20
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
# The code under test: this checkout, or another one (`--other` runs this same bench on it, so
# before and after are measured by the same instrumentation).
CODE_ROOT = Path(os.environ.get("CAIRN_BENCH_CODE_ROOT") or ROOT).resolve()
sys.path.insert(0, str(CODE_ROOT))
os.environ["ORT_DISABLE_TELEMETRY"] = "1"  # raw ONNX Runtime sessions here too (models/offline.py)

from indexing_probes import (
    EmbedCounter,
    EventLog,
    RawOnnx,
    background_load,
    current_rss_mb,
    loadavg,
    no_spin_everywhere,
    peak_rss_mb,
    stored_embed_texts,
    timed,
)

from indexer.config import load_settings
from indexer.events import FileEmbedded, FileParsed
from indexer.service import KnowledgeBase, build_hub

TOPICS_JSON = ROOT / "tests/data/eval/pydoc_topics_3.11.7.json"
MAKE_CORPUS = ROOT / "tests/data/eval/make_pydoc_corpus.py"


# ----------------------------------------------------------------------------- part a
def expected_embed_texts(corpus: Path, settings: Any, embedder: Any) -> list[str]:
    """The chunks' embed texts the pipeline will store, computed ahead with its own parser and
    chunker (checked against the stored texts after indexing)."""
    from indexer.ingest.chunking import chunk_document
    from indexer.ingest.parsing import parse_file

    texts: list[str] = []
    for path in sorted(corpus.rglob("*.md")):
        doc = parse_file(path)
        for chunk in chunk_document(
            doc,
            count_tokens=embedder.count_tokens,
            max_tokens=settings.chunk_tokens,
            overlap_tokens=settings.chunk_overlap_tokens,
        ):
            texts.append(chunk.embed_text)
    cache = getattr(embedder, "ids_cache", None)
    if cache is not None:
        cache.clear()  # the side passes tokenize for themselves, as the raw ceiling does
    return texts


def halves(texts: list[str]) -> tuple[list[str], list[str]]:
    """Two halves with the same length distribution (alternate texts in length order)."""
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    return [texts[i] for i in order[0::2]], [texts[i] for i in order[1::2]]


def thread_cpu() -> dict[int, tuple[str, float]]:
    """CPU seconds of each of this process's threads (Linux /proc; {} elsewhere)."""
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    out: dict[int, tuple[str, float]] = {}
    try:
        tids = os.listdir("/proc/self/task")
    except OSError:
        return out
    for tid in tids:
        try:
            comm = Path(f"/proc/self/task/{tid}/comm").read_text().strip()
            fields = Path(f"/proc/self/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        out[int(tid)] = (comm, (int(fields[11]) + int(fields[12])) / tick)
    return out


def cpu_by_role(before: dict[int, tuple[str, float]], after: dict[int, tuple[str, float]],
                names: dict[int, str]) -> dict[str, float]:
    """Thread CPU between two samples, by role: the embedder thread plus onnxruntime's pool
    (unnamed threads), the writer, LanceDB's runtime threads, everything else."""
    roles: dict[str, float] = {}
    for tid, (comm, cpu) in after.items():
        used = cpu - before.get(tid, (comm, 0.0))[1]
        name = names.get(tid, comm)
        if name == "cairn-embedder" or name == "python":
            role = "embedder_and_onnxruntime"
        elif name == "cairn-writer":
            role = "writer"
        elif "lance" in name.lower() or "tokio" in name.lower():
            role = "lancedb"
        else:
            role = "other"
        roles[role] = round(roles.get(role, 0.0) + used, 2)
    return roles


class CallLog:
    """Wraps the embedder's `embed` for the pipeline run: when each call ran, on what texts."""

    def __init__(self, counter: EmbedCounter) -> None:
        self.counter = counter
        self.calls: list[tuple[float, float, list[str]]] = []
        self._inner = counter._inner

    def __call__(self, texts: Sequence[str]) -> Any:
        t0 = time.perf_counter()
        try:
            return self._inner(texts)
        finally:
            self.calls.append((t0, time.perf_counter(), list(texts)))


def model_lengths(embedder: Any, texts: list[str]) -> list[int]:
    """Tokens per text as the model sees them (special tokens, window)."""
    if hasattr(embedder, "model_ids"):
        return [len(ids) for ids in embedder.model_ids(texts)]
    encodings = embedder._tokenizer.encode_batch(texts)  # an older embedder: count + 2
    return [min(len(e.ids) + 2, embedder._window) for e in encodings]


def intra_op_threads(embedder: Any) -> int:
    """The embedder session's intra-op threads (0: onnxruntime's default, one per core)."""
    if hasattr(embedder, "intra_op_threads"):
        return int(embedder.intra_op_threads)
    session = embedder._model.model.model  # an older embedder: fastembed's session inside
    return int(session.get_session_options().intra_op_num_threads)


def padded_tokens(embedder: Any, calls: list[list[str]], batch_tokens: int) -> tuple[int, int]:
    """(real, padded) tokens the embedder's own batch plan gives for these calls."""
    from models.embedder import plan_batches

    real = padded = 0
    for texts in calls:
        lengths = model_lengths(embedder, texts)
        real += sum(lengths)
        for batch in plan_batches(lengths, embedder.batch_size, batch_tokens):
            padded += max(lengths[i] for i in batch) * len(batch)
    return real, padded


def e2e_index(corpus: Path, home: Path, args: argparse.Namespace, hub: Any,
              counter: EmbedCounter) -> dict[str, Any]:
    """Index `corpus` into a fresh home with the shared embedder; figures of that run."""
    settings = load_settings(home, folders=[corpus], embed_threads=args.threads)
    events = EventLog()
    log = CallLog(counter)
    counter._inner = log
    n_files = sum(1 for _ in corpus.rglob("*.md"))
    try:
        with KnowledgeBase(settings, hub, events) as kb:
            names = {t.native_id: t.name for t in threading.enumerate() if t.native_id}
            load_before = loadavg()
            cpu0 = thread_cpu()
            w0, c0, start_wall = time.perf_counter(), time.process_time(), time.time()
            kb.scan()
            kb.wait_idle()
            wall, cpu = time.perf_counter() - w0, time.process_time() - c0
            cpu1 = thread_cpu()
            load_after = loadavg()
            assert kb.store is not None and kb.pipeline is not None
            n_chunks = kb.store.chunk_count()
            stored = stored_embed_texts(kb)
            parsed_at = [e.at for e in events.events if isinstance(e, FileParsed)]
            embedded = [e for e in events.events if isinstance(e, FileEmbedded)]
            progress = kb.pipeline.progress.chunks_embedded
    finally:
        counter._inner = log._inner
    calls = [c for c in log.calls if c[0] >= w0]
    inside = sum(t1 - t0 for t0, t1, _ in calls)
    real, padded = padded_tokens(hub.embedder(), [c[2] for c in calls], args.raw_batch_tokens)
    return {
        "files": n_files,
        "chunks": n_chunks,
        "stored_texts": stored,
        "wall_s": round(wall, 2),
        "files_per_s": round(n_files / wall, 2),
        "chunks_per_s": round(n_chunks / wall, 2),
        "cpu_s_per_chunk": round(cpu / n_chunks, 4),
        "cpu_s_by_thread_role": cpu_by_role(cpu0, cpu1, names),
        "all_files_keyword_searchable_after_s": round(max(parsed_at) - start_wall, 2)
        if parsed_at else None,
        "files_embedded_events": len(embedded),
        "chunks_embedded_progress": progress,
        "embed_calls": len(calls),
        "embed_texts": sum(len(c[2]) for c in calls),
        "time_inside_embed_s": round(inside, 2),
        "embed_busy_fraction": round(inside / wall, 3),
        "first_embed_call_at_s": round(calls[0][0] - w0, 2) if calls else None,
        "after_last_embed_call_s": round(wall - (calls[-1][1] - w0), 2) if calls else None,
        "embed_padding": round(padded / real - 1, 4) if real else None,
        "loadavg": [load_before, load_after],
        "peak_rss_mb": peak_rss_mb(),
    }


def part_a(work: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Rounds of: raw pass on one half of the texts, e2e index, raw pass on the other half
    (order alternating), so drifting load hits the e2e run and its own ceiling alike."""
    corpus = work / "pydoc"
    subprocess.run(
        [sys.executable, str(MAKE_CORPUS), str(corpus), "--from-json", str(TOPICS_JSON)],
        check=True,
        capture_output=True,
    )
    settings = load_settings(work / "home_a", folders=[corpus], embed_threads=args.threads)
    hub = build_hub(settings)
    rss_before = current_rss_mb()
    _, t_load, _ = timed(lambda: hub.embedder().load())
    embedder = hub.embedder()
    counter = EmbedCounter(embedder)
    threads = intra_op_threads(embedder)  # 0 = onnxruntime's default (one per core)
    texts = expected_embed_texts(corpus, settings, embedder)
    first, second = halves(texts)
    raw = RawOnnx(embedder.model_dir, threads, embedder._window, args.raw_batch_tokens)
    raw.embed(texts[:4])  # warm-up (session init, first-run allocations)
    counter._inner(texts[:4])
    rounds: list[dict[str, Any]] = []
    raw_vecs: dict[str, np.ndarray] = {}
    emb_vecs: dict[str, np.ndarray] = {}
    for r in range(args.rounds):
        side: dict[str, list[tuple[float, float]]] = {"raw": [], "embedder": []}
        plans: list[dict[str, int]] = []

        def side_passes(part: list[str], order: Sequence[str], side: Any = side,
                        plans: Any = plans) -> None:
            for name in order:
                if name == "raw":
                    (vecs, plan), w, c = timed(lambda: raw.embed(part))
                    plans.append(plan)
                    raw_vecs.update(zip(part, vecs))
                else:
                    emb, w, c = timed(lambda: counter._inner(part))
                    emb_vecs.update(zip(part, emb))
                side[name].append((w, c))

        names = ["raw", "embedder"] if args.embedder_pass else ["raw"]
        if r % 2:
            names.reverse()
        load_side_before = loadavg()
        side_passes(first, names)
        e2e = e2e_index(corpus, work / f"home_a{r}", args, hub, counter)
        side_passes(second, list(reversed(names)))
        stored = e2e.pop("stored_texts")
        raw_w = sum(w for w, _ in side["raw"])
        raw_c = sum(c for _, c in side["raw"])
        one: dict[str, Any] = {
            "e2e": e2e,
            "stored_texts_match_side_pass_texts": sorted(stored) == sorted(texts),
            "raw_wall_s": round(raw_w, 2),
            "raw_halves_wall_s": [round(w, 2) for w, _ in side["raw"]],
            "raw_chunks_per_s": round(len(texts) / raw_w, 2),
            "raw_cpu_s_per_chunk": round(raw_c / len(texts), 4),
            "raw_plan": {k: sum(p[k] for p in plans) for k in plans[0]},
            "loadavg_side_passes": [load_side_before, loadavg()],
        }
        one["pipeline_efficiency"] = round(e2e["chunks_per_s"] / one["raw_chunks_per_s"], 3)
        one["pipeline_efficiency_cpu"] = round(
            one["raw_cpu_s_per_chunk"] / e2e["cpu_s_per_chunk"], 3
        )
        if args.embedder_pass:
            emb_w = sum(w for w, _ in side["embedder"])
            one.update(
                embedder_wall_s=round(emb_w, 2),
                embedder_chunks_per_s=round(len(texts) / emb_w, 2),
                embedder_cpu_s_per_chunk=round(
                    sum(c for _, c in side["embedder"]) / len(texts), 4
                ),
                embedder_vs_raw=round(raw_w / emb_w, 3),
                e2e_vs_embedder=round(emb_w / e2e["wall_s"], 3),
            )
        rounds.append(one)
        print(json.dumps({"round": r, **{k: v for k, v in one.items() if k != "e2e"},
                          "e2e_wall_s": e2e["wall_s"]}), file=sys.stderr)

    def med(get: Callable[[dict[str, Any]], float]) -> float:
        return round(statistics.median(get(x) for x in rounds), 3)

    result: dict[str, Any] = {
        "files": rounds[0]["e2e"]["files"],
        "chunks": rounds[0]["e2e"]["chunks"],
        "rounds": args.rounds,
        "embedder_load_s": round(t_load, 2),
        "onnx_intra_op_threads": threads,
        "onnx_spinning": not args.no_spin,
        "rss_mb_before_open": rss_before,
        "pipeline_efficiency_median": med(lambda x: x["pipeline_efficiency"]),
        "pipeline_efficiency_per_round": [x["pipeline_efficiency"] for x in rounds],
        "pipeline_efficiency_cpu_median": med(lambda x: x["pipeline_efficiency_cpu"]),
        "e2e_wall_s_median": med(lambda x: x["e2e"]["wall_s"]),
        "e2e_chunks_per_s_median": med(lambda x: x["e2e"]["chunks_per_s"]),
        "e2e_files_per_s_median": med(lambda x: x["e2e"]["files_per_s"]),
        "raw_chunks_per_s_median": med(lambda x: x["raw_chunks_per_s"]),
        "keyword_searchable_after_s_median": med(
            lambda x: x["e2e"]["all_files_keyword_searchable_after_s"]
        ),
        "all_stored_texts_match": all(x["stored_texts_match_side_pass_texts"] for x in rounds),
        "per_round": rounds,
    }
    if args.embedder_pass:
        result["embedder_vs_raw_median"] = med(lambda x: x["embedder_vs_raw"])
        result["e2e_vs_embedder_median"] = med(lambda x: x["e2e_vs_embedder"])
        result["embedder_vs_raw_max_abs_diff"] = max(
            float(np.abs(v - raw_vecs[t]).max()) for t, v in emb_vecs.items()
        )
    return result


# ----------------------------------------------------------------------------- part b


def summarize_run(full: dict[str, Any]) -> dict[str, Any]:
    """The headline figures of a one-round part-a run."""
    one = full["per_round"][0]
    e2e = one["e2e"]
    return {
        "pipeline_efficiency": one["pipeline_efficiency"],
        "pipeline_efficiency_cpu": one["pipeline_efficiency_cpu"],
        "e2e_wall_s": e2e["wall_s"],
        "e2e_chunks_per_s": e2e["chunks_per_s"],
        "e2e_files_per_s": e2e["files_per_s"],
        "raw_chunks_per_s": one["raw_chunks_per_s"],
        "keyword_searchable_after_s": e2e["all_files_keyword_searchable_after_s"],
        "embed_busy_fraction": e2e["embed_busy_fraction"],
        "first_embed_call_at_s": e2e["first_embed_call_at_s"],
        "after_last_embed_call_s": e2e["after_last_embed_call_s"],
        "embed_padding": e2e["embed_padding"],
        "embed_calls": e2e["embed_calls"],
        "e2e_cpu_s_per_chunk": e2e["cpu_s_per_chunk"],
        "raw_cpu_s_per_chunk": one["raw_cpu_s_per_chunk"],
        "cpu_s_by_thread_role": e2e["cpu_s_by_thread_role"],
        "embedder_vs_raw": one.get("embedder_vs_raw"),
        "stored_texts_match": one["stored_texts_match_side_pass_texts"],
        "loadavg_e2e": e2e["loadavg"],
    }


def compare(others: list[Path], args: argparse.Namespace) -> dict[str, Any]:
    """Part a of this checkout's code and of each of `others` (e.g. worktrees of earlier
    commits), measured by this same bench, one process per run, the order rotating each round,
    each run against its own raw passes. Runs are named by their folder."""
    trees = {"this": CODE_ROOT, **{str(o.resolve()): o.resolve() for o in others}}
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in trees}
    names = list(trees)
    for r in range(args.rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            cmd = [sys.executable, str(Path(__file__).resolve()), "--part", "a", "--rounds", "1",
                   "--threads", str(args.threads)]
            cmd += ["--embedder-pass"] if args.embedder_pass else []
            cmd += ["--no-spin"] if args.no_spin else []
            env = {**os.environ, "CAIRN_BENCH_CODE_ROOT": str(trees[name])}
            proc = subprocess.run(cmd, cwd=trees[name], env=env, capture_output=True, text=True,
                                  check=True)
            full = json.loads(proc.stdout)["full_index"]
            runs[name].append(summarize_run(full))
            print(json.dumps({"round": r, name: runs[name][-1]}), file=sys.stderr)

    def med(name: str, key: str) -> float | None:
        values = [x[key] for x in runs[name] if x.get(key) is not None]
        return round(statistics.median(values), 3) if values else None

    keys = [k for k, v in runs["this"][0].items()
            if isinstance(v, (int, float)) and not isinstance(v, bool)]
    return {
        "code": {name: str(tree) for name, tree in trees.items()},
        "rounds": args.rounds,
        "median": {name: {k: med(name, k) for k in keys} for name in runs},
        "runs": runs,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--part", choices=["a", "b", "all"], default="all")
    parser.add_argument("--threads", type=int, default=0, help="embed_threads; 0 = all cores")
    parser.add_argument("--raw-batch-tokens", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=3, help="part a: alternating rounds")
    parser.add_argument(
        "--no-spin",
        action="store_true",
        help="part a: onnxruntime threads sleep instead of spinning, in the pipeline and the raw "
        "pass alike; CPU-time ratios then compare work, robust to other load",
    )
    parser.add_argument(
        "--embedder-pass",
        action="store_true",
        help="part a: also time FastEmbedEmbedder.embed on the same texts",
    )
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--renames", type=int, default=10)
    parser.add_argument("--poll-s", type=float, default=0.03)
    parser.add_argument("--trial-timeout", type=float, default=60.0)
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument(
        "--other",
        type=Path,
        action="append",
        default=None,
        help="part a: also measure another checkout's code (e.g. `git worktree add /tmp/base "
        "HEAD~1`; repeatable), rotating with this one, one process per run; prints all",
    )
    args = parser.parse_args()

    import onnxruntime

    work = Path(tempfile.mkdtemp(prefix="cairn-bench-indexing-"))
    out: dict[str, Any] = {
        "machine": {
            "platform": platform.platform(),
            "cpu_count": os.cpu_count(),
            "python": platform.python_version(),
            "onnxruntime": onnxruntime.__version__,
            "loadavg_at_start": loadavg(),
            "background_processes": background_load(),
        },
        "args": vars(args),
    }
    t0 = time.perf_counter()
    if args.no_spin:
        no_spin_everywhere()
    try:
        if args.other:
            out["compare"] = compare(args.other, args)
        elif args.part in ("a", "all"):
            out["full_index"] = part_a(work, args)
        if args.part in ("b", "all"):
            from bench_live_sync import part_b  # bench/ is on sys.path when run as a script

            out["live_sync"] = part_b(work, args)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    out["machine"]["loadavg_at_end"] = loadavg()
    out["total_wall_s"] = round(time.perf_counter() - t0, 1)
    print(json.dumps(out, indent=2, default=str))


if __name__ == "__main__":
    main()
