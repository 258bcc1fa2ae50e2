"""Answer cache: a repeated or near-identical question over unchanged files answers instantly.

Keyed by the question's embedding (cosine ≥ threshold) and the standalone query; an entry records
the content hash of every file it cited (and of the passages' files), and is valid only while
those hashes are unchanged — editing a cited file invalidates it. Held in memory for the session:
answers are cheap to keep and a stale cache across restarts is worse than a recomputation.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from indexer.answer.answering import Answer


@dataclass(frozen=True, slots=True)
class _Entry:
    vector: np.ndarray
    answer: Answer
    file_hashes: tuple[tuple[str, str], ...]


class AnswerCache:
    def __init__(
        self,
        embed_query: Callable[[str], np.ndarray],
        current_hash: Callable[[str], str | None],
        threshold: float = 0.97,
        capacity: int = 256,
    ) -> None:
        self._embed = embed_query
        self._current_hash = current_hash
        self.threshold = threshold
        self.capacity = capacity
        self._entries: list[_Entry] = []
        self._lock = threading.Lock()

    def lookup(self, query: str) -> Answer | None:
        vec = self._embed(query)
        with self._lock:
            entries = list(self._entries)
        for entry in reversed(entries):
            if float(np.dot(entry.vector, vec)) < self.threshold:
                continue
            if all(self._current_hash(p) == h for p, h in entry.file_hashes):
                return replace(entry.answer, cached=True)
            with self._lock:  # a cited file changed: the entry is dead
                if entry in self._entries:
                    self._entries.remove(entry)
        return None

    def store(self, query: str, answer: Answer) -> None:
        if answer.stats.get("cancelled"):
            return
        paths = {c.anchor.path for c in answer.citations} | {p.anchor.path for p in answer.passages}
        hashes = []
        for path in sorted(paths):
            h = self._current_hash(path)
            if h is None:
                return
            hashes.append((path, h))
        entry = _Entry(self._embed(query), answer, tuple(hashes))
        with self._lock:
            self._entries.append(entry)
            del self._entries[: -self.capacity]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
