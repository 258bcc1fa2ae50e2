"""Live-sync benchmark: how fast an edit becomes searchable, and that renames re-embed nothing.

Prints one JSON object (also run as part b of `bench/bench_indexing.py`). A folder of `--files`
(1,000) small text files, 2-5 sentences each from the pydoc text, is indexed; then, `--trials`
(20) times, with `start_watching()` active, a unique word is appended to one file and the bench
measures (1) until `search(word, mode="bm25")` returns the file (keyword-searchable; target
p95 < 1 s) and (2) until the file's `FileEmbedded` event after the edit (semantically
searchable; target p95 < 5 s). Then one embedded file is renamed `--renames` (10) times and the
embedding work on the embedder thread is counted: it must be 0.

    .venv/bin/python bench/bench_live_sync.py --files 1000 --trials 20
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import statistics
import string
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_indexing import (
    ROOT,
    TOPICS_JSON,
    EmbedCounter,
    EventLog,
    loadavg,
    pct,
    peak_rss_mb,
)

sys.path.insert(0, str(ROOT))

from indexer.config import load_settings
from indexer.events import FileEmbedded, FileMoved, FileParsed
from indexer.service import KnowledgeBase, build_hub

_SENT = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")


def sentences_from_pydoc() -> list[str]:
    topics: dict[str, str] = json.loads(TOPICS_JSON.read_text(encoding="utf-8"))
    out: list[str] = []
    for _name, text in sorted(topics.items()):
        for para in re.split(r"\n\s*\n", text):
            flat = " ".join(para.split())
            if not flat or flat.startswith((">>>", "...")) or "***" in flat or "---" in flat:
                continue
            for s in _SENT.split(flat):
                if 40 <= len(s) <= 300 and s[-1] in ".!?":
                    out.append(s)
    return out


def make_notes(folder: Path, n: int, seed: int = 0) -> list[Path]:
    rng = random.Random(seed)
    sents = sentences_from_pydoc()
    folder.mkdir(parents=True)
    paths = []
    for i in range(n):
        k = rng.randint(2, 5)
        start = rng.randrange(0, len(sents) - k)
        p = folder / f"note_{i:04d}.txt"
        p.write_text(" ".join(sents[start : start + k]) + "\n", encoding="utf-8")
        paths.append(p)
    return paths


def unique_word(rng: random.Random) -> str:
    return "zq" + "".join(rng.choice(string.ascii_lowercase) for _ in range(10))


def part_b(work: Path, args: argparse.Namespace) -> dict[str, Any]:
    folder = work / "notes"
    paths = make_notes(folder, args.files)
    home = work / "home_b"
    settings = load_settings(home, folders=[folder], embed_threads=args.threads)
    hub = build_hub(settings)
    hub.embedder().load()
    counter = EmbedCounter(hub.embedder())
    events = EventLog()
    rng = random.Random(1)
    result: dict[str, Any] = {"files": len(paths)}
    with KnowledgeBase(settings, hub, events) as kb:
        w0 = time.perf_counter()
        kb.scan()
        kb.wait_idle()
        wall = time.perf_counter() - w0
        assert kb.store is not None and kb.pipeline is not None
        n_chunks = kb.store.chunk_count()
        result.update(
            index_wall_s=round(wall, 2),
            chunks=n_chunks,
            index_chunks_per_s=round(n_chunks / wall, 2),
        )
        kb.start_watching()
        time.sleep(1.0)
        kw_lat: list[float] = []
        parsed_lat: list[float] = []
        sem_lat: list[float] = []
        misses = {"keyword": 0, "embedded": 0}
        search_polls = 0
        load_before = loadavg()
        targets = rng.sample(paths, args.trials)
        for path in targets:
            kb.wait_idle()
            word = unique_word(rng)
            key = str(path)
            mark = events.mark()
            t_wall0 = time.time()
            t0 = time.perf_counter()
            with open(path, "a", encoding="utf-8") as fh:
                fh.write(f" {word}\n")
            found: float | None = None
            while time.perf_counter() - t0 < args.trial_timeout:
                search_polls += 1
                hits = kb.search(word, 5, mode="bm25")
                if any(h.anchor.path == key for h in hits):
                    found = time.perf_counter() - t0
                    break
                time.sleep(args.poll_s)
            if found is None:
                misses["keyword"] += 1
            else:
                kw_lat.append(found)
            ev = events.wait_for(
                lambda e, key=key: isinstance(e, FileEmbedded) and e.path == key,
                mark,
                args.trial_timeout,
            )
            if ev is None:
                misses["embedded"] += 1
            else:
                sem_lat.append(ev.at - t_wall0)
            pe = events.wait_for(
                lambda e, key=key: isinstance(e, FileParsed) and e.path == key, mark, 0.1
            )
            if pe is not None:
                parsed_lat.append(pe.at - t_wall0)
        # The edited file must now be found by meaning too (sanity, untimed).
        vec_ok = bool(kb.search(" ".join(targets[-1].read_text().split()[:12]), 5, mode="vector"))

        def summary(v: list[float]) -> dict[str, Any]:
            if not v:
                return {"n": 0}
            return {
                "n": len(v),
                "p50_s": round(statistics.median(v), 3),
                "p95_s": round(pct(v, 95), 3),
                "max_s": round(max(v), 3),
            }

        result.update(
            trials=args.trials,
            keyword_searchable=summary(kw_lat),
            file_parsed_event=summary(parsed_lat),
            semantically_searchable=summary(sem_lat),
            misses=misses,
            search_polls=search_polls,
            poll_interval_s=args.poll_s,
            vector_search_sanity=vec_ok,
            loadavg_during_trials=[load_before, loadavg()],
        )
        # Renames: nothing may be re-embedded.
        kb.wait_idle()
        time.sleep(0.5)
        edited = {str(p) for p in targets}
        victim = next(p for p in paths if str(p) not in edited)
        calls0, texts0 = counter.pipeline_calls, counter.pipeline_texts
        progress0 = kb.pipeline.progress.chunks_embedded
        mark = events.mark()
        move_lat: list[float] = []
        moved_ok = 0
        current = victim
        for i in range(args.renames):
            dest = current.with_name(f"{victim.stem}_r{i + 1}.txt")
            t_wall0 = time.time()
            os.rename(current, dest)
            ev = events.wait_for(
                lambda e, d=str(dest): isinstance(e, FileMoved) and e.dest == d,
                mark,
                args.trial_timeout,
            )
            if ev is not None:
                moved_ok += 1
                move_lat.append(ev.at - t_wall0)
            current = dest
            kb.wait_idle()
        time.sleep(1.0)
        kb.wait_idle()
        after = events.events[mark:]
        reembedded_events = [e for e in after if isinstance(e, FileEmbedded) and e.embedded > 0]
        final_hits = kb.search(" ".join(current.read_text().split()[:8]), 5, mode="bm25")
        result["renames"] = {
            "renames": args.renames,
            "file_moved_events": moved_ok,
            "file_moved_latency": summary(move_lat),
            "embed_calls": counter.pipeline_calls - calls0,
            "embed_texts": counter.pipeline_texts - texts0,
            "chunks_embedded_delta": kb.pipeline.progress.chunks_embedded - progress0,
            "file_embedded_events_with_embedded_gt_0": len(reembedded_events),
            "final_name_found_by_bm25": any(h.anchor.path == str(current) for h in final_hits),
            "old_names_left_in_index": sum(
                1
                for f in kb.store.list_files()
                if f.path.startswith(str(folder / victim.stem)) and f.path != str(current)
            ),
        }
        result["peak_rss_mb"] = peak_rss_mb()
    return result


# ----------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--threads", type=int, default=0, help="embed_threads; 0 = all cores")
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--renames", type=int, default=10)
    parser.add_argument("--poll-s", type=float, default=0.03)
    parser.add_argument("--trial-timeout", type=float, default=60.0)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="cairn-bench-live-"))
    try:
        print(json.dumps({"loadavg_at_start": loadavg(), "live_sync": part_b(work, args)},
                         indent=2))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
