"""Memory at scale: peak RSS while indexing ~100k chunks, where it goes, and the embedder's share.

Prints one JSON object. Two parts, each in fresh child processes so nothing is shared:

`index`: the real `KnowledgeBase` (scan, parse, chunk, LanceDB writes, vector write-back, the
in-memory `ExactVectorIndex`) indexes a generated folder of `--files` Markdown files of
`--words` words (default 10,000 × 1,200 words = 10 chunks of 200 tokens each = 100k chunks; the
earlier default of 1,760 words made 15 chunks a file, 150k chunks) with the *fake*
embedder, through the same settings seam as the real one: embedding 100k chunks with MiniLM takes
about four hours on 2 cores. The parent samples the child's RSS every 50 ms. `--backlog` holds
the embedder until every file is parsed: with the real model the writer parses hundreds of
chunks per second while MiniLM embeds ~8, so in a first run nearly every chunk text waits in the
embedding queue at once; this mode puts that worst case into the peak. The child reports the
vector index's bytes, LanceDB's cache bytes, the largest embedding backlog it saw, glibc's heap
(in use, free but kept) and its RSS after `gc.collect()` + `malloc_trim(0)` (what is held vs.
freed but not returned to the OS).

`embedder`: a child imports the same stack, then loads the real MiniLM (`FastEmbedEmbedder`,
as the app does) and embeds `--embed-chunks` ~800-character chunks in calls of 128 texts (the
pipeline's call size). Its RSS growth from load to the end of embedding is the embedder's own
share: one ONNX session and its arena, constant in the corpus size. `estimated_peak_mb` adds it
to the index part's peak.

`--other <worktree>` runs the index part in another checkout too, alternating, for a
before/after comparison measured side by side.

    .venv/bin/python bench/bench_scale.py [--files 10000] [--words 1200] [--backlog]
        [--parts index,embedder] [--other /tmp/old] [--rounds 1]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import psutil

REPO = Path(__file__).resolve().parents[1]

INDEX_CHILD = r"""
import ctypes, gc, json, sys, threading, time
from pathlib import Path
import models.embedder as me
from indexer.config import load_settings
from indexer.events import FileParsed, ProgressUpdated
from indexer.service import KnowledgeBase, build_hub

home, docs, n_files, backlog = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "1"
def mark(name, **kw):
    print(json.dumps({"mark": name, "t": time.time(), **kw}), flush=True)

parsed_all = threading.Event()
if backlog:  # the embedder waits until the writer has parsed everything (see the bench doc)
    real_embed = me.FakeEmbedder.embed
    def gated(self, texts):
        parsed_all.wait()
        return real_embed(self, texts)
    me.FakeEmbedder.embed = gated
