"""FolderWatcher with real watchdog (inotify on Linux) events in tmp_path.

Waiting uses `drain` with generous timeouts; nothing here asserts how fast anything is. Each test
ends by checking that nothing else arrives, so stray events fail the test.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from indexer.errors import UserInputError
from indexer.ingest.changes import Change, ChangeQueue
from indexer.ingest.file_filter import PathFilter
from indexer.ingest.watcher import FolderWatcher

# watchdog's inotify thread warns (harmlessly: it re-registers the same callback) when `mkdir -p`
# races its recursive watch setup; under filterwarnings=error that warning would kill the thread.
pytestmark = pytest.mark.filterwarnings(
    "ignore:Callback with id .* already exists for watch:RuntimeWarning"
)

WAIT = 10.0  # seconds to wait for a batch that must come
QUIET = 0.3


def _supported(path: Path) -> bool:
    return path.suffix in {".md", ".txt"}


def batch(q: ChangeQueue) -> list[Change]:
    """The next coalesced batch (fails if none arrives)."""
    changes = q.drain(quiet_seconds=QUIET, max_wait=5.0, timeout=WAIT)
    assert changes, "no change arrived"
    return changes


def assert_silent(q: ChangeQueue) -> None:
    assert q.drain(quiet_seconds=QUIET, timeout=1.0) == []


@pytest.fixture
def root(tmp_path: Path) -> Path:
    r = tmp_path / "docs"
    r.mkdir()
    return r


@pytest.fixture
def queue() -> Iterator[ChangeQueue]:
    q = ChangeQueue()
    yield q
    q.close()


@pytest.fixture
def watch(root: Path, queue: ChangeQueue) -> Iterator[FolderWatcher]:
    w = FolderWatcher([root], queue, PathFilter(supported=_supported))
    w.start()
    yield w
    w.stop()


def up(p: Path, is_dir: bool = False) -> Change:
    return Change("upsert", str(p), is_dir=is_dir)


def test_create_file(root: Path, queue: ChangeQueue, watch: FolderWatcher) -> None:
    (root / "a.md").write_text("hello")
    assert batch(queue) == [up(root / "a.md")]
    assert_silent(queue)


def test_quick_modifications_coalesce_to_one_upsert(
    root: Path, queue: ChangeQueue, watch: FolderWatcher
) -> None:
    target = root / "a.md"
    for i in range(10):
        with open(target, "a", encoding="utf-8") as fh:
            fh.write(f"line {i}\n")
    assert batch(queue) == [up(target)]
    assert_silent(queue)


def test_modify_existing_file(tmp_path: Path, root: Path, queue: ChangeQueue) -> None:
    target = root / "a.md"
    target.write_text("v1")
    with FolderWatcher([root], queue, PathFilter(supported=_supported)):
        target.write_text("v2")
        assert batch(queue) == [up(target)]
        assert_silent(queue)


def test_delete_file(root: Path, queue: ChangeQueue) -> None:
    target = root / "a.md"
    target.write_text("bye")
    with FolderWatcher([root], queue, PathFilter(supported=_supported)):
        target.unlink()
        assert batch(queue) == [Change("delete", str(target))]
        assert_silent(queue)


def test_rename_file_is_one_move(root: Path, queue: ChangeQueue) -> None:
    (root / "a.md").write_text("x")
    with FolderWatcher([root], queue, PathFilter(supported=_supported)):
        os.rename(root / "a.md", root / "b.md")
        assert batch(queue) == [Change("move", str(root / "a.md"), str(root / "b.md"))]
        assert_silent(queue)


def test_rename_folder_is_one_folder_move(root: Path, queue: ChangeQueue) -> None:
    src = root / "notes"
    (src / "deep").mkdir(parents=True)
    for i in range(5):
        (src / f"n{i}.md").write_text("x")
    (src / "deep" / "d.md").write_text("y")
    with FolderWatcher([root], queue, PathFilter(supported=_supported)):
        os.rename(src, root / "archive")
        assert batch(queue) == [
            Change("move", str(src), str(root / "archive"), is_dir=True),
        ]
        assert_silent(queue)


def test_delete_folder_is_one_folder_delete(root: Path, queue: ChangeQueue) -> None:
    target = root / "old"
    (target / "sub").mkdir(parents=True)
    for i in range(5):
        (target / f"f{i}.txt").write_text("x")
    (target / "sub" / "g.md").write_text("y")
    with FolderWatcher([root], queue, PathFilter(supported=_supported)):
        shutil.rmtree(target)
        assert batch(queue) == [Change("delete", str(target), is_dir=True)]
        assert_silent(queue)


def test_atomic_save_is_an_upsert_of_the_target(root: Path, queue: ChangeQueue) -> None:
    target = root / "report.md"
    target.write_text("v1")
    with FolderWatcher([root], queue, PathFilter(supported=_supported)):
        tmp = root / "report.md.tmp"
        tmp.write_text("v2")
        os.replace(tmp, target)
        assert batch(queue) == [up(target)]
        assert_silent(queue)


def test_rename_to_backup_then_rewrite_is_an_upsert(root: Path, queue: ChangeQueue) -> None:
    """vim's save: rename target to `target~`, write a new target, delete the backup."""
    target = root / "notes.md"
    target.write_text("v1")
    with FolderWatcher([root], queue, PathFilter(supported=_supported)):
        backup = root / "notes.md~"
        os.rename(target, backup)
        target.write_text("v2")
        backup.unlink()
        assert batch(queue) == [up(target)]
        assert_silent(queue)


