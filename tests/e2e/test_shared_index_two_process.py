"""End to end: a laptop searches a shared index while another process writes it.

The writer (`tests/e2e/shared_writer.py`, a real process, `IndexStore` as `cairn index` uses it)
commits batches of exactly ROWS chunks into a folder that stands for the network share, one
commit per batch. The laptop (this process: a `KnowledgeBase` with a private folder and that
folder as its `shared_index`) keeps searching the whole time and checks, on every look, that

- every batch it sees has exactly ROWS rows (a commit is seen whole or not at all: LanceDB
  writes the manifest last) and the number of rows never goes down;
- its searches never fail and, once a batch is visible, find the shared index's rows;
- each batch becomes visible within a bounded time after the writer reported it.

Then the writer is SIGKILLed at a random moment of its commit loop; the laptop keeps serving
the same consistent data, and a new writer opens the same folder, carries on after the last
complete batch, and the laptop sees its batches too. Figures (visibility delay, searches served)
are printed as one JSON line (`pytest -s`); docs/shared_index.md quotes a run. The seed is
printed; set CAIRN_SHARED_SEED to replay it.
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import IO

from indexer.answer.shared_search import SHARED
from indexer.service import KnowledgeBase
from tests.indexer.builders import TIMEOUT, make_settings, open_hub_kb

REPO = Path(__file__).resolve().parents[2]
ROWS = 40
BATCH = re.compile(r"/team/batch-(\d+)\.md$")
VISIBLE_WITHIN_S = 30.0  # generous: a shared CI machine; the measured delay is far lower
REFRESH_S = 0.2


class Writer:
    """A writer process and the commit times it reports (read on a thread)."""

    def __init__(self, location: str, log: Path, *extra: str) -> None:
        self.committed: dict[int, float] = {}
        self.start: int | None = None
        self.done = threading.Event()
        self._err: IO[bytes] = open(log, "ab")  # noqa: SIM115 - closed in wait()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.e2e.shared_writer", location, "--rows", str(ROWS),
             *extra], cwd=REPO, stdout=subprocess.PIPE, stderr=self._err, text=True)
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            parts = line.split()
            if parts[:1] == ["OPEN"]:
                self.start = int(parts[1])
            elif parts[:1] == ["COMMITTED"]:
                self.committed[int(parts[1])] = float(parts[2])
        self.done.set()

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.wait()

    def wait(self, timeout: float = 120) -> int:
        code = self.proc.wait(timeout)
        self.done.wait(timeout)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self._err.close()
        return code


class Laptop:
    """The reader: searches through its KnowledgeBase and checks what it sees."""

    def __init__(self, kb: KnowledgeBase) -> None:
        self.kb = kb
        self.first_seen: dict[int, float] = {}
        self.rows_seen = 0
        self.searches = 0
        self.looks = 0
        self.errors: list[str] = []

    def look(self) -> Counter[int]:
        """One search and one consistency check of the shared index's current version."""
        hits = self.kb.search("cairnshared granite lantern", 5)
        self.searches += 1
        if self.kb.shared.error:
            self.errors.append(self.kb.shared.error)
        index = self.kb.shared.index(self.kb.retriever)
        assert index is not None
        index.follow()
        rows = index.store.tables.select("chunks", None, columns=["path"])  # one version
        now = time.time()
        batches = Counter(int(m.group(1)) for r in rows if (m := BATCH.search(r["path"])))
        bad = {b: n for b, n in batches.items() if n != ROWS}
        assert not bad, f"half a commit visible: {bad}"
        total = sum(batches.values())
        assert total >= self.rows_seen, "rows went missing"
        self.rows_seen = total
        for b in batches:
            self.first_seen.setdefault(b, now)
        if batches:
            assert any(h.anchor.origin == SHARED for h in hits), "no shared hit"
        self.looks += 1
        return batches

    def until(self, done: threading.Event | None, want: set[int], timeout: float) -> None:
        """Look continuously until `done` is set and `want` is visible (or time runs out)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            seen = self.look()
            if (done is None or done.is_set()) and want <= set(seen):
                return
            time.sleep(0.01)
        raise AssertionError(f"batches not visible in time: {sorted(want - set(self.look()))}")


def test_reader_serves_through_commits_and_a_sigkilled_writer(tmp_path: Path) -> None:
    seed = int(os.environ.get("CAIRN_SHARED_SEED", random.randrange(1 << 30)))
    print(f"CAIRN_SHARED_SEED={seed}")
    rng = random.Random(seed)
    share = tmp_path / "network-share" / "index"
    private = tmp_path / "private"
    private.mkdir()
    (private / "notes.md").write_text("# Notes\n\nMy own granite lantern notes.\n")
    log = tmp_path / "writers.log"

    # The writer creates the index; the laptop starts once there is one.
    first = Writer(str(share), log)
    try:
        deadline = time.monotonic() + TIMEOUT
        while not first.committed and time.monotonic() < deadline:
            time.sleep(0.02)
        assert first.committed, log.read_text()
        kb = open_hub_kb(make_settings(tmp_path / "laptop", [private], shared_index=str(share),
                                       shared_index_refresh_s=REFRESH_S))
        try:
            kb.index(timeout=TIMEOUT)
            laptop = Laptop(kb)
            started = time.monotonic()
            # Serve while the writer commits 8 more batches; then kill it at a random moment.
            ready_at = len(first.committed)
            while len(first.committed) < ready_at + 8 and time.monotonic() - started < TIMEOUT:
                laptop.look()
            assert first.proc.poll() is None, log.read_text()
            time.sleep(rng.uniform(0.0, 0.5))
            first.kill()
            searches_during_writes = laptop.searches
            serve_s = time.monotonic() - started
            killed_after = max(first.committed)
            laptop.until(None, set(first.committed), VISIBLE_WITHIN_S)

            # After the kill: the laptop keeps serving the same data...
            before = laptop.rows_seen
            for _ in range(20):
                laptop.look()
            assert laptop.rows_seen == before

            # ...and a new writer opens the same index and carries on.
            second = Writer(str(share), log, "--batches", "5")
            assert second.wait() == 0, log.read_text()
            assert second.start is not None and second.start >= killed_after + 1
            assert laptop.searches > searches_during_writes
            laptop.until(second.done, set(second.committed), VISIBLE_WITHIN_S)
        finally:
            kb.close()
    finally:
        if first.proc.poll() is None:
            first.kill()

    assert not laptop.errors, laptop.errors
    delays = [laptop.first_seen[b] - t for w in (first, second) for b, t in w.committed.items()]
    print(json.dumps({
        "rows_per_commit": ROWS, "refresh_s": REFRESH_S,
        "batches_before_kill": len(first.committed), "batches_after": len(second.committed),
        "searches_during_writes": searches_during_writes,
        "searches_per_s_during_writes": round(searches_during_writes / serve_s, 1),
        "looks_total": laptop.looks, "errors": len(laptop.errors),
        "visible_after_s": {"median": round(statistics.median(delays), 3),
                            "max": round(max(delays), 3)},
        "second_writer_started_at_batch": second.start, "killed_after_batch": killed_after,
    }))
