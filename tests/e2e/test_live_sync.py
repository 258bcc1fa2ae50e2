"""Live folder sync through the real watcher, store and pipeline (fake models for speed)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from indexer.config import load_settings
from indexer.events import FileEmbedded, FileMoved
from indexer.service import KnowledgeBase, build_hub


def _wait(predicate, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


@pytest.fixture
def setup(tmp_path: Path):  # type: ignore[no-untyped-def]
    docs = tmp_path / "docs"
    (docs / "sub").mkdir(parents=True)
    (docs / "alpha.md").write_text("# Alpha\n\nThe walrus keeps a ledger of tides.\n")
    (docs / "sub" / "beta.txt").write_text("Quartz crystals hum in the beta cave.\n")
    events: list[object] = []
    settings = load_settings(tmp_path / "home", folders=[docs], embedder_backend="fake",
                             generator_backend="fake")
    kb = KnowledgeBase(settings, build_hub(settings), events.append).open()
    kb.index(timeout=60)
    kb.start_watching()
    yield kb, docs, events
    kb.close()


def _paths(kb: KnowledgeBase, query: str) -> set[str]:
    return {Path(h.anchor.path).name for h in kb.search(query, 5, mode="bm25")}


def test_edit_rename_delete_and_folder_move(setup) -> None:  # type: ignore[no-untyped-def]
    kb, docs, events = setup
    embedded_before = kb.pipeline.progress.chunks_embedded

    (docs / "alpha.md").write_text("# Alpha\n\nThe walrus keeps a ledger of zeppelins.\n")
    _wait(lambda: "alpha.md" in _paths(kb, "zeppelins"))

    os.rename(docs / "alpha.md", docs / "gamma.md")
    _wait(lambda: "gamma.md" in _paths(kb, "zeppelins") and "alpha.md" not in _paths(kb, "walrus"))
    assert any(isinstance(e, FileMoved) for e in events)

    os.rename(docs / "sub", docs / "moved")
    _wait(lambda: any("moved" in p for p in (f.path for f in kb.files())))
    hits = kb.search("quartz", 3, mode="bm25")
    assert hits and hits[0].anchor.path == str(docs / "moved" / "beta.txt")

    (docs / "gamma.md").unlink()
    _wait(lambda: not _paths(kb, "zeppelins"))
    assert kb.wait_idle(30)
    # Only the edit needed a new vector; the renames and the folder move re-pointed rows.
    assert kb.pipeline.progress.chunks_embedded - embedded_before == 1
    assert sorted(Path(f.path).name for f in kb.files()) == ["beta.txt"]


def test_unchanged_files_are_not_reparsed_on_restart(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    for i in range(5):
        (docs / f"f{i}.txt").write_text(f"document number {i} about otters\n")
    settings = load_settings(tmp_path / "home", folders=[docs], embedder_backend="fake",
                             generator_backend="fake")
    with KnowledgeBase(settings, build_hub(settings)) as kb:
        kb.index(timeout=60)
    os.utime(docs / "f0.txt")  # touched, same content
    (docs / "f1.txt").write_text("document number 1 about beavers\n")
    events: list[object] = []
    with KnowledgeBase(settings, build_hub(settings), events.append) as kb:
        plan = kb.index(timeout=60)
        assert (plan.added, plan.changed, plan.unchanged) == (0, 2, 3)
        embedded = [e for e in events if isinstance(e, FileEmbedded)]
        assert [Path(e.path).name for e in embedded] == ["f1.txt"]
        assert embedded[0].embedded == 1


def test_chunk_setting_change_rechunks_and_reuses_vectors(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    paragraphs = [f"Paragraph {i} tells of river {i} and its {i} bridges." for i in range(80)]
    (docs / "long.md").write_text("# Rivers\n\n" + "\n\n".join(paragraphs) + "\n")
    home = tmp_path / "home"
    settings = load_settings(home, folders=[docs], embedder_backend="fake",
                             generator_backend="fake", chunk_tokens=200)
    with KnowledgeBase(settings, build_hub(settings)) as kb:
        kb.index(timeout=60)
        before = kb.store.chunk_count()
    settings = load_settings(home, folders=[docs], embedder_backend="fake",
                             generator_backend="fake", chunk_tokens=64)
    with KnowledgeBase(settings, build_hub(settings)) as kb:
        plan = kb.index(timeout=60)
        assert plan.changed == 1
        assert kb.store.chunk_count() > before
        assert kb.status().files_by_stage["embedded"] == 1


def test_second_process_on_same_home_is_refused(tmp_path: Path) -> None:
    from indexer.errors import IndexLockedError

    settings = load_settings(tmp_path / "home", embedder_backend="fake", generator_backend="fake")
    with KnowledgeBase(settings, build_hub(settings)):
        with pytest.raises(IndexLockedError, match="Another Cairn process"):
            KnowledgeBase(settings, build_hub(settings)).open()
