"""`SettingsChange`: what a change of settings needs (nothing, a rescan, a reopen, a re-chunk).

Kept apart from `indexer/service.py` (which applies the decision in `KnowledgeBase.reconfigure`)
because the decision is a pure function of the keys that changed, testable without a store.
"""

from __future__ import annotations

from dataclasses import dataclass

from indexer.config import CHUNK_KEYS, LIVE_KEYS, RESCAN_KEYS, Settings


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
