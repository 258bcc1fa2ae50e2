"""The plain values `KnowledgeBase` hands out or decides with: the status snapshot, what a
settings change needs, the size of the index on disk.

Kept apart from `indexer/service.py` so the facade stays a list of delegating methods (and under
the module size limit); `indexer.service` re-exports them for existing callers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from indexer.config import CHUNK_KEYS, LIVE_KEYS, RESCAN_KEYS, Settings


@dataclass(frozen=True, slots=True)
class IndexStatus:
    """A snapshot for `cairn status` and the GUI status bar."""

    folders: tuple[str, ...]
    files_by_stage: dict[str, int]
    chunks: int
    chunks_pending: int
    failures: tuple[tuple[str, str], ...]
    skipped: tuple[tuple[str, str], ...]
    index_bytes: int
    idle: bool
    models: dict[str, dict[str, str]] = field(default_factory=dict)
    embedder_error: str | None = None
    watching: bool = False


@dataclass(frozen=True, slots=True)
class SettingsChange:
    """What changing `keys` needs: nothing, a rescan, a reopen, a re-chunk (see `reconfigure`).

    - live keys (`LIVE_KEYS`) are read on every use: set in place; of those, `RESCAN_KEYS`
      change which files are indexed: a scan applies them;
    - any other key (models, threads, context size, chunking, embedder) reopens the knowledge
      base with a new `ModelHub`; a new embedder rebuilds the index by itself on open, and
      `CHUNK_KEYS` re-queue every file so it is split again.
    """

    keys: frozenset[str]

    @classmethod
    def between(cls, old: Settings, new: Settings) -> SettingsChange:
        return cls(frozenset(k for k in Settings.model_fields
                             if getattr(old, k) != getattr(new, k)))

    @property
    def reopen(self) -> bool:
        return bool(self.keys) and not self.keys <= LIVE_KEYS

    @property
    def rescan(self) -> bool:
        return bool(self.keys & RESCAN_KEYS)

    @property
    def rechunk(self) -> bool:
        return bool(self.keys & CHUNK_KEYS)


def dir_size(path: Path) -> int:
    total = 0
    for p in path.rglob("*"):
        try:
            if p.is_file():
                total += p.stat().st_size
        except OSError:
            pass
    return total
