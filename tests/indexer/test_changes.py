"""ChangeQueue: coalescing rules, debouncing, close, and end-to-end correctness of batches."""

from __future__ import annotations

import itertools
import os
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from indexer.ingest.changes import Change, ChangeQueue

J = os.path.join


def up(p: str, is_dir: bool = False) -> Change:
    return Change("upsert", p, is_dir=is_dir)


def rm(p: str, is_dir: bool = False) -> Change:
    return Change("delete", p, is_dir=is_dir)


def mv(a: str, b: str, is_dir: bool = False) -> Change:
    return Change("move", a, b, is_dir=is_dir)


def coalesce(*changes: Change) -> list[Change]:
    q = ChangeQueue()
    for c in changes:
        q.put(c)
    return q.drain(quiet_seconds=0, timeout=0)


A, B, C, D = (J(os.sep, "r", n) for n in ("a.md", "b.md", "c.md", "d.md"))
DIR, DIR2 = J(os.sep, "r", "dir"), J(os.sep, "r", "dir2")


@pytest.mark.parametrize(
    ("events", "expected"),
    [
        pytest.param([up(A), up(A)], [up(A)], id="upsert+upsert"),
        pytest.param([up(A), rm(A)], [rm(A)], id="upsert+delete=delete"),
        pytest.param([rm(A), up(A)], [up(A)], id="delete+create=upsert"),
        pytest.param([rm(A), rm(A)], [rm(A)], id="delete+delete"),
        pytest.param([mv(A, B), up(B)], [mv(A, B), up(B)], id="move+modify-dest"),
        pytest.param([mv(A, B), mv(B, C)], [rm(B), mv(A, C)], id="move-chain"),
        pytest.param([mv(A, B), mv(B, A)], [rm(B)], id="move-and-back"),
        pytest.param([mv(A, B), up(B), mv(B, A)], [rm(B), up(A)], id="move-modify-back"),
        pytest.param([up(A), mv(A, B)], [mv(A, B), up(B)], id="create+move"),
        pytest.param([mv(A, B), rm(B)], [rm(A), rm(B)], id="move+delete-dest"),
        pytest.param([up(B), mv(A, B)], [mv(A, B)], id="modify-dest+move-over-it"),
        pytest.param([rm(B), mv(A, B)], [mv(A, B)], id="delete-dest+move-over-it"),
        pytest.param([mv(C, B), mv(A, B)], [rm(C), mv(A, B)], id="two-moves-onto-one-name"),
        pytest.param([mv(A, B), up(A)], [mv(A, B), up(A)], id="move+recreate-source"),
        pytest.param([rm(A), mv(A, B)], [rm(A), up(B)], id="delete+move-from-missing"),
        pytest.param([mv(A, A)], [up(A)], id="move-onto-itself"),
        pytest.param([up(A), up(B), up(A), rm(C)], [up(A), up(B), rm(C)], id="arrival-order"),
        pytest.param(
            [mv(A, B), up(A), mv(B, C)],
            [mv(A, B), mv(B, C), up(A)],
            id="no-chain-when-source-reused",
        ),
        pytest.param(
            [up(A), mv(A, B), up(A), mv(B, A), up(B)],
            [mv(A, B), up(B), mv(B, A), up(A), up(B)],
            id="move-of-reread-rows-rereads-dest",  # found by the model test below
        ),
    ],
)
def test_file_coalescing_rules(events: list[Change], expected: list[Change]) -> None:
    assert coalesce(*events) == expected


@pytest.mark.parametrize(
    ("events", "expected"),
    [
        pytest.param(
            [rm(J(DIR, "x.md")), rm(J(DIR, "sub", "y.md")), rm(J(DIR, "sub"), True), rm(DIR, True)],
            [rm(DIR, True)],
            id="folder-delete-absorbs-its-files",
        ),
        pytest.param(
            [up(J(DIR, "x.md")), mv(J(DIR, "x.md"), C), rm(DIR, True)],
            [mv(J(DIR, "x.md"), C), up(C), rm(DIR, True)],
            id="folder-delete-keeps-moves-out",
        ),
        pytest.param([mv(DIR, DIR2, True)], [mv(DIR, DIR2, True)], id="folder-move"),
        pytest.param(
            [up(J(DIR, "x.md")), mv(DIR, DIR2, True)],
            [up(J(DIR, "x.md")), mv(DIR, DIR2, True), up(DIR2, True)],
            id="folder-move-over-pending-rescans",
        ),
        pytest.param(
            [up(DIR, True), up(J(DIR, "x.md")), up(J(DIR, "s", "y.md"))],
            [up(DIR, True)],
            id="folder-scan-covers-later-files",
        ),
        pytest.param([up(DIR, True), up(DIR, True)], [up(DIR, True)], id="folder-scan-twice"),
        pytest.param(
            [up(DIR, True), rm(DIR, True), up(DIR, True)],
            [rm(DIR, True), up(DIR, True)],
            id="folder-scan-delete-recreate",
        ),
    ],
)
def test_folder_coalescing_rules(events: list[Change], expected: list[Change]) -> None:
    assert coalesce(*events) == expected


