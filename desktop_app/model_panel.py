"""The Models tab's "which chat model suits this computer" panel, and its one network action.

Issue "A better model when the hardware allows": a user with more cores, memory or a GPU should
see that a larger model would run well here — its size and about how fast it would answer —
before committing gigabytes. The panel shows this computer (as llama.cpp sees it), every
instruction-tuned catalog chat model with its expected speed, status and licence, and marks the
recommended one and the one in use.

A missing model with a publisher URL gets a "Download…" button. Downloading is the only network
use Cairn has, so it happens only on that click, after a confirmation naming the host and size;
the core (`indexer.runtime.download_model`) checks the sha256, resumes a kept `.partial`, stops
on a cancel Event and logs every attempt (the Privacy tab lists the log). The panel never blocks
the GUI thread: machine detection (~0.5 s, it may import llama.cpp) and the download run on
plain Python threads whose results come back through a `_Relay` QObject's queued signals.

The panel never changes settings itself: "Use this model" emits `use_requested`, and the dialog
puts the value into its chat-model field, so OK applies it like any other change.
"""

from __future__ import annotations

import html
import threading
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Qt, Signal, Slot
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from desktop_app.theme import colors_for

if TYPE_CHECKING:
    from indexer.runtime import Machine, ModelFit

    Detected = tuple[Machine, list[ModelFit], ModelFit]

STATUS_TEXT = {"ready": "ready", "assemblable": "in packages (prepared on first use)",
               "missing": "not downloaded"}
MB = 1024 * 1024


def human_size(n_bytes: int) -> str:
    """Sizes as the catalog and the download log state them (GB above one, else MB)."""
    return f"{n_bytes / 1024**3:.1f} GB" if n_bytes >= 1024**3 else f"{n_bytes / MB:.0f} MB"


def host_of(url: str) -> str:
    return urllib.parse.urlsplit(url).netloc


def ask_user(parent: QWidget, text: str) -> bool:
    """The default confirmation: a Yes/No box whose default is No (a download is never implied)."""
    answer = QMessageBox.question(
        parent, "Download a model", text,
        QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
        QMessageBox.StandardButton.No,
    )
    return answer == QMessageBox.StandardButton.Yes


def _statuses(models_dir: Path, specs: list[Any]) -> dict[str, str]:
    """ready / assemblable / missing per spec id; a spec not in the catalog counts as missing."""
    from indexer.runtime import CATALOG, model_status

    known = [s.id for s in specs if s.id in CATALOG]
    found = {row.model_id: row.status for row in model_status(models_dir, known)} if known else {}
    return {s.id: found.get(s.id, "missing") for s in specs}


class _Relay(QObject):
    """Carries a worker thread's results to the GUI thread (queued: the relay lives there).

    Parentless on purpose: the worker holds it while it runs, so a panel closed mid-way only
    loses its connections (Qt drops them with the receiver); the worker never emits on a deleted
    object. The panel keeps a reference too, so the relay is normally deleted on the GUI thread.
    """

    progressed = Signal(object, object)  # (done bytes, total bytes): may exceed 32-bit ints
    succeeded = Signal(object)
    failed = Signal(object)


def _start(name: str, work: Callable[[_Relay], Any], relay: _Relay) -> threading.Thread:
    def run() -> None:
        try:
            result = work(relay)
        except Exception as exc:  # noqa: BLE001 - shown in the panel in words, never raised
            relay.failed.emit(exc)
        else:
            relay.succeeded.emit(result)

    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.start()
    return thread


