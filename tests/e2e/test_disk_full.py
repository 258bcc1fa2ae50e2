"""End to end: a full disk while indexing, and a file rewritten while it is being parsed.

Disk full is simulated two ways: at the LanceDB table handles the store writes through (every
commit raises `OSError(ENOSPC)`, or only the chunk table's, as when a small row still fits but a
batch of chunks does not), and, as root on Linux, for real on a small tmpfs holding the Cairn home.
Either way Cairn must keep running, report the affected files with a reason naming the missing
space, keep the previous index readable, and index the new files on a rescan once space is back.

A rewrite during parsing is simulated by wrapping `indexer.ingest.pipeline.parse_file`: the file changes
before the parser reads it, after it read it, or (an editor truncating then writing) the parser
sees the truncated file and fails while the final bytes land. A rescan must leave the index
holding the final content with the final content hash.
"""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NoReturn

import pytest

from indexer.config import load_settings
from indexer.events import FileFailed, FileStage
from indexer.ingest import pipeline_files as pipeline_module  # where the writer calls parse_file
from indexer.ingest.file_state import hash_file
from indexer.service import KnowledgeBase, build_hub
from tests.e2e.store_checks import assert_store_consistent


def _enospc(*_args: object, **_kwargs: object) -> NoReturn:
    raise OSError(errno.ENOSPC, "No space left on device")


WRITE_METHODS = {"add", "delete", "update", "merge_insert", "optimize"}


class _FullBuilder:
    """A merge_insert builder: configuring works, `execute` hits the full disk."""

    def __getattr__(self, name: str) -> Callable[..., Any]:
        return _enospc if name == "execute" else lambda *_a, **_k: self


class _FullTable:
    """A LanceDB table handle whose writes fail as on a full disk; reads pass through."""

    def __init__(self, table: Any) -> None:
        self._table = table

    def __getattr__(self, name: str) -> Any:
        if name == "merge_insert":
            return lambda *_a, **_k: _FullBuilder()
        if name in WRITE_METHODS:
            return _enospc
        return getattr(self._table, name)


def _open(home: Path, root: Path, events: list[object]) -> KnowledgeBase:
    settings = load_settings(
        home, embedder_backend="fake", generator_backend="fake", folders=[root]
    )
    return KnowledgeBase(settings, build_hub(settings), events.append).open()


def _paths(kb: KnowledgeBase, query: str, mode: str = "bm25") -> set[str]:
    return {h.anchor.path for h in kb.search(query, mode=mode)}  # type: ignore[arg-type]


def _writer_alive(kb: KnowledgeBase) -> bool:
    assert kb.pipeline is not None
    return any(t.name == "cairn-writer" and t.is_alive() for t in kb.pipeline._threads)