def test_change_validates_kind_and_dest() -> None:
    with pytest.raises(ValueError):
        Change("move", A)
    with pytest.raises(ValueError):
        Change("upsert", A, B)
    with pytest.raises(ValueError):
        Change("rename", A)  # type: ignore[arg-type]


def test_burst_of_writes_to_one_path_is_one_upsert() -> None:
    q = ChangeQueue()
    for _ in range(50):
        q.put(up(A))
    assert q.pending() == 1
    assert q.drain(quiet_seconds=0.05, timeout=5) == [up(A)]
    assert q.pending() == 0


def test_drain_returns_empty_on_timeout() -> None:
    assert ChangeQueue().drain(timeout=0.05) == []


def test_drain_waits_for_the_burst_to_end() -> None:
    q = ChangeQueue()
    paths = [J(os.sep, "r", f"f{i}.md") for i in range(20)]
    gate = threading.Event()

    def produce() -> None:
        q.put(up(paths[0]))
        gate.set()
        for p in paths[1:]:
            threading.Event().wait(0.01)
            q.put(up(p))

    t = threading.Thread(target=produce)
    t.start()
    gate.wait(10)
    # Gaps of 10 ms never reach the 2 s quiet period, so one batch holds the whole burst.
    batch = q.drain(quiet_seconds=2.0, max_wait=60, timeout=10)
    t.join(10)
    assert batch == [up(p) for p in paths]


def test_constant_churn_cannot_starve_the_writer() -> None:
    q = ChangeQueue()
    stop = threading.Event()

    def churn() -> None:
        for i in itertools.count():
            if stop.wait(0.005):
                return
            q.put(up(J(os.sep, "r", f"f{i % 7}.md")))

    producer = threading.Thread(target=churn)
    producer.start()
    result: list[list[Change]] = []
    consumer = threading.Thread(
        target=lambda: result.append(q.drain(quiet_seconds=3600, max_wait=0.2, timeout=30))
    )
    consumer.start()
    consumer.join(30)
    still_churning = producer.is_alive() and not stop.is_set()
    stop.set()
    producer.join(10)
    assert result and result[0], "drain never returned under churn"
    assert still_churning


def test_close_wakes_a_blocked_drain_and_ignores_later_puts() -> None:
    q = ChangeQueue()
    result: list[list[Change]] = []
    t = threading.Thread(target=lambda: result.append(q.drain(timeout=None)))
    t.start()
    q.close()
    t.join(10)
    assert not t.is_alive()
    assert result == [[]]
    q.put(up(A))
    assert q.pending() == 0
    assert q.closed


def test_close_discards_a_pending_batch_waiting_for_quiet() -> None:
    q = ChangeQueue()
    q.put(up(A))
    result: list[list[Change]] = []
    t = threading.Thread(target=lambda: result.append(q.drain(quiet_seconds=3600, max_wait=3600)))
    t.start()
    q.close()
    t.join(10)
    assert result == [[]]


# --------------------------------------------------------------------------- end-to-end model
# Whatever the raw events, a writer that follows the Change contract and reads the disk when it
# processes the batch must end with an index equal to the disk.

NAMES = [J(os.sep, "r", n) for n in ("a", "b", "c", "d")]
op_strategy = st.one_of(
    st.tuples(st.just("write"), st.sampled_from(NAMES), st.just("")),
    st.tuples(st.just("delete"), st.sampled_from(NAMES), st.just("")),
    st.tuples(st.just("rename"), st.sampled_from(NAMES), st.sampled_from(NAMES)),
)


def _apply_to_index(index: dict[str, int], disk: dict[str, int], change: Change) -> None:
    if change.kind == "upsert":
        if change.path in disk:
            index[change.path] = disk[change.path]
        else:
            index.pop(change.path, None)
    elif change.kind == "delete":
        index.pop(change.path, None)
    else:
        assert change.dest is not None
        if change.path in index:
            index[change.dest] = index.pop(change.path)  # re-point rows, no re-read
        else:
            _apply_to_index(index, disk, up(change.dest))


@settings(max_examples=500, deadline=None)
@given(
    initial=st.sets(st.sampled_from(NAMES)),
    ops=st.lists(op_strategy, max_size=16),
)
def test_batches_leave_the_index_equal_to_the_disk(
    initial: set[str], ops: list[tuple[str, str, str]]
) -> None:
    counter = itertools.count(1)
    disk = {p: next(counter) for p in initial}
    index = dict(disk)
    q = ChangeQueue()
    for kind, p, other in ops:
        if kind == "write":
            q.put(up(p))
            disk[p] = next(counter)
        elif kind == "delete" and p in disk:
            q.put(rm(p))
            del disk[p]
        elif kind == "rename" and p in disk and p != other:
            q.put(mv(p, other))
            disk[other] = disk.pop(p)
    for change in q.drain(quiet_seconds=0, timeout=0):
        _apply_to_index(index, disk, change)
    assert index == disk