state = {"parsed": 0, "max_pending": 0}
def on_event(ev):
    if isinstance(ev, FileParsed):
        state["parsed"] += 1
        if state["parsed"] % max(1, n_files // 10) == 0:
            mark(f"parsed_{state['parsed']}")
        if state["parsed"] >= n_files:
            parsed_all.set()
    elif isinstance(ev, ProgressUpdated):
        state["max_pending"] = max(state["max_pending"], getattr(ev, "chunks_pending", 0) or 0)
mark("imported")
s = load_settings(home, folders=[docs], embedder_backend="fake", generator_backend="fake")
kb = KnowledgeBase(s, build_hub(s), on_event=on_event).open()
mark("opened")
t0 = time.perf_counter()
kb.scan()
guard = threading.Timer(3600, parsed_all.set)  # never deadlock on a miscount
guard.daemon = True
guard.start()
kb.wait_idle(6 * 3600)
parsed_all.set()
mark("indexed", seconds=round(time.perf_counter() - t0, 1))
kb.store.maintain(force=True)
mark("maintained")
vecs = kb.vectors
tables = kb.store.tables
report = {
    "files": kb.store.file_count(), "chunks": kb.store.chunk_count(),
    "vector_rows": len(vecs), "vector_index_mb": round((vecs.nbytes if hasattr(type(vecs), "nbytes") else vecs._vecs.nbytes) / 1e6, 1),
    "lancedb_cache_mb": round(tables.cache_bytes() / 1e6, 1) if hasattr(tables, "cache_bytes") else None,
    "max_chunks_pending": state["max_pending"],
}
def malloc_mb():
    # glibc's heap, all arenas: bytes in use and bytes free but kept (not RSS: free pages may
    # already be returned); LanceDB's Rust side and Python's larger objects allocate here.
    class MallInfo2(ctypes.Structure):
        _fields_ = [(n, ctypes.c_size_t) for n in
                    "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost".split()]
    try:
        fn = ctypes.CDLL("libc.so.6").mallinfo2
    except (OSError, AttributeError):
        return {}
    fn.restype = MallInfo2
    mi = fn()
    return {"malloc_in_use_mb": (mi.uordblks + mi.hblkhd) >> 20, "malloc_free_mb": mi.fordblks >> 20}
mark("before_trim", **malloc_mb())
gc.collect()
try:
    ctypes.CDLL("libc.so.6").malloc_trim(0)
except OSError:
    pass
mark("trimmed", **report, **malloc_mb())
kb.close()
"""

EMBED_CHILD = r"""
import json, pydoc, sys, time
import numpy, pyarrow, lancedb  # the same stack the index child had loaded
def mark(name, **kw):
    print(json.dumps({"mark": name, "t": time.time(), **kw}), flush=True)
n = int(sys.argv[1])
texts = []
for name in ("json", "pathlib", "argparse", "logging", "collections", "typing", "threading",
             "subprocess", "email.message", "http.client", "unittest", "datetime", "decimal",
             "asyncio", "sqlite3", "csv", "re", "os", "shutil", "tarfile", "zipfile"):
    doc = " ".join(pydoc.plain(pydoc.render_doc(name)).split())
    texts += [doc[i : i + 800] for i in range(0, len(doc) - 800, 800)]
texts = (texts * (n // max(1, len(texts)) + 1))[:n]
mark("imported")
import tempfile
from pathlib import Path
from models.catalog import DEFAULT_EMBEDDER
from models.embedder import FastEmbedEmbedder
from models.provisioning import resolve_embedder_dir
model_dir = resolve_embedder_dir(DEFAULT_EMBEDDER, Path(tempfile.mkdtemp()))
emb = FastEmbedEmbedder(model_dir, DEFAULT_EMBEDDER)
emb.load()
mark("loaded", model=emb.model_id)
emb.embed(texts[:128])
mark("warm")
t0 = time.perf_counter()
for i in range(0, len(texts), 128):
    emb.embed(texts[i : i + 128])
mark("embedded", chunks=len(texts), seconds=round(time.perf_counter() - t0, 1))
"""


def make_corpus(folder: Path, files: int, words: int, seed: int = 3) -> int:
    """Markdown files of Zipf-distributed pseudo-words in paragraphs under headings; returns
    the bytes written. Deterministic for a seed."""
    rng = np.random.default_rng(seed)
    syll = np.array(["ka", "lo", "mi", "ne", "ru", "sa", "ti", "vo", "ze", "pa", "qu", "dra"])
    vocab = sorted({"".join(rng.choice(syll, size=rng.integers(2, 4))) for _ in range(40_000)})
    vocab_arr = np.array(vocab)
    p = 1.0 / np.arange(1, len(vocab_arr) + 1) ** 1.07
    p /= p.sum()
    folder.mkdir(parents=True, exist_ok=True)
    total = 0
    for f in range(files):
        idx = rng.choice(len(vocab_arr), size=words, p=p)
        parts = [f"# Note {f}\n"]
        for start in range(0, words, 120):  # a paragraph per 120 words, a heading per 5
            if start and start % 600 == 0:
                parts.append(f"\n## Part {start // 600}\n")
            parts.append(" ".join(vocab_arr[idx[start : start + 120]]) + ".\n")
        text = "\n".join(parts)
        sub = folder / f"d{f % 20:02d}"
        sub.mkdir(exist_ok=True)
        (sub / f"note{f:05d}.md").write_text(text, encoding="utf-8")
        total += len(text)
    return total


def run_child(tree: Path, code: str, args: list[str]) -> dict[str, Any]:
    """Run `code` in `tree`; sample its RSS; return its marks and the RSS profile."""
    samples: list[tuple[float, int]] = []
    marks: list[dict[str, Any]] = []
    # stderr goes to a file: a pipe nobody reads could fill up and block the child
    with tempfile.TemporaryFile(mode="w+") as errfile:
        proc = subprocess.Popen(
            [sys.executable, "-c", code, *args],
            cwd=tree,
            env={**os.environ, "PYTHONPATH": str(tree)},
            stdout=subprocess.PIPE,
            stderr=errfile,
            text=True,
        )
        ps = psutil.Process(proc.pid)

        def read() -> None:
            assert proc.stdout is not None
            for line in proc.stdout:
                if line.startswith("{"):
                    m = json.loads(line)
                    m["rss_mb"] = samples[-1][1] >> 20 if samples else None
                    marks.append(m)

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        while proc.poll() is None:
            try:
                samples.append((time.time(), ps.memory_info().rss))
            except psutil.Error:
                break
            time.sleep(0.05)
        reader.join(5)
        errfile.seek(0)
        err = errfile.read()
    if proc.returncode:
        raise RuntimeError(f"child failed in {tree}:\n{err[-3000:]}")
    peak_t, peak = max(samples, key=lambda s: s[1]) if samples else (0.0, 0)
    last_before_peak = [m["mark"] for m in marks if m["t"] <= peak_t]
    return {
        "peak_rss_mb": peak >> 20,
        "peak_after_mark": last_before_peak[-1] if last_before_peak else None,
        "marks": {m.pop("mark"): {k: v for k, v in m.items() if k != "t"} for m in marks},
    }


def index_part(tree: Path, docs: Path, files: int, backlog: bool) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="cairn-bench-scale-") as home:
        return run_child(tree, INDEX_CHILD, [home, str(docs), str(files), "1" if backlog else "0"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--words", type=int, default=1200, help="words per file (10 chunks)")
    parser.add_argument("--backlog", action="store_true", help="embedder waits for all parsing")
    parser.add_argument("--parts", default="index,embedder")
    parser.add_argument("--embed-chunks", type=int, default=512)
    parser.add_argument("--other", type=Path, default=None, help="another checkout to compare")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--workdir", type=Path, default=None, help="keep the corpus here")
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    result: dict[str, Any] = {
        "benchmark": "scale_memory",
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "load_avg_start": [round(x, 2) for x in os.getloadavg()],
    }
    with tempfile.TemporaryDirectory(prefix="cairn-bench-scale-docs-") as tmp:
        docs = (args.workdir or Path(tmp)) / f"docs-{args.files}x{args.words}"
        if not docs.exists():
            result["corpus_mb"] = round(make_corpus(docs, args.files, args.words) / 1e6, 1)
        if "index" in parts:
            trees = {"this": REPO, **({"other": args.other} if args.other else {})}
            runs: dict[str, list[dict[str, Any]]] = {name: [] for name in trees}
            for _ in range(args.rounds):
                for name, tree in reversed(list(trees.items())):
                    runs[name].append(index_part(tree, docs, args.files, args.backlog))
            result["index"] = {
                "embedder": "fake (hashed bag of words) through the settings seam",
                "backlog": args.backlog,
                **{name: r if len(r) > 1 else r[0] for name, r in runs.items()},
            }
        if "embedder" in parts:
            emb = run_child(REPO, EMBED_CHILD, [str(args.embed_chunks)])
            m = emb["marks"]
            emb["share_mb"] = emb["peak_rss_mb"] - m["imported"]["rss_mb"]
            result["embedder"] = emb
        if "index" in parts and "embedder" in parts:
            peak = result["index"]["this"]
            peak = peak[0] if isinstance(peak, list) else peak
            result["estimated_peak_mb"] = peak["peak_rss_mb"] + result["embedder"]["share_mb"]
    result["load_avg_end"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
