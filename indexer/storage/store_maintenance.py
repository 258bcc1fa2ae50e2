"""Keeping an index fast under churn: compaction, folding new rows into the full-text and
scalar indexes, pruning old versions. A part of `IndexStore` (a mixin over its tables, policy
and single-writer lock); a read-only store never maintains what another process owns."""

from __future__ import annotations

import threading

from indexer.storage.store_layout import MaintenancePolicy
from indexer.storage.store_tables import TableSet, storage_op


class StoreMaintenance:
    """Maintenance methods of `IndexStore`; the attributes are set by its constructor."""

    _t: TableSet
    _write_lock: threading.RLock
    policy: MaintenancePolicy
    read_only: bool

    @storage_op
    def maintain(self, force: bool = False, settle: bool = False) -> list[str]:
        """Compact tables whose fragments call for it (see `MaintenancePolicy`); cheap otherwise.

        `settle` (the writer is idle) also folds in rows written since the last compaction, once
        `policy.min_interval_s` has passed: LanceDB scores rows outside the full-text index on
        other statistics (two copies of a paragraph: 13.93 vs 13.35; docs/quality.md).

        The idle writer calls it every few seconds (a compaction that was not yet due when the
        queue drained becomes due later; ~1 ms when nothing is due); during a bulk run, writes
        compact on their own. `optimize()` compacts, adds rows written since the last run to
        the full-text and scalar indexes (until then they are searched flat) and deletes
        versions older than `policy.retain_versions`, so the directory does not grow without
        bound under constant edits. Returns the tables it optimized (none when read-only).
        """
        with self._write_lock:
            return [] if self.read_only else self._t.maintain(
                self.policy, force, self.policy.min_interval_s if settle else None)

    @storage_op
    def settle(self) -> list[str]:
        """Fold every row written since the last compaction into the indexes now (after a
        one-shot index run, whose searches should rank like a long-settled index's)."""
        with self._write_lock:
            return [] if self.read_only else self._t.maintain(self.policy, False, 0.0)

    def _compact_while_busy(self) -> None:
        with self._write_lock:
            if not self.read_only:
                self._t.compact_while_busy(self.policy)

    @storage_op
    def fragment_count(self, table: str = "chunks") -> int:
        return self._t.fragment_count(table)

    @storage_op
    def version_count(self, table: str = "chunks") -> int:
        """Versions still on disk (bounded by `maintain()` under steady churn)."""
        return len(self._t.writer(table).list_versions())