# Folders too: events as watchdog delivers them (a folder rename is one move, rmtree is file
# deletes then one folder delete per folder, mkdir is a folder upsert), and a writer that follows
# the folder contract: an upsert reconciles the folder (indexes what is on disk under it and drops
# rows of files no longer there), a move re-points every row under it.
ROOT = J(os.sep, "r")
DIRS = [J(ROOT, "A"), J(ROOT, "B"), J(ROOT, "A", "S")]
FILE_NAMES = ["x", "y"]
dir_op_strategy = st.one_of(
    st.tuples(st.just("write"), st.sampled_from([ROOT, *DIRS]), st.sampled_from(FILE_NAMES)),
    st.tuples(st.just("delete"), st.sampled_from([ROOT, *DIRS]), st.sampled_from(FILE_NAMES)),
    st.tuples(
        st.just("rename"),
        st.tuples(st.sampled_from([ROOT, *DIRS]), st.sampled_from(FILE_NAMES)),
        st.tuples(st.sampled_from([ROOT, *DIRS]), st.sampled_from(FILE_NAMES)),
    ),
    st.tuples(st.just("mkdir"), st.sampled_from(DIRS), st.just("")),
    st.tuples(st.just("rmtree"), st.sampled_from(DIRS), st.just("")),
    st.tuples(st.just("mvdir"), st.sampled_from(DIRS), st.sampled_from(DIRS)),
)


def _under(path: str, folder: str) -> bool:
    return path.startswith(folder + os.sep)


def _apply_with_folders(index: dict[str, int], disk: dict[str, int], change: Change) -> None:
    if not change.is_dir:
        _apply_to_index(index, disk, change)
    elif change.kind == "upsert":
        for p in [p for p in index if _under(p, change.path) and p not in disk]:
            del index[p]
        for p, content in disk.items():
            if _under(p, change.path):
                index[p] = content
    elif change.kind == "delete":
        for p in [p for p in index if _under(p, change.path)]:
            del index[p]
    else:
        assert change.dest is not None
        for p in [p for p in index if _under(p, change.path)]:
            index[change.dest + p[len(change.path) :]] = index.pop(p)


@settings(max_examples=500, deadline=None)
@given(ops=st.lists(dir_op_strategy, max_size=14))
def test_batches_with_folder_changes_leave_the_index_equal_to_the_disk(
    ops: list[tuple[str, object, object]],
) -> None:
    counter = itertools.count(1)
    dirs = {ROOT, J(ROOT, "A")}
    disk = {J(ROOT, "A", "x"): next(counter), J(ROOT, "y"): next(counter)}
    index = dict(disk)
    q = ChangeQueue()
    for kind, a, b in ops:
        if kind == "write" and a in dirs:
            p = J(str(a), str(b))
            q.put(up(p))
            disk[p] = next(counter)
        elif kind == "delete" and J(str(a), str(b)) in disk:
            p = J(str(a), str(b))
            q.put(rm(p))
            del disk[p]
        elif kind == "rename":
            src, dest = J(*a), J(*b)  # type: ignore[misc]
            if src in disk and src != dest and os.path.dirname(dest) in dirs:
                q.put(mv(src, dest))
                disk[dest] = disk.pop(src)
        elif kind == "mkdir" and a not in dirs and os.path.dirname(str(a)) in dirs:
            dirs.add(str(a))
            q.put(up(str(a), True))
        elif kind == "rmtree" and a in dirs:
            folder = str(a)
            for p in sorted((p for p in disk if _under(p, folder)), reverse=True):
                q.put(rm(p))
                del disk[p]
            for d in sorted((d for d in dirs if d == folder or _under(d, folder)), reverse=True):
                q.put(rm(d, True))
                dirs.discard(d)
        elif kind == "mvdir":
            src, dest = str(a), str(b)
            if src in dirs and dest not in dirs and os.path.dirname(dest) in dirs:
                if _under(dest, src):
                    continue  # a folder cannot move into itself
                q.put(mv(src, dest, True))
                for p in [p for p in disk if _under(p, src)]:
                    disk[dest + p[len(src) :]] = disk.pop(p)
                for d in [d for d in dirs if d == src or _under(d, src)]:
                    dirs.discard(d)
                    dirs.add(dest + d[len(src) :])
    for change in q.drain(quiet_seconds=0, timeout=0):
        _apply_with_folders(index, disk, change)
    assert index == disk
