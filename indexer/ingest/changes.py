"""The debounced change queue between the watchdog thread and the single index writer.

Editors save a file several times per keystroke-burst, `git checkout` touches thousands of files,
and a rename arrives as a move. The watcher only `put`s; this queue folds the events for one path
into the net change, waits until the burst is over, and hands the writer one ordered batch.

Coalescing is safe for a writer that follows the `Change` contract and reads files when it applies
the batch (i.e. late, at their final content): starting from an index that matched the disk, the
batch leaves it matching the disk again (a model test checks this over random event sequences).
A new change is combined only with the latest pending change that touches one of its paths, and
the result takes that change's place, so no change jumps over another about the same path. A move
whose source rows may come from a late read is followed by an upsert of its destination.

Rules (file changes; `→` means "becomes"):

    upsert p,      upsert p       → upsert p
    upsert p,      delete p       → delete p
    delete p,      upsert p       → upsert p
    move a→b,      upsert b       → move a→b + upsert b   (rows re-pointed, then re-checked)
    move a→b,      delete b       → delete a + delete b
    upsert a,      move a→b       → move a→b + upsert b
    move a→b,      move b→c       → delete b + move a→c   (b might have been indexed before)
    move a→b,      move b→a       → delete b (+ upsert a if a was modified in between)
    upsert/delete b, move a→b     → move a→b              (the move replaces b's rows)
    move c→b,      move a→b       → delete c + move a→b
    delete a,      move a→b       → delete a + upsert b   (a's content was never indexed)

Folder changes (`is_dir=True`): a folder delete absorbs pending changes that lie wholly inside it;
a folder move over pending changes inside it is followed by an upsert of the new folder (rescan),
because the writer cannot re-point rows that were never written; an `upsert` of a folder means
"scan it", and makes later file upserts inside it redundant.
"""

from __future__ import annotations

import itertools
import os
import threading
import time
from dataclasses import dataclass
from typing import Literal

ChangeKind = Literal["upsert", "delete", "move"]
_Key = tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Change:
    """One thing the writer must apply to the index.

    - `upsert path`: (re)index the file from disk (gone → drop its rows); with `is_dir`,
      reconcile the folder: index what is under it *and* drop rows of files no longer there.
    - `delete path`: drop the file's rows; with `is_dir`, every row under the folder.
    - `move path → dest`: re-point rows (no re-embedding); dest's old rows are replaced. If
      `path` has no rows the writer indexes `dest` instead.
    """

    kind: ChangeKind
    path: str
    dest: str | None = None
    is_dir: bool = False

    def __post_init__(self) -> None:
        if self.kind not in ("upsert", "delete", "move"):
            raise ValueError(f"unknown change kind {self.kind!r}")
        if (self.kind == "move") != (self.dest is not None):
            raise ValueError("a move needs a dest, and only a move has one")


@dataclass(slots=True)
class _Op:
    """A pending change. `dirty` marks a move whose destination must also be re-read."""

    kind: ChangeKind
    path: str
    dest: str | None = None
    is_dir: bool = False
    dirty: bool = False

    def paths(self) -> tuple[str, ...]:
        return (self.path,) if self.dest is None else (self.path, self.dest)

    def expand(self) -> list[Change]:
        out = [Change(self.kind, self.path, self.dest, self.is_dir)]
        if self.kind == "move" and self.dirty:
            assert self.dest is not None
            out.append(Change("upsert", self.dest, None, self.is_dir))
        return out


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/\\") + os.sep)


