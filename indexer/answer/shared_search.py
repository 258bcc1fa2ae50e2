"""Searching a team's shared index beside this machine's own, as one ranked list.

Why: a team indexes its common documents once (one indexer writes a Cairn index to a network
folder or to object storage, see docs/shared_index.md), and every laptop searches and answers
from it while keeping its private folders in its own, local index. A laptop never writes the
shared index: it opens it read-only (`IndexStore.open_read_only`) and follows the writer's
commits at most every `refresh_s` seconds. LanceDB commits a version by writing its manifest
last, so a reader sees a commit whole or not at all, never half of it.

Fusion: one search over both indexes (`Retriever.search(..., others=[shared])`): their vectors
come from the same embedding model (an index built with another model is searched by keyword
only), so the two cosine rankings merge into one; BM25 scores depend on each corpus, so each
index's keyword ranking enters the reciprocal-rank fusion as a ranking of its own. With no
shared index this is exactly today's fusion. Hits from the shared index carry
`Anchor.origin == "shared"` (citations say so) and the file path as the writer recorded it.

Failure: the shared index is a convenience, not a dependency. When it cannot be opened or read
(share unmounted, object store unreachable, the writer mid-rebuild), searches answer from the
local index alone, the reason is kept in `SharedSearch.error`, and opening is retried after
`refresh_s`.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Protocol

from indexer.answer.retrieval import Retriever, SearchMode
from indexer.errors import CairnError, UserInputError
from indexer.records import SearchHit
from indexer.storage.shared_location import SharedIndexSettings, SharedLocation, shared_location
from indexer.storage.store import IndexStore
from indexer.storage.vector_index import ExactVectorIndex

log = logging.getLogger(__name__)

SHARED = "shared"  # Anchor.origin of hits from the shared index
# What reading a shared index raises when it is out of reach: StoreError (translated I/O), and
# LanceDB's own errors where it does not translate them (an object store that refuses the
# connection raises ValueError from `lancedb.connect`).
_UNAVAILABLE = (CairnError, ValueError, OSError, RuntimeError)


class HitSource(Protocol):
    """What answers a search: a `Retriever`, or `SharedSearch` wrapped around one."""

    def search(
        self,
        query: str,
        k: int = 8,
        *,
        mode: SearchMode = "hybrid",
        folders: list[str] | None = None,
        exts: list[str] | None = None,
        path_glob: str | None = None,
    ) -> list[SearchHit]: ...


class SharedIndex:
    """A read-only view of a shared index: its store, its vectors in memory, its retriever.

    Built from the local retriever so both use one embedding model and one fusion; if the
    writer used another embedding model, its vectors are not comparable with ours and only its
    keyword side is searched (`keyword_only`).
    """

    def __init__(self, location: SharedLocation, local: Retriever, refresh_s: float) -> None:
        self.location = location
        self.refresh_s = refresh_s
        self.store = IndexStore.open_read_only(
            location.index_target(), local.store.embed_model_id, local.store.dim,
            storage_options=location.storage_options, stale_after_s=refresh_s)
        self.vectors = ExactVectorIndex(local.store.dim)
        self.retriever = Retriever(self.store, self.vectors, local.embed_query,
                                   k_rrf=local.k_rrf, weights=local.weights, origin=SHARED)
        self.version = -1
        self.followed_at = 0.0
        self._lock = threading.Lock()
        self.follow(force=True)

    @property
    def keyword_only(self) -> bool:
        return self.store.needs_rebuild

    def follow(self, force: bool = False) -> bool:
        """Move to the writer's latest commit if `refresh_s` passed since the last look (or
        `force`); catch the vectors up when the chunks moved. True if a new version was read."""
        with self._lock:
            now = time.monotonic()
            if not force and now - self.followed_at < self.refresh_s:
                return False
            self.followed_at = now
            version = self.store.refresh()
            if version == self.version:
                return False
            if not self.store.needs_rebuild:
                if self.version < 0:  # first load: every vector, in batches
                    self.vectors.attach(self.store)
                    self.vectors.detach()  # the writer is another process: sync() follows it
                else:
                    self.vectors.sync(self.store)
            self.version = version
            return True

    def searchable(self) -> Retriever:
        """The retriever to search beside the local one, moved to the writer's latest commit
        if `refresh_s` passed (its vectors are empty while `keyword_only`)."""
        self.follow()
        return self.retriever

    def close(self) -> None:
        self.store.close()


class SharedSearch:
    """The `shared_index` setting at work: opens the shared index on first use, searches it
    beside the local retriever and merges the hits (see the module doc). Thread-safe."""

    def __init__(self, location: SharedLocation | None, refresh_s: float = 5.0) -> None:
        self.location = location
        self.refresh_s = refresh_s
        self.error: str | None = None
        self._index: SharedIndex | None = None
        self._failed_at = float("-inf")
        self._lock = threading.Lock()

    @classmethod
    def for_settings(cls, settings: SharedIndexSettings) -> SharedSearch:
        """From the settings; a location that cannot be parsed is reported by `status()`."""
        try:
            return cls(shared_location(settings), settings.shared_index_refresh_s)
        except UserInputError as exc:
            log.warning("shared index setting ignored: %s", exc.message)
            search = cls(None)
            search.error = exc.message
            return search

    def index(self, local: Retriever) -> SharedIndex | None:
        """The open shared index, opening it now if due; None if unset or unreachable."""
        if self.location is None:
            return None
        with self._lock:
            if self._index is None and time.monotonic() - self._failed_at >= self.refresh_s:
                try:
                    self._index = SharedIndex(self.location, local, self.refresh_s)
                    self.error = None
                except _UNAVAILABLE as exc:
                    self._fail(exc)
            return self._index

    def _fail(self, exc: Exception) -> None:
        message = exc.message if isinstance(exc, CairnError) else f"{type(exc).__name__}: {exc}"
        message = message if len(message) <= 160 else message[:159] + "…"  # LanceDB's are long
        if self.error != message:
            log.warning("shared index %s unavailable: %s", self.location, message)
        self.error = message
        self._failed_at = time.monotonic()

    def around(self, local: Retriever) -> HitSource:
        """What `KnowledgeBase.search` searches: `local` alone without a shared index."""
        return local if self.location is None else _Both(self, local)

    def search(self, local: Retriever, query: str, k: int, *, mode: SearchMode,
               folders: list[str] | None, exts: list[str] | None,
               path_glob: str | None) -> list[SearchHit]:
        """One search over both indexes (see the module doc); the local one alone while the
        shared index is unavailable."""
        shared = self.index(local)
        if shared is not None:
            try:
                return local.search(query, k, mode=mode, folders=folders, exts=exts,
                                    path_glob=path_glob, others=[shared.searchable()])
            except _UNAVAILABLE as exc:
                self._fail(exc)
                with self._lock:  # reopened after refresh_s (the writer may have swapped it)
                    if self._index is shared:
                        self._index = None
                shared.close()
        return local.search(query, k, mode=mode, folders=folders, exts=exts,
                            path_glob=path_glob)

    def status(self, local: Retriever | None = None) -> str | None:
        """One line for `cairn status`, or None without a shared index; with `local`, the
        shared index is opened first (if due) so the line can say which version it reads."""
        if local is not None:
            self.index(local)
        if self.location is None:
            return f"not used: {self.error}" if self.error else None
        if self.error:
            return f"{self.location.describe()}; unavailable: {self.error}"
        index = self._index
        if index is None:
            return f"{self.location.describe()}; not opened yet"
        only = ", keyword search only (another embedding model)" if index.keyword_only else ""
        return f"{self.location.describe()}; version {index.version}{only}"

    def close(self) -> None:
        with self._lock:
            if self._index is not None:
                self._index.close()
                self._index = None


class _Both:
    """`HitSource` over a local retriever and the shared index."""

    def __init__(self, shared: SharedSearch, local: Retriever) -> None:
        self._shared, self._local = shared, local

    def search(
        self,
        query: str,
        k: int = 8,
        *,
        mode: SearchMode = "hybrid",
        folders: list[str] | None = None,
        exts: list[str] | None = None,
        path_glob: str | None = None,
    ) -> list[SearchHit]:
        return self._shared.search(self._local, query, k, mode=mode, folders=folders, exts=exts,
                                   path_glob=path_glob)
