"""End to end: SIGKILL at a random moment of indexing never corrupts or loses the index.

Each trial runs `tests/e2e/crash_worker.py` (a real Cairn process, fake models) on a folder of
small documents, kills it with SIGKILL at a random time, then reopens the same home in this
process, scans and waits. The result must equal a clean index of the same folder built in
another home: the same files, the same chunks (path, ordinal, text hash), no duplicates, no
orphans, every file embedded. And nothing already embedded is embedded again: the restart embeds
at most the chunks that had no vector at kill time plus the chunks of files not yet written.

The seed is printed; set CAIRN_CRASH_SEED to replay a run.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from indexer.config import Settings, load_settings
from indexer.errors import IndexLockedError
from indexer.events import FileStage
from indexer.service import KnowledgeBase, build_hub
from indexer.storage.store import IndexStore

REPO = Path(__file__).resolve().parents[2]
N_FILES = 60
WORDS = [
    "alpha",
    "beta",
    "gamma",
    "delta",
    "river",
    "stone",
    "cloud",
    "ember",
    "maple",
    "cedar",
    "harbor",
    "quartz",
    "lantern",
    "meadow",
    "falcon",
    "orbit",
    "granite",
    "willow",
    "copper",
    "tundra",
]


def make_corpus(root: Path, n: int, seed: int) -> None:
    rng = random.Random(seed)
    for i in range(n):
        d = root / f"sub{i % 7}"
        d.mkdir(parents=True, exist_ok=True)
        body = " ".join(
            f"{rng.choice(WORDS)}{rng.randint(0, 999)}" for _ in range(rng.randint(20, 700))
        )
        (d / f"doc{i:03d}.md").write_text(f"# Document {i}\n\nuniq{i} {body}\n")


def settings_for(home: Path, root: Path) -> Settings:
    return load_settings(home, embedder_backend="fake", generator_backend="fake", folders=[root])


def chunk_keys(store: IndexStore) -> list[tuple[str, int, str]]:
    keys = []
    for f in store.list_files():
        keys.extend((f.path, r["ordinal"], r["text_hash"]) for r in store.chunks_for_file(f.path))
    return sorted(keys)


def assert_clean(store: IndexStore) -> None:
    files = store.list_files()
    assert len({f.path for f in files}) == len(files), "duplicate file rows"
    keys = chunk_keys(store)
    dupes = [k for k, n in Counter((p, o) for p, o, _ in keys).items() if n > 1]
    assert not dupes, f"duplicate chunk rows: {dupes[:5]}"
    assert store.chunk_count() == len(keys), "orphan chunk rows (files not in the files table)"
    not_done = [
        (f.path, f.stage, f.reason)
        for f in files
        if f.stage != FileStage.EMBEDDED
    ]
    assert not not_done, f"files not embedded after restart: {not_done[:5]}"
    assert store.pending_count() == 0


def spawn_worker(home: Path, root: Path, log: Path, *extra: str) -> subprocess.Popen[str]:
    env = dict(os.environ, PYTHONPATH=str(REPO), CAIRN_HOME=str(home))
    with log.open("w") as err:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(
            [sys.executable, "-u", "-m", "tests.e2e.crash_worker", str(home), str(root), *extra],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
        )


def wait_for(proc: subprocess.Popen[str], marker: str) -> None:
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.strip() == marker:
            return
    raise AssertionError(f"worker exited (rc={proc.wait()}) before printing {marker}")


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list, float]:
    """The corpus and its clean index (built once), with how long indexing took."""
    base = tmp_path_factory.mktemp("crash")
    root = base / "docs"
    make_corpus(root, N_FILES, seed=7)
    s = settings_for(base / "ref-home", root)
    with KnowledgeBase(s, build_hub(s)) as kb:
        t0 = time.monotonic()
        kb.scan()
        assert kb.wait_idle(600)
        took = time.monotonic() - t0
        assert kb.store is not None
        assert_clean(kb.store)
        keys = chunk_keys(kb.store)
    return root, keys, took


def run_trials(tmp_path: Path, reference: tuple[Path, list, float], trials: int) -> list[str]:
    root, ref_keys, took = reference
    ref_chunks_per_file = Counter(p for p, _, _ in ref_keys)
    seed = int(os.environ.get("CAIRN_CRASH_SEED", random.randrange(1 << 30)))
    print(f"\ncrash trials: seed={seed}, clean index took {took:.1f}s")
    rng = random.Random(seed)
    report = []
    for trial in range(trials):
        home = tmp_path / f"home{trial}"
        s = settings_for(home, root)
        log = tmp_path / f"worker{trial}.log"
        proc = spawn_worker(home, root, log)
        wait_for(proc, "OPEN")
        delay = rng.uniform(0.0, took * 0.9)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
        proc.stdout.close()  # type: ignore[union-attr]

        # What survived the kill, read before anything resumes.
        hub = build_hub(s)
        emb = hub.embedder()
        killed = IndexStore.open(s.paths.index_dir, emb.model_id, emb.dim)
        try:
            at_kill = {f.path: f for f in killed.list_files()}
            pending = killed.pending_count()
        finally:
            killed.close()
        unwritten = sum(
            n
            for path, n in ref_chunks_per_file.items()
            if path not in at_kill
            or at_kill[path].stage not in (FileStage.PARSED, FileStage.EMBEDDED)
        )
        stages = Counter(str(f.stage) for f in at_kill.values())

        with KnowledgeBase(s, hub) as kb:
            kb.scan()
            assert kb.wait_idle(600), f"trial {trial}: restart did not finish"
            assert kb.store is not None and kb.pipeline is not None
            embedded_after = kb.pipeline.progress.chunks_embedded
            assert_clean(kb.store)
            assert chunk_keys(kb.store) == ref_keys, f"trial {trial}: index differs from clean"
            assert {f.path for f in kb.store.list_files()} == set(ref_chunks_per_file)
            assert embedded_after <= pending + unwritten, (
                f"trial {trial}: re-embedded {embedded_after} chunks, but only {pending} lacked a "
                f"vector and {unwritten} were unwritten at kill time"
            )
        line = (
            f"trial {trial}: killed after {delay:.2f}s, at kill {dict(stages)}, "
            f"{pending} chunks without vector, {unwritten} unwritten; "
            f"restart embedded {embedded_after}"
        )
        print(line)
        report.append(line)
    return report


def test_sigkill_during_indexing_recovers(
    tmp_path: Path, reference: tuple[Path, list, float]
) -> None:
    run_trials(tmp_path, reference, trials=5)


@pytest.mark.slow
def test_sigkill_during_indexing_recovers_many(
    tmp_path: Path, reference: tuple[Path, list, float]
) -> None:
    run_trials(tmp_path, reference, trials=30)


def test_second_process_gets_index_locked_error(tmp_path: Path) -> None:
    root = tmp_path / "docs"
    make_corpus(root, 3, seed=1)
    home = tmp_path / "home"
    proc = spawn_worker(home, root, tmp_path / "holder.log", "--hold", "120")
    try:
        wait_for(proc, "IDLE")
        s = settings_for(home, root)
        kb = KnowledgeBase(s, build_hub(s))
        with pytest.raises(IndexLockedError) as info:
            kb.open()
        err = info.value
        assert "Another Cairn process" in err.message and str(home) in err.message
        assert err.hint and "CAIRN_HOME" in err.hint
        assert kb.store is None and kb.pipeline is None  # nothing half-open left behind
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
        proc.stdout.close()  # type: ignore[union-attr]
    # The kernel drops the lock with the killed process: the home opens again.
    with KnowledgeBase(s, build_hub(s)) as kb:
        kb.scan()
        assert kb.wait_idle(60)
        assert len(kb.files()) == 3


def test_file_stuck_parsed_after_kill_between_vectors_and_stage(tmp_path: Path) -> None:
    root = tmp_path / "docs"
    make_corpus(root, 3, seed=3)
    s = settings_for(tmp_path / "home", root)
    with KnowledgeBase(s, build_hub(s)) as kb:
        kb.scan()
        assert kb.wait_idle(60)
        assert kb.store is not None
        victim = kb.store.list_files()[0].path
        # Exactly the state the kill leaves: every chunk has its vector, the row says `parsed`.
        kb.store.set_stage(victim, FileStage.PARSED)
        assert all(r["embedded"] for r in kb.store.chunks_for_file(victim))
    with KnowledgeBase(s, build_hub(s)) as kb:  # restart
        kb.scan()
        assert kb.wait_idle(60)
        assert kb.store is not None
        assert kb.pipeline is not None and kb.pipeline.progress.chunks_embedded == 0
        assert kb.store.get_file(victim).stage == FileStage.EMBEDDED