class ModelRow(QFrame):
    """One chat model: description, marks, and its Download / Use / progress controls."""

    def __init__(self, fit: ModelFit, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.fit = fit
        self.setObjectName(f"modelRow:{fit.spec.id}")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.info = QLabel(self)
        self.info.setWordWrap(True)
        self.info.setTextFormat(Qt.TextFormat.RichText)
        self.info.setToolTip(fit.spec.notes)
        self.info.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.download_button = QPushButton("Download…", self)
        self.use_button = QPushButton("Use this model", self)
        self.progress = QProgressBar(self)
        self.progress.setTextVisible(True)
        self.cancel_button = QPushButton("Cancel", self)
        name = fit.spec.display_name  # each row's buttons say which model they act on
        self.download_button.setAccessibleName(f"Download {name}")
        self.use_button.setAccessibleName(f"Use {name}")
        self.cancel_button.setAccessibleName(f"Cancel the download of {name}")
        self.progress.setAccessibleName(f"Download of {name}")
        self.message = QLabel(self)
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        buttons = QVBoxLayout()
        buttons.addWidget(self.download_button)
        buttons.addWidget(self.use_button)
        buttons.addStretch(1)
        top = QHBoxLayout()
        top.addWidget(self.info, 1)
        top.addLayout(buttons)
        bar = QHBoxLayout()
        bar.addWidget(self.progress, 1)
        bar.addWidget(self.cancel_button)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addLayout(bar)
        layout.addWidget(self.message)
        self.show_progress(False)
        self.message.hide()

    def show_progress(self, on: bool) -> None:
        self.progress.setVisible(on)
        self.cancel_button.setVisible(on)

    def set_progress(self, done: int, total: int) -> None:
        total = max(total, done, 1)
        self.progress.setRange(0, max(1, total // MB))
        self.progress.setValue(done // MB)
        self.progress.setFormat(f"{done / MB:.0f} of {total / MB:.0f} MB")

    def set_message(self, text: str, error: bool = False) -> None:
        color = colors_for(self.palette()).error_fg if error else ""
        self.message.setStyleSheet(f"color: {color};" if color else "")
        self.message.setText(text)
        self.message.setVisible(bool(text))


class ModelPanel(QWidget):
    """This computer and the chat models that would run on it; downloads on request.

    `detect` returns (machine, fits, recommended); default `indexer.runtime.machine_fits`. Tests
    inject fits whose spec points at a local server. `confirm(text) -> bool` asks before a
    download; default a Yes/No box.

    Signals:
        use_requested(str): the user chose a model (a catalog id, or the file of a non-catalog
            spec); the dialog sets its chat-model field, OK applies it.
        downloads_changed(): a download attempt ended (done, failed or cancelled): the log grew.
        detected(): the machine line and the model rows are filled in.
    """

    use_requested = Signal(str)
    downloads_changed = Signal()
    detected = Signal()

    def __init__(
        self,
        models_dir: Path,
        chat_model: str,
        detect: Callable[[], Detected] | None = None,
        confirm: Callable[[str], bool] | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("modelPanel")
        self.models_dir = models_dir
        self.in_use = chat_model
        self.selected = chat_model
        self._detect = detect
        self._confirm = confirm or (lambda text: ask_user(self, text))
        self._started = False
        self._relays: list[_Relay] = []  # kept for the panel's life: deleted on this thread
        self._cancel: threading.Event | None = None
        self._cancels: list[threading.Event] = []
        self.downloading: str | None = None
        self.machine: Machine | None = None
        self.recommended: str | None = None
        self.status: dict[str, str] = {}
        self.paths: dict[str, Path] = {}  # downloaded this session (verified by the download)
        self.rows: dict[str, ModelRow] = {}

        self.machine_label = QLabel("<b>This computer:</b> checking…", self)
        self.machine_label.setObjectName("machineSummary")
        self.machine_label.setWordWrap(True)
        self.machine_label.setTextFormat(Qt.TextFormat.RichText)
        self._list = QWidget(self)
        self._list_layout = QVBoxLayout(self._list)
        self._list_layout.setContentsMargins(0, 0, 0, 0)
        self._list_layout.addStretch(1)
        scroll = QScrollArea(self)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(self._list)
        scroll.setMinimumHeight(self.fontMetrics().lineSpacing() * 12)
        note = QLabel("Downloading is the only thing that uses the network. It starts only when "
                      "you click Download, is checked against the model's sha256, can be "
                      "cancelled and resumed, and is listed on the Privacy tab.", self)
        note.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.machine_label)
        layout.addWidget(scroll, 1)
        layout.addWidget(note)
        cancels = self._cancels  # not `self`: the handler runs while the panel is destroyed
        self.destroyed.connect(lambda *_a: [event.set() for event in cancels])

    # ------------------------------------------------------------------ detection
    def showEvent(self, event: QShowEvent) -> None:
        """Detect the machine when first shown, off the GUI thread: the tab paints at once."""
        super().showEvent(event)
        self.start_detection()

    def start_detection(self) -> None:
        if self._started:
            return
        self._started = True
        detect = self._detect
        models_dir = self.models_dir

        def work(_relay: _Relay) -> tuple[Any, ...]:
            if detect is None:
                from indexer.runtime import machine_fits

                machine, fits, best = machine_fits()
            else:
                machine, fits, best = detect()
            return machine, fits, best, _statuses(models_dir, [f.spec for f in fits])

        self._run("model-panel-detect", work, self._on_detected, self._on_detect_failed)

    def _run(self, name: str, work: Callable[[_Relay], Any], ok: Callable[[Any], None],
             failed: Callable[[Any], None],
             progress: Callable[[Any, Any], None] | None = None) -> None:
        relay = _Relay()
        self._relays.append(relay)
        relay.succeeded.connect(ok)
        relay.failed.connect(failed)
        if progress is not None:
            relay.progressed.connect(progress)
        _start(name, work, relay)

    @Slot(object)
    def _on_detected(self, result: tuple[Any, ...]) -> None:
        machine, fits, best, statuses = result
        self.machine = machine
        self.recommended = best.spec.id
        self.status.update(statuses)
        features = ", ".join(machine.cpu_features) or "none reported"
        muted = colors_for(self.palette()).muted
        self.machine_label.setText(
            f"<b>This computer:</b> {html.escape(machine.summary())}<br/>"
            f"<span style='color:{muted};'>CPU features llama.cpp uses: "
            f"{html.escape(features)}</span>"
        )
        for fit in sorted(fits, key=lambda f: f.spec.size_bytes):
            row = ModelRow(fit, self._list)
            model_id = fit.spec.id
            row.download_button.clicked.connect(lambda _c=False, m=model_id: self.download(m))
            row.use_button.clicked.connect(lambda _c=False, m=model_id: self.use(m))
            row.cancel_button.clicked.connect(self.cancel_download)
            self.rows[model_id] = row
            self._list_layout.insertWidget(self._list_layout.count() - 1, row)
        self._refresh_rows()
        self.detected.emit()

    @Slot(object)
    def _on_detect_failed(self, exc: BaseException) -> None:
        self.machine_label.setText(
            f"<b>This computer:</b> could not be checked ({html.escape(str(exc))}). "
            "You can still choose a model above."
        )
        self.detected.emit()

    # ------------------------------------------------------------------ rows
    def _use_value(self, model_id: str) -> str:
        """What the chat-model setting holds for this model: its id, or a non-catalog file."""
        from indexer.runtime import CATALOG

        path = self.paths.get(model_id)
        return str(path) if path is not None and model_id not in CATALOG else model_id

    def set_selected(self, chat_model: str) -> None:
        """The dialog's chat-model field changed: move the "chosen" mark."""
        self.selected = chat_model
        self._refresh_rows()

    def _refresh_rows(self) -> None:
        colors = colors_for(self.palette())
        for model_id, row in self.rows.items():
            fit, spec = row.fit, row.fit.spec
            value = self._use_value(model_id)
            marks = []
            if model_id == self.recommended:
                marks.append(f"<span style='background-color:{colors.chip_bg};"
                             f"color:{colors.chip_fg};'>&nbsp;★ Recommended for this computer"
                             "&nbsp;</span>")
            if value == self.in_use or model_id == self.in_use:
                marks.append("<b>✔ in use</b>")
            elif value == self.selected or model_id == self.selected:
                marks.append("<b>chosen: applies when you press OK</b>")
            state = self.status.get(model_id, "missing")
            fit_note = "" if fit.comfortable else (
                f" · <span style='color:{colors.error_fg if not fit.fits else colors.muted};'>"
                f"{html.escape(fit.reason)}</span>")
            row.info.setText(
                f"<b>{html.escape(spec.display_name)}</b>&nbsp; {' &nbsp;'.join(marks)}<br/>"
                f"<span style='color:{colors.muted};'>{html.escape(fit.describe())}</span><br/>"
                f"Status: {html.escape(STATUS_TEXT[state])} · Licence: "
                f"{html.escape(spec.license)}{fit_note}"
            )
            busy = self.downloading is not None
            can_download = state == "missing" and bool(spec.source.url)
            row.download_button.setVisible(can_download and self.downloading != model_id)
            row.download_button.setEnabled(not busy)
            row.download_button.setText("Resume download…" if self._partial(spec).exists()
                                        else "Download…")
            if can_download:
                row.download_button.setToolTip(f"From {host_of(spec.source.url or '')}")
            row.use_button.setVisible(state != "missing" and value != self.selected
                                      and model_id != self.selected)

    def _partial(self, spec: Any) -> Path:
        return self.models_dir / f"{spec.file_name}.partial"

    @Slot()
    def use(self, model_id: str) -> None:
        self.use_requested.emit(self._use_value(model_id))

    # ------------------------------------------------------------------ downloading
    def confirmation_text(self, fit: ModelFit) -> str:
        spec = fit.spec
        kept = self._partial(spec)
        resume = (f"\n\n{human_size(kept.stat().st_size)} were downloaded before; the download "
                  "continues from there.") if kept.exists() else ""
        return (
            f"Download {spec.display_name} ({human_size(spec.size_bytes)}) from "
            f"{host_of(spec.source.url or '')}?\n\n"
            f"This is the only time Cairn uses the network. The download is logged and listed "
            f"on the Privacy tab; the file is checked against its published sha256 before it is "
            f"used. Licence: {spec.license}.{resume}"
        )

    def download(self, model_id: str) -> bool:
        """Ask, then download `model_id` on a worker thread; False if not started."""
        row = self.rows.get(model_id)
        if row is None or self.downloading is not None or not row.fit.spec.source.url:
            return False
        if not self._confirm(self.confirmation_text(row.fit)):
            return False
        spec = row.fit.spec
        cancel = threading.Event()
        self._cancel, self.downloading = cancel, model_id
        self._cancels.append(cancel)
        row.set_progress(self._partial(spec).stat().st_size if self._partial(spec).exists()
                         else 0, spec.size_bytes)
        row.show_progress(True)
        row.set_message(f"Downloading from {host_of(spec.source.url or '')}… Closing Settings "
                        "stops it; it resumes next time.")
        self._refresh_rows()
        models_dir = self.models_dir

        def work(relay: _Relay) -> Path:
            from indexer.runtime import download_model

            return download_model(spec, models_dir, None,
                                  progress=lambda d, t: relay.progressed.emit(d, t),
                                  cancel=cancel)

        self._run("model-panel-download", work, self._on_downloaded, self._on_download_failed,
                  progress=self._on_progress)
        return True

    @Slot()
    def cancel_download(self) -> None:
        if self._cancel is not None:
            self._cancel.set()
            if self.downloading in self.rows:
                self.rows[self.downloading].set_message("Stopping…")

    def shutdown(self) -> None:
        """Stop a running download (the dialog is closing); its .partial stays for a resume."""
        if self._cancel is not None:
            self._cancel.set()

    @Slot(object, object)
    def _on_progress(self, done: int, total: int) -> None:
        if self.downloading in self.rows:
            self.rows[self.downloading].set_progress(done, total)

    def _finish(self) -> ModelRow | None:
        row = self.rows.get(self.downloading or "")
        self.downloading, self._cancel = None, None
        if row is not None:
            row.show_progress(False)
        return row

    @Slot(object)
    def _on_downloaded(self, path: Path) -> None:
        row = self._finish()
        if row is not None:
            model_id = row.fit.spec.id
            self.paths[model_id] = path
            self.status[model_id] = "ready"
            row.set_message(f"Downloaded and checked: {path}")
        self._refresh_rows()
        self.downloads_changed.emit()

    @Slot(object)
    def _on_download_failed(self, exc: BaseException) -> None:
        cancelled = self._cancel is not None and self._cancel.is_set()
        row = self._finish()
        if row is not None:
            partial = self._partial(row.fit.spec)
            if cancelled:
                kept = human_size(partial.stat().st_size) if partial.exists() else "nothing"
                row.set_message(f"Cancelled; {kept} kept. Download again to resume.")
            else:
                message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
                hint = getattr(exc, "hint", None)
                row.set_message(f"The download failed: {message}" + (f" {hint}" if hint else ""),
                                error=True)
        self._refresh_rows()
        self.downloads_changed.emit()