@pytest.fixture
def thread_errors(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Exceptions that escaped any thread (a traceback the caller would never see handled)."""
    seen: list[str] = []
    monkeypatch.setattr(
        threading, "excepthook", lambda a: seen.append(f"{a.thread}: {a.exc_value!r}")
    )
    return seen


def _seed(root: Path) -> None:
    root.mkdir()
    (root / "edited.md").write_text("# Rocks\n\nThe ammonitegleam fossil sits in limestone.\n")
    (root / "kept.md").write_text("# Basalt\n\nColumnar basaltvoss pillars cool into hexagons.\n")


def _fill_disk_then_check(
    kb: KnowledgeBase,
    root: Path,
    events: list[object],
    thread_errors: list[str],
    make_full: Callable[[], None],
    make_room: Callable[[], None],
    *,
    chunks_only: bool = False,
) -> None:
    """Shared scenario: index, fill the disk, edit + add files, check, free space, rescan."""
    edited, kept = root / "edited.md", root / "kept.md"
    kb.scan()
    assert kb.wait_idle(60)
    assert {f.stage for f in kb.files()} == {FileStage.EMBEDDED}
    before = {f.path: f for f in kb.files()}
    assert kb.store is not None
    edited_rows = kb.store.chunks_for_file(str(edited))

    make_full()
    edited.write_text("# Rocks\n\nA cinnabarquell vein now crosses the limestone.\n")
    added = root / "added.md"
    added.write_text("# New\n\nA dolomitezest ridge rises beyond the valley.\n")
    kb.scan()  # returns: the failures happen on the writer thread
    assert kb.wait_idle(60), "the pipeline did not settle while the disk was full"

    assert _writer_alive(kb), "the writer thread died on a full disk"
    assert not thread_errors, thread_errors
    failed = {e.path: e.reason for e in events if isinstance(e, FileFailed)}
    for path in (str(edited), str(added)):
        assert path in failed, f"{path} was not reported as failed; events: {failed}"
        reason = failed[path].lower()
        assert "space" in reason or "disk" in reason, failed[path]
        assert "traceback" not in reason, failed[path]
    status = kb.status()  # status works while the disk is full
    assert status.idle
    for path, reason in status.failures:
        assert "space" in reason.lower() or "disk" in reason.lower(), (path, reason)

    # The previous index is still readable and searchable, the edited file's old text included:
    # its chunk rows are untouched.
    assert str(kept) in _paths(kb, "basaltvoss") and str(kept) in _paths(kb, "basaltvoss", "hybrid")
    assert str(edited) in _paths(kb, "ammonitegleam")
    assert str(edited) in _paths(kb, "ammonitegleam", "hybrid")
    assert kb.store.chunks_for_file(str(edited)) == edited_rows
    if not chunks_only:  # nothing could be written at all: the file rows are as they were
        assert {f.path: f for f in kb.files()} == before
    else:  # the file rows went `queued` with no content hash before the chunk write failed, and
        # stay so (not failed, not claiming the new bytes): the scanner's cue to retry them
        records = {f.path: f for f in kb.files()}
        for path in (edited, added):
            rec = records.get(str(path))
            assert rec is not None and rec.stage == FileStage.QUEUED, (path, rec)
            assert rec.content_hash == "", (path, rec)
    assert kb.store.get_file(str(kept)) == before[str(kept)]
    assert not _paths(kb, "dolomitezest") and not _paths(kb, "cinnabarquell")
    assert_store_consistent(kb)

    make_room()
    kb.scan()
    assert kb.wait_idle(60)
    records = {f.path: f for f in kb.files()}
    for path in (edited, added, kept):
        rec = records.get(str(path))
        assert rec is not None and rec.stage == FileStage.EMBEDDED, (path, rec)
        assert rec.content_hash == hash_file(path)[0], path
    assert _paths(kb, "dolomitezest") == {str(added)}
    assert _paths(kb, "cinnabarquell", "hybrid") >= {str(edited)}
    assert str(edited) not in _paths(kb, "ammonitegleam")
    assert_store_consistent(kb)
    assert _writer_alive(kb) and not thread_errors, thread_errors


@pytest.mark.parametrize("which", ["every write", "chunk writes only"])
def test_disk_full_while_writing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, thread_errors: list[str], which: str
) -> None:
    root = tmp_path / "docs"
    _seed(root)
    events: list[object] = []
    with _open(tmp_path / "home", root.resolve(), events) as kb:
        assert kb.store is not None
        tables = kb.store.tables
        real_writer = tables.writer
        full = threading.Event()

        def writer(table: str) -> Any:
            handle = real_writer(table)
            if full.is_set() and (which == "every write" or table == "chunks"):
                return _FullTable(handle)
            return handle

        monkeypatch.setattr(tables, "writer", writer)
        _fill_disk_then_check(
            kb,
            root.resolve(),
            events,
            thread_errors,
            full.set,
            full.clear,
            chunks_only=which == "chunk writes only",
        )


@pytest.fixture
def small_tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A 48 MiB tmpfs (root on Linux only; skipped where mounting is not permitted)."""
    if not sys.platform.startswith("linux") or os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root on Linux")
    mnt = tmp_path / "tmpfs"
    mnt.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=48m", "tmpfs", str(mnt)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_real_full_tmpfs(tmp_path: Path, small_tmpfs: Path, thread_errors: list[str]) -> None:
    root = tmp_path / "docs"
    _seed(root)
    filler = small_tmpfs / "filler.bin"

    def fill() -> None:
        with open(filler, "wb", buffering=0) as fh:
            for block in (1 << 20, 4096, 1):
                try:
                    while True:
                        fh.write(b"\0" * block)
                except OSError as exc:
                    assert exc.errno == errno.ENOSPC, exc

    events: list[object] = []
    with _open(small_tmpfs / "home", root.resolve(), events) as kb:
        _fill_disk_then_check(kb, root.resolve(), events, thread_errors, fill, filler.unlink)


OLD = "# Log\n\nToday the obsidianmoth landed on the sill.\n"
NEW = "# Log\n\nToday the kestrelquirk landed on the sill.\n"


@pytest.mark.parametrize("when", ["before the read", "after the read", "truncated then written"])
def test_file_rewritten_while_parsed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, thread_errors: list[str], when: str
) -> None:
    root = (tmp_path / "docs").resolve()
    root.mkdir()
    target = root / "log.txt"
    target.write_text(OLD)
    (root / "other.txt").write_text("An unrelated note about tidepools.\n")
    real_parse = pipeline_module.parse_file
    rewrites: list[str] = []

    def racing_parse(path: Path) -> Any:
        if Path(path) != target or rewrites:
            return real_parse(path)
        rewrites.append(when)
        if when == "before the read":
            target.write_text(NEW)
            return real_parse(path)
        if when == "after the read":
            doc = real_parse(path)
            target.write_text(NEW)
            return doc
        # An editor that truncates, then writes: the parser sees the empty file and fails,
        # and the new bytes land before the pipeline records that failure.
        with open(target, "wb") as fh:
            try:
                return real_parse(path)
            finally:
                fh.write(NEW.encode())

    monkeypatch.setattr(pipeline_module, "parse_file", racing_parse)
    events: list[object] = []
    with _open(tmp_path / "home", root, events) as kb:
        kb.scan()
        assert kb.wait_idle(60)
        assert rewrites == [when], "the parse of the file was not intercepted"
        final_hash = hash_file(target)[0]
        assert kb.store is not None
        rec = kb.store.get_file(str(target))
        # Never claim the final bytes while holding older text (a rescan would then skip it).
        if rec is not None and rec.content_hash == final_hash:
            assert str(target) in _paths(kb, "kestrelquirk"), rec

        kb.scan()
        assert kb.wait_idle(60)
        rec = kb.store.get_file(str(target))
        assert rec is not None, "the file has no row after a rescan"
        assert rec.stage == FileStage.EMBEDDED, (
            f"after a rescan the file is {rec.stage}: {rec.reason!r} "
            f"(on disk: {target.read_text()!r})"
        )
        assert rec.content_hash == final_hash
        assert (rec.size, rec.mtime_ns) == hash_file(target)[1:]
        assert _paths(kb, "kestrelquirk") == {str(target)}
        assert str(target) in _paths(kb, "kestrelquirk", "hybrid")
        assert not _paths(kb, "obsidianmoth")
        assert_store_consistent(kb)
        assert not thread_errors, thread_errors