class ChangeQueue:
    """Thread-safe, coalescing, debouncing queue of `Change`s (many producers, one consumer)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._ops: dict[_Key, _Op] = {}
        # path -> key of the latest op touching it (may be stale: checked on lookup)
        self._latest: dict[str, _Key] = {}
        # A folder tree of pending paths, so folder changes look only at ops inside the folder
        # (rmtree sends one folder delete per subfolder: scanning every op each time is O(n²)).
        self._by_parent: dict[str, set[_Key]] = {}  # folder -> keys of ops on paths in it
        self._children: dict[str, set[str]] = {}  # folder -> subfolders holding such paths
        self._seq = itertools.count()
        self._first_at: float | None = None
        self._last_at = 0.0
        self._closed = False
        # Batches handed to the consumer; it counts the ones it finished, so "nothing pending
        # and every batch taken is done" is an idle test with no window after `drain` returns.
        self.batches_taken = 0

    # ------------------------------------------------------------------ public API
    def put(self, change: Change) -> None:
        """Add a change (cheap; safe from any thread). Ignored after `close()`."""
        with self._cond:
            if self._closed:
                return
            was_empty = not self._ops
            if change.is_dir:
                self._put_dir(change)
            elif change.kind == "move":
                assert change.dest is not None
                self._put_move(change.path, change.dest)
            else:
                self._put_single(change.kind, change.path)
            now = time.monotonic()
            self._last_at = now
            if self._first_at is None:
                self._first_at = now
            if was_empty:
                self._cond.notify_all()

    def drain(
        self, quiet_seconds: float = 0.3, max_wait: float = 2.0, timeout: float | None = None
    ) -> list[Change]:
        """Block for the next coalesced batch, in arrival order.

        Waits (at most `timeout` seconds, forever if None) for a first change, then until no
        change arrived for `quiet_seconds` or `max_wait` passed since the batch's first change, so
        constant churn cannot starve the writer. Returns [] on timeout and once closed.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while True:
                if self._closed:
                    return []
                if self._ops:
                    assert self._first_at is not None
                    now = time.monotonic()
                    due = min(self._last_at + quiet_seconds, self._first_at + max_wait)
                    if now >= due:
                        self.batches_taken += 1
                        return self._take()
                    self._cond.wait(due - now)
                    continue
                if deadline is None:
                    self._cond.wait()
                    continue
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return []
                self._cond.wait(remaining)

    def close(self) -> None:
        """Wake every `drain` and make it return []; later `put`s are ignored."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed

    def pending(self) -> int:
        """How many changes the next batch would hold right now."""
        with self._cond:
            return sum(2 if op.kind == "move" and op.dirty else 1 for op in self._ops.values())

    def __len__(self) -> int:
        return self.pending()

    # ------------------------------------------------------------------ bookkeeping
    def _take(self) -> list[Change]:
        batch = [c for key in sorted(self._ops) for c in self._ops[key].expand()]
        self._ops.clear()
        self._latest.clear()
        self._by_parent.clear()
        self._children.clear()
        self._first_at = None
        return batch

    def _new_key(self) -> _Key:
        return (next(self._seq),)

    def _after(self, key: _Key) -> _Key:
        """A key sorting after `key` (and after earlier insertions behind it) but before the
        key that followed it."""
        return (*key, next(self._seq))

    def _lookup(self, path: str) -> tuple[_Key | None, _Op | None]:
        key = self._latest.get(path)
        if key is None:
            return None, None
        op = self._ops.get(key)
        if op is None or path not in op.paths():
            return None, None  # stale pointer: that op was folded away
        return key, op

    def _barrier(self, path: str) -> _Key | None:
        """Key of the latest op on a folder above `path`. A change to `path` must not be folded
        into an op older than that: the folder change in between moved, deleted or rescanned it."""
        best: _Key | None = None
        q = os.path.dirname(path)
        while True:
            key, _ = self._lookup(q)
            if key is not None and (best is None or key > best):
                best = key
            parent = os.path.dirname(q)
            if parent == q:
                return best
            q = parent

    def _foldable(self, path: str) -> tuple[_Key | None, _Op | None, _Key | None]:
        """(key, op) of the latest op on `path` if a new change may fold into it, and the
        barrier key the result must stay behind."""
        key, op = self._lookup(path)
        barrier = self._barrier(path)
        if key is not None and barrier is not None and barrier > key:
            return None, None, barrier
        return key, op, barrier

    def _place(self, key: _Key, op: _Op) -> None:
        self._ops[key] = op
        for p in op.paths():
            cur, _ = self._lookup(p)
            if cur is None or cur <= key:
                self._latest[p] = key
            self._index_path(p, key)

    def _index_path(self, p: str, key: _Key) -> None:
        parent = os.path.dirname(p)
        self._by_parent.setdefault(parent, set()).add(key)
        child = parent
        while True:
            up = os.path.dirname(child)
            if up == child:
                return
            kids = self._children.setdefault(up, set())
            if child in kids:
                return  # the rest of the chain is linked already
            kids.add(child)
            child = up

    def _ops_inside(self, folder: str) -> list[tuple[_Key, _Op]]:
        """Pending ops touching `folder` or anything below it (in key order)."""
        keys: set[_Key] = set()
        key, _ = self._lookup(folder)
        if key is not None:
            keys.add(key)
        stack = [folder]
        while stack:
            d = stack.pop()
            keys.update(self._by_parent.get(d, ()))
            stack.extend(self._children.get(d, ()))
        found = []
        for k in sorted(keys):
            op = self._ops.get(k)  # keys may be stale or reused: check the op itself
            if op is not None and any(_inside(q, folder) for q in op.paths()):
                found.append((k, op))
        return found

    def _append(self, op: _Op) -> None:
        self._place(self._new_key(), op)

    # ------------------------------------------------------------------ file rules
    def _put_single(self, kind: ChangeKind, p: str) -> None:
        key, m, _ = self._foldable(p)
        if key is not None and m is not None and not m.is_dir:
            if m.kind != "move" and m.path == p:
                m.kind = kind  # the later of upsert/delete wins, in the earlier one's place
                return
            if m.kind == "move" and m.dest == p:
                if kind == "upsert":
                    m.dirty = True
                    return
                # Moved, then deleted: the content is gone from both names.
                del self._ops[key]
                self._place(key, _Op("delete", m.path))
                self._place(self._after(key), _Op("delete", p))
                return
        if key is None and kind == "upsert" and self._scan_pending_above(p):
            return
        self._append(_Op(kind, p))

    def _put_move(self, s: str, d: str) -> None:
        if s == d:
            self._put_single("upsert", d)
            return
        ks, ms, bs = self._foldable(s)
        kd, md, bd = self._foldable(d)
        src: str | None = s  # None: the source has no trustworthy rows, index `d` from disk
        dirty = False
        if ms is not None and ks is not None and not ms.is_dir:
            if ms.kind == "upsert":
                del self._ops[ks]
                dirty = True
            elif ms.kind == "delete":
                src = None
            elif ms.dest == s and self._foldable(ms.path)[0] == ks:
                # move a→s, now s→d: one move a→d; s may have held rows before a replaced it.
                del self._ops[ks]
                src, dirty = ms.path, ms.dirty
                self._place(ks, _Op("delete", s))
            elif ms.dest == s:
                # a→s stays (a was reused since). If that move re-reads s, the writer reads it
                # late, at its final content, so s's rows are no proof of what moved to d.
                dirty = ms.dirty
            else:
                src = None  # s was moved away before; whatever is at s now was never indexed
        elif ms is not None:
            src = None
        if md is not None and kd is not None and md is not ms and not md.is_dir:
            if md.kind in ("upsert", "delete"):
                del self._ops[kd]  # superseded: the move replaces whatever d held
            elif md.dest == d:
                del self._ops[kd]  # b→d was overwritten by s→d: b's content is gone
                self._place(kd, _Op("delete", md.path))
        if src == s and not dirty and self._scan_pending_above(s):
            dirty = True  # s's rows would come from that scan, i.e. from s's final content
        if src is None:
            op = _Op("upsert", d)
        elif src == d:
            op = _Op("upsert", d) if dirty else None  # moved back where it started
        else:
            op = _Op("move", src, d, dirty=dirty)
        if op is None:
            return
        anchors = [k for k in (ks, kd, bs, bd) if k is not None]
        self._place(self._after(max(anchors)) if anchors else self._new_key(), op)

    # ------------------------------------------------------------------ folder rules
    def _put_dir(self, change: Change) -> None:
        p = change.path
        if change.kind == "upsert":
            _, m, _ = self._foldable(p)
            if m is not None and m.is_dir and m.kind == "upsert" and m.path == p:
                return
            if m is None and self._scan_pending_above(p):
                return
            self._append(_Op("upsert", p, is_dir=True))
        elif change.kind == "delete":
            _, m, _ = self._foldable(p)
            if m is not None and m.is_dir and m.kind == "delete" and m.path == p:
                return
            for key, op in self._ops_inside(p):
                if self._absorbed_by_delete(key, op, p):
                    del self._ops[key]
            self._append(_Op("delete", p, is_dir=True))
        else:
            assert change.dest is not None
            d = change.dest
            touched = bool(
                self._ops_inside(p) or self._ops_inside(d) or self._scan_pending_above(p)
            )
            self._append(_Op("move", p, d, is_dir=True))
            if touched:
                self._append(_Op("upsert", d, is_dir=True))

    def _absorbed_by_delete(self, key: _Key, op: _Op, folder: str) -> bool:
        """A pending op wholly inside a deleted folder, and the latest for each of its paths."""
        return all(_inside(q, folder) and self._foldable(q)[0] == key for q in op.paths())

    def _scan_pending_above(self, p: str) -> bool:
        """True if the nearest pending op above `p` is a folder scan, which will see `p` anyway."""
        q = os.path.dirname(p)
        while True:
            _, m = self._lookup(q)
            if m is not None:
                return m.is_dir and m.kind == "upsert" and m.path == q
            parent = os.path.dirname(q)
            if parent == q:
                return False
            q = parent
