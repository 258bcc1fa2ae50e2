"""Writer overhead for many small files: this checkout vs another git revision, side by side.

Prints one JSON object. Indexes the same folder of `--files` small text files (600 bytes each,
one chunk) with the fake embedder, so what is timed is Cairn's writer (stat, hash, parse, chunk
and LanceDB writes), not the model. Runs alternate between the two code trees `--rounds` times
in fresh subprocesses and homes, so drifting load on the machine hits both alike. Several sizes
(`--files 1000,10000`) show how throughput holds up as the index grows; `load_avg` is the
machine's 1-minute load average around each size's runs.

    git worktree add /tmp/old <rev>
    .venv/bin/python bench/bench_writer.py --other /tmp/old --files 1000,10000 --rounds 2
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CHILD = """
import sys, time
from pathlib import Path
from indexer.config import load_settings
from indexer.service import KnowledgeBase, build_hub
s = load_settings(Path(sys.argv[1]), folders=[Path(sys.argv[2])], embedder_backend="fake",
                  generator_backend="fake")
with KnowledgeBase(s, build_hub(s)) as kb:
    t = time.perf_counter()
    kb.index(timeout=3600)
    print(time.perf_counter() - t, kb.status().files_by_stage.get("embedded", 0))
"""


def make_files(folder: Path, n: int) -> None:
    folder.mkdir(parents=True)
    words = [
        "cairn",
        "stone",
        "trail",
        "marker",
        "ridge",
        "valley",
        "river",
        "summit",
        "path",
        "guide",
    ]
    for i in range(n):
        text = " ".join(words[(i * 7 + k) % len(words)] for k in range(90)) + f" note{i}\n"
        (folder / f"note{i:05d}.txt").write_text(text[:600], encoding="utf-8")


def run(tree: Path, home: Path, docs: Path) -> tuple[float, int]:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(home), str(docs)],
        cwd=tree,
        env={**os.environ, "PYTHONPATH": str(tree)},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return float(out[-2]), int(out[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--other", type=Path, required=True, help="checkout of the other rev")
    parser.add_argument("--files", default="300", help="file count, or several: 1000,10000")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    sizes = [int(n) for n in str(args.files).split(",") if n]
    out: dict[str, object] = {"benchmark": "writer_small_files", "rounds": args.rounds}
    for size in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            docs = Path(tmp) / "docs"
            make_files(docs, size)
            times: dict[str, list[float]] = {"this": [], "other": []}
            load = [round(os.getloadavg()[0], 2)]
            for r in range(args.rounds):
                for name, tree in (("other", args.other), ("this", REPO)):
                    seconds, embedded = run(tree, Path(tmp) / f"home-{name}-{r}", docs)
                    assert embedded == size, f"{name}: {embedded} of {size} embedded"
                    times[name].append(round(seconds, 2))
                    load.append(round(os.getloadavg()[0], 2))
        med = {k: statistics.median(v) for k, v in times.items()}
        out[str(size)] = {
            "seconds": times,
            "files_per_s_median": {k: round(size / v, 1) for k, v in med.items()},
            "speedup_this_vs_other": round(med["other"] / med["this"], 2),
            "load_avg": load,
        }
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
