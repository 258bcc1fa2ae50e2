"""Status bar: index state (files, chunks, what is being worked on), model state, offline badge."""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QTimer, Slot
from PySide6.QtWidgets import QLabel, QStatusBar, QWidget

from desktop_app.folders_panel import format_eta, is_working
from indexer.events import ProgressUpdated

if TYPE_CHECKING:
    from desktop_app.app import Controller

ROLE_NAMES = {"embedder": "embedder", "chat": "chat", "generator": "chat"}


def index_text(
    status: Any,
    progress: ProgressUpdated | None,
    paused: bool,
    counts: tuple[int, int] | None = None,
) -> str:
    """`counts` (files done, total) may come from a fresher file list than `status`."""
    by = status.files_by_stage if status is not None else {}
    total = sum(by.values())
    done = by.get("embedded", 0) + by.get("failed", 0) + by.get("skipped", 0)
    if counts is not None:
        done, total = counts
    chunks = status.chunks if status is not None else 0
    base = f"{total} file{'' if total == 1 else 's'} · {chunks} chunk{'' if chunks == 1 else 's'}"
    if paused:
        return base + " · indexing paused"
    working = is_working(progress) or (status is not None and not status.idle) or done < total
    if not working:
        return base + " · up to date"
    bits = [base, f"indexing: {done}/{total} files done" if total else "indexing"]
    if progress is not None and progress.stage != "idle":
        name = os.path.basename(progress.current_path or "")
        bits.append(f"{progress.stage} {name}".strip())
        eta = format_eta(progress.eta_seconds)
        if eta:
            bits.append(eta)
    return " · ".join(bits)


def models_text(status: Any) -> tuple[str, str]:
    """Short text and tooltip for the model state."""
    if status is None or not status.models:
        return "Models: loading…", ""
    parts, tips = [], []
    for role, info in status.models.items():
        name = ROLE_NAMES.get(role, role)
        parts.append(f"{name} {str(info.get('status', '?')).replace('_', ' ')}")
        tips.append(f"{role}: {info.get('model_id', '')} — {info.get('status', '')} "
                    f"{info.get('detail', '')}".strip())
    if status.embedder_error:
        tips.append(f"Embedding error: {status.embedder_error}")
    return "Models: " + " · ".join(parts), "\n".join(tips)


class CairnStatusBar(QStatusBar):
    """Shows what the index and models are doing and that Cairn is offline."""

    def __init__(self, controller: Controller, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._controller = controller
        self.index_label = QLabel("Opening the index…", self)
        self.index_label.setObjectName("indexStatus")
        self.model_label = QLabel("Models: loading…", self)
        self.model_label.setObjectName("modelStatus")
        self.offline_label = QLabel(self)
        self.offline_label.setObjectName("offlineStatus")
        self.addWidget(self.index_label, 1)
        self.addPermanentWidget(self.model_label)
        self.addPermanentWidget(self.offline_label)
        self._status: Any = None
        self._counts: tuple[int, int] | None = None
        self._counts_at = 0.0
        self._status_at = 0.0
        controller.status_refreshed.connect(self._on_status_refreshed)
        controller.progress_updated.connect(self._on_progress_updated)
        controller.indexing_paused.connect(lambda _p: self._render())
        controller.kb_failed.connect(self._on_kb_failed)
        self._guard_timer = QTimer(self)
        self._guard_timer.setInterval(5000)
        self._guard_timer.timeout.connect(self.refresh_offline)
        self._guard_timer.start()
        self.refresh_offline()

    @Slot()
    def refresh_offline(self) -> None:
        from indexer.runtime import guard_status

        g = guard_status()
        if g.installed:
            self.offline_label.setText("● Offline")
            self.offline_label.setToolTip(
                f"Cairn blocks network access: {g.blocked} attempt(s) blocked since start. "
                "See Settings → Privacy."
            )
        else:
            self.offline_label.setText("○ Network guard off")
            self.offline_label.setToolTip("The egress guard is not installed in this process.")

    @Slot(object)
    def _on_status_refreshed(self, status: Any) -> None:
        self._status = status
        self._status_at = time.monotonic()
        self._render()

    @Slot(object)
    def set_folder_stats(self, stats: dict[str, dict[str, int]]) -> None:
        """Per-folder counts from the Folders panel's file list (often fresher than status)."""
        self._counts = (sum(s.get("done", 0) for s in stats.values()),
                        sum(s.get("total", 0) for s in stats.values()))
        self._counts_at = time.monotonic()
        self._render()

    @Slot(object)
    def _on_progress_updated(self, _event: ProgressUpdated) -> None:
        self._render()

    @Slot(object)
    def _on_kb_failed(self, exc: BaseException) -> None:
        self.index_label.setText(f"Index not open: {getattr(exc, 'message', exc)}")

    def _render(self) -> None:
        c = self._controller
        counts = self._counts if self._counts_at > self._status_at else None
        self.index_label.setText(index_text(self._status, c.last_progress, c.paused, counts))
        text, tip = models_text(self._status)
        self.model_label.setText(text)
        self.model_label.setToolTip(tip)