def test_excluded_paths_produce_nothing(root: Path, queue: ChangeQueue) -> None:
    (root / ".git" / "objects").mkdir(parents=True)
    (root / "node_modules" / "pkg").mkdir(parents=True)
    with FolderWatcher([root], queue, PathFilter(supported=_supported)):
        (root / ".git" / "objects" / "ab.txt").write_text("blob")
        (root / ".git" / "HEAD.md").write_text("ref")
        (root / "node_modules" / "pkg" / "README.md").write_text("readme")
        (root / "draft.md.swp").write_text("swap")
        (root / "~$report.md").write_text("lock")
        (root / "picture.png").write_bytes(b"\x89PNG")  # unsupported
        (root / ".hidden").mkdir()
        (root / ".hidden" / "x.md").write_text("h")
        control = root / "control.md"
        control.write_text("written last")
        assert batch(queue) == [up(control)]
        assert_silent(queue)


def test_move_out_of_root_is_delete_and_move_in_is_upsert(
    tmp_path: Path, root: Path, queue: ChangeQueue
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (root / "leaving.md").write_text("x")
    (outside / "arriving.md").write_text("y")
    (outside / "folder").mkdir()
    (outside / "folder" / "inner.md").write_text("z")
    with FolderWatcher([root], queue, PathFilter(supported=_supported)):
        os.rename(root / "leaving.md", outside / "leaving.md")
        assert batch(queue) == [Change("delete", str(root / "leaving.md"))]
        os.rename(outside / "arriving.md", root / "arriving.md")
        assert batch(queue) == [up(root / "arriving.md")]
        os.rename(outside / "folder", root / "folder")
        assert batch(queue) == [up(root / "folder", is_dir=True)]
        assert_silent(queue)


def test_rename_into_excluded_folder_is_delete(root: Path, queue: ChangeQueue) -> None:
    (root / "a.md").write_text("x")
    (root / ".trash").mkdir()
    with FolderWatcher([root], queue, PathFilter(supported=_supported)):
        os.rename(root / "a.md", root / ".trash" / "a.md")
        assert batch(queue) == [Change("delete", str(root / "a.md"))]
        assert_silent(queue)


def test_new_folder_with_files_is_scanned(root: Path, queue: ChangeQueue) -> None:
    with FolderWatcher([root], queue, PathFilter(supported=_supported)):
        (root / "new" / "deeper").mkdir(parents=True)
        (root / "new" / "deeper" / "x.md").write_text("x")
        changes = batch(queue)
        assert changes[0] == up(root / "new", is_dir=True)
        assert all(c.kind == "upsert" for c in changes)
        assert_silent(queue)


def test_add_and_remove_root(tmp_path: Path, root: Path, queue: ChangeQueue) -> None:
    second = tmp_path / "second"
    second.mkdir()
    with FolderWatcher([root], queue, PathFilter(supported=_supported)) as w:
        w.add_root(second)
        assert w.roots == (root, second)
        (second / "s.md").write_text("x")
        assert batch(queue) == [up(second / "s.md")]
        w.remove_root(second)
        (second / "t.md").write_text("y")
        (root / "r.md").write_text("z")
        assert batch(queue) == [up(root / "r.md")]
        assert_silent(queue)


def test_add_missing_root_raises_user_error(tmp_path: Path, root: Path, queue: ChangeQueue) -> None:
    with FolderWatcher([root], queue, PathFilter(supported=_supported)) as w:
        with pytest.raises(UserInputError):
            w.add_root(tmp_path / "missing")
        assert w.roots == (root,)


def test_missing_root_at_start_does_not_stop_the_others(
    tmp_path: Path, root: Path, queue: ChangeQueue
) -> None:
    missing = tmp_path / "unplugged-drive"
    with FolderWatcher([missing, root], queue, PathFilter(supported=_supported)) as w:
        assert missing in w.unwatched
        (root / "a.md").write_text("x")
        assert batch(queue) == [up(root / "a.md")]


def test_per_root_filter_factory(tmp_path: Path, root: Path, queue: ChangeQueue) -> None:
    seen: list[Path] = []

    def factory(r: Path) -> PathFilter:
        seen.append(r)
        return PathFilter(include_globs=["*.md"], supported=_supported)

    with FolderWatcher([root], queue, factory):
        (root / "a.txt").write_text("not included")
        (root / "b.md").write_text("included")
        assert batch(queue) == [up(root / "b.md")]
    assert seen == [root]


def test_stop_joins_every_thread_and_is_idempotent(root: Path, queue: ChangeQueue) -> None:
    before = set(threading.enumerate())
    w = FolderWatcher([root], queue, PathFilter(supported=_supported))
    w.start()
    w.start()  # idempotent
    assert w.running
    assert set(threading.enumerate()) - before, "watchdog threads should be running"
    w.stop()
    w.stop()
    assert not w.running
    assert set(threading.enumerate()) - before == set()
    # a stopped watcher can start again and still sees changes
    with w:
        (root / "again.md").write_text("x")
        assert batch(queue) == [up(root / "again.md")]
    assert set(threading.enumerate()) - before == set()
