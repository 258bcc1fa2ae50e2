"""Settings: model, threads and GPU layers, chunking and retrieval, ignore rules, file size limit,
and a privacy page that shows Cairn is offline and lists the model downloads the user started.

The knobs people reach for are in their words (issue #21): "Use the graphics card: Automatic /
Off", "Answer length: Short / Normal / Long", "How many passages to read: Few / Normal / Many",
"CPU threads: Automatic or a number" (`setting_choices`), each with the setting's name and
number in its tooltip; the rest sit under "Advanced" with their technical names. The "This
computer" tab (`HardwarePanel`) says what Cairn found here and what it will run with the
choices as they stand.

The dialog only edits a copy: `changes()` returns the fields that differ from the settings it was
opened with, and the window hands them to `Controller.apply_settings`, which validates, saves
(`save_settings`) and applies them — in place for answer and filter knobs, by reloading the models
and index for the rest. Changing a `REINDEX_KEYS` setting shows a warning first: the documents
are re-read in the background. Ranges and help texts come from the `Settings` fields themselves.

The Models tab embeds `ModelPanel` (this computer, which chat model suits it, downloads); its
"Use this model" only sets the chat-model field here, so OK applies it like any other change.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, Slot
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from desktop_app.hardware_panel import HardwarePanel, RunChoice
from desktop_app.model_panel import ModelPanel, human_size
from desktop_app.setting_choices import (
    ChoiceCombo,
    ThreadsSpin,
    answer_length_choices,
    gpu_choices,
    passages_choices,
)
from indexer.config import REINDEX_KEYS, Settings
from indexer.runtime import GUARD_COVERS, GUARD_DOES_NOT_COVER

if TYPE_CHECKING:
    from desktop_app.model_panel import Detected
    from indexer.runtime import GuardStatus

RELOAD_KEYS = frozenset({"chat_model", "n_threads", "n_gpu_layers", "n_ctx", "generator_backend",
                         "chat_endpoint", "chat_endpoint_model"})


def _bounds(name: str) -> tuple[float | None, float | None]:
    lo = hi = None
    for meta in Settings.model_fields[name].metadata:
        lo = getattr(meta, "ge", getattr(meta, "gt", lo))
        hi = getattr(meta, "le", getattr(meta, "lt", hi))
    return lo, hi


def _help(name: str) -> str:
    return Settings.model_fields[name].description or ""


def downloads_html(entries: list[dict[str, object]]) -> str:
    """The download log (newest first): the only network use, each one the user started."""
    head = ("<p><b>Model downloads you started</b> (the only network use Cairn makes; each is "
            "logged in the models folder's <code>downloads.jsonl</code>):")
    if not entries:
        return head + " none.</p>"
    items = []
    for e in reversed(entries[-20:]):
        when = str(e.get("at", "?")).replace("T", " ")[:16]
        size = e.get("bytes")
        items.append(
            f"<li>{html.escape(when)} · {html.escape(str(e.get('file', '?')))} from "
            f"<b>{html.escape(str(e.get('host', '?')))}</b> · "
            f"{human_size(size) if isinstance(size, int) else '?'} · "
            f"{html.escape(str(e.get('outcome', '?')))}</li>"
        )
    return head + "</p><ul>" + "".join(items) + "</ul>"


def privacy_html(status: GuardStatus, home: Path,
                 downloads: list[dict[str, object]] | None = None) -> str:
    state = "on" if status.installed else "OFF"
    rows = [
        (
            f"<p><b>Cairn works offline.</b> The network guard is <b>{state}</b>. Only a model "
            "download you start yourself may use the network.</p>"
        ),
        (
            f"<p><b>The guard covers</b> {html.escape(GUARD_COVERS)}: each attempt is blocked "
            "and recorded below.</p>"
        ),
        f"<p><b>It does not cover</b> {html.escape(GUARD_DOES_NOT_COVER)}.</p>",
        (
            f"<p>Blocked since start: <b>{status.blocked}</b> · allowed (user downloads): "
            f"<b>{status.allowed}</b></p>"
        ),
        (
            "<p>Your index, settings and conversations are stored only in<br/>"
            f"<code>{html.escape(str(home))}</code></p>"
        ),
    ]
    if status.attempts:
        items = "".join(
            f"<li>{a.when:%H:%M:%S} {html.escape(a.kind)} {html.escape(a.host)}"
            f"{':' + str(a.port) if a.port else ''} — "
            f"{'allowed: ' + html.escape(a.reason or '') if a.allowed else 'blocked'}"
            f" <small>({html.escape(a.stack_summary)})</small></li>"
            for a in status.attempts[-10:]
        )
        rows.append(f"<p>Recent attempts:</p><ul>{items}</ul>")
    else:
        rows.append("<p>The guard has seen no network access.</p>")
    rows.append(downloads_html(downloads or []))
    return "".join(rows)


class SettingsDialog(QDialog):
    """Edits a copy of the settings; `changes()` is what the user changed."""

    def __init__(
        self,
        settings: Settings,
        guard: GuardStatus | None = None,
        parent: QWidget | None = None,
        *,
        detect: Callable[[], Detected] | None = None,
        confirm: Callable[[str], bool] | None = None,
    ) -> None:
        """`detect` and `confirm` go to the Models tab's `ModelPanel` (tests inject them)."""
        super().__init__(parent)
        self.setWindowTitle("Cairn Settings")
        self.setObjectName("settingsDialog")
        self._original = settings
        self._fields: dict[str, Any] = {}
        self.tabs = QTabWidget(self)
        self.tabs.setAccessibleName("Settings pages")
        self.tabs.tabBar().setAccessibleName("Settings pages")
        self.tabs.addTab(self._models_tab(settings, detect, confirm), "Models")
        self.tabs.addTab(self._computer_tab(settings), "This computer")
        self.tabs.addTab(self._indexing_tab(settings), "Indexing")
        self.tabs.addTab(self._answers_tab(settings), "Answers")
        self.privacy = QLabel(self)
        self.privacy.setObjectName("privacyPanel")
        self.privacy.setWordWrap(True)
        self.privacy.setTextFormat(Qt.TextFormat.RichText)
        self.privacy.setAlignment(Qt.AlignmentFlag.AlignTop)
        self._guard = guard
        self.refresh_privacy()
        self.tabs.addTab(self.privacy, "Privacy")

        self.warning = QLabel(self)
        self.warning.setObjectName("reindexWarning")
        self.warning.setWordWrap(True)
        self.warning.setVisible(False)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        for which, name in ((QDialogButtonBox.StandardButton.Ok, "OK: apply the settings"),
                            (QDialogButtonBox.StandardButton.Cancel, "Cancel: change nothing")):
            buttons.button(which).setAccessibleName(name)
        em = self.fontMetrics().horizontalAdvance("x")
        self.resize(em * 90, self.fontMetrics().lineSpacing() * 40)
        layout = QVBoxLayout(self)
        layout.addWidget(self.tabs, 1)
        layout.addWidget(self.warning)
        layout.addWidget(buttons)
        self._on_value_changed()

    # ------------------------------------------------------------------ tabs
    def _spin(self, name: str, value: float, label: str, decimals: int = 0,
              step: float = 1) -> Any:
        lo, hi = _bounds(name)
        if decimals:
            box: Any = QDoubleSpinBox(self)
            box.setDecimals(decimals)
            box.setSingleStep(step)
            box.setRange(float(lo if lo is not None else 0), float(hi if hi is not None else 1e6))
            if name == "max_file_mb":  # gt=0: the smallest step above zero
                box.setMinimum(0.1)
        else:
            box = QSpinBox(self)
            box.setRange(int(lo if lo is not None else 0), int(hi if hi is not None else 1_000_000))
        box.setValue(value)
        box.setAccessibleName(label.rstrip(":"))
        box.setToolTip(f"{_help(name)}\nSetting: {name}".lstrip())
        box.valueChanged.connect(self._on_value_changed)
        self._fields[name] = box
        return box

    def _models_tab(self, s: Settings, detect: Callable[[], Detected] | None,
                    confirm: Callable[[str], bool] | None) -> QWidget:
        page = QWidget(self)
        outer = QVBoxLayout(page)
        form = QFormLayout()
        outer.addLayout(form)
        from indexer.runtime import specs_for

        self.model_combo = QComboBox(self)
        self.model_combo.setObjectName("chatModelCombo")
        for spec in specs_for("chat"):
            self.model_combo.addItem(f"{spec.display_name} — {spec.license}", spec.id)
        if self.model_combo.findData(s.chat_model) < 0:
            self.model_combo.addItem(Path(s.chat_model).name, s.chat_model)
        self.model_combo.setCurrentIndex(self.model_combo.findData(s.chat_model))
        self.model_combo.setToolTip(_help("chat_model") + "\nSetting: chat_model")
        self.model_combo.setAccessibleName("Chat model")
        self.model_combo.currentIndexChanged.connect(self._on_value_changed)
        self._fields["chat_model"] = self.model_combo
        pick = QPushButton("Use a .gguf file…", self)
        pick.setAccessibleName("Use a chat model file (.gguf)")
        pick.clicked.connect(self._on_pick_gguf)
        row = QHBoxLayout()
        row.addWidget(self.model_combo, 1)
        row.addWidget(pick)
        form.addRow("Chat model:", row)
        if s.generator_backend == "fake" or s.embedder_backend == "fake":
            form.addRow(QLabel("<i>This session uses the deterministic test models.</i>", self))
        self._server_rows(form, s)
        note = QLabel("Model changes apply when you press OK: the models reload in the "
                      "background, no restart needed.", self)
        note.setWordWrap(True)
        form.addRow(note)
        self.models_status = QLabel("Checking the models…", self)
        self.models_status.setObjectName("settingsModelStatus")
        self.models_status.setWordWrap(True)
        self.models_status.setTextFormat(Qt.TextFormat.RichText)
        form.addRow(self.models_status)
        self.model_panel = ModelPanel(s.paths.models_dir, s.chat_model, detect, confirm, page)
        self.model_panel.use_requested.connect(self._on_use_model)
        self.model_panel.downloads_changed.connect(self.refresh_privacy)
        self.model_combo.currentIndexChanged.connect(
            lambda _i: self.model_panel.set_selected(self.model_combo.currentData()))
        self.model_panel.detected.connect(self._on_machine_detected)
        outer.addWidget(self.model_panel, 1)
        return page

    def _computer_tab(self, s: Settings) -> QWidget:
        """What Cairn found here and will run, beside the choices that depend on it."""
        page = QWidget(self)
        outer = QVBoxLayout(page)
        self.hardware = HardwarePanel(page)
        outer.addWidget(self.hardware)
        runs = QGroupBox("What Cairn will run", page)
        runs.setObjectName("runPlan")
        form = QFormLayout(runs)
        outer.addWidget(runs)
        self.gpu_combo = self._choice(gpu_choices(), s.n_gpu_layers)
        form.addRow("Use the graphics card:", self.gpu_combo)
        self.threads_spin = ThreadsSpin(s.n_threads, self)
        self.threads_spin.valueChanged.connect(self._on_value_changed)
        self._fields["n_threads"] = self.threads_spin
        form.addRow("CPU threads:", self.threads_spin)
        self._spin_row(form, "Context window (tokens):", "n_ctx", s.n_ctx)
        form.addRow(self.hardware.plan)
        outer.addStretch(1)
        return page

    def _choice(self, choices: Any, value: int) -> ChoiceCombo:
        combo = ChoiceCombo(choices, value, self)
        combo.currentIndexChanged.connect(self._on_value_changed)
        self._fields[choices.setting] = combo
        return combo

    @Slot()
    def _on_machine_detected(self) -> None:
        """The Models tab's detection (on its worker) ended: show its machine here too."""
        machine = self.model_panel.machine
        if machine is None:
            self.hardware.show_failed("see the Models tab")
        else:
            self.hardware.show_machine(machine)
            self.threads_spin.set_automatic_threads(machine.cores)
        self._show_plan()

    def _show_plan(self) -> None:
        from indexer.runtime import CATALOG

        values = self.values()
        model = str(values.get("chat_model", ""))
        spec = CATALOG.get(model)
        self.hardware.show_plan(RunChoice(
            backend=str(values.get("generator_backend", "llama_cpp")),
            model_name=spec.display_name if spec is not None else Path(model).name,
            n_gpu_layers=int(values.get("n_gpu_layers", -1)),
            n_threads=int(values.get("n_threads", 0)),
            endpoint=str(values.get("chat_endpoint", "")),
        ))

    def show_page(self, title: str) -> None:
        """Bring the tab called `title` forward: callers name pages, so a new tab moves none."""
        titles = [self.tabs.tabText(i) for i in range(self.tabs.count())]
        self.tabs.setCurrentIndex(titles.index(title))

    def showEvent(self, event: QShowEvent) -> None:
        """Detection starts with the dialog, whichever tab shows first (ModelPanel starts it
        when its own tab shows; a second call does nothing)."""
        super().showEvent(event)
        self.model_panel.start_detection()

    def _server_rows(self, form: QFormLayout, s: Settings) -> None:
        """Where answers are written: here, or by the team's model server (and what that
        sends away, said before OK)."""
        where = QComboBox(self)
        where.setObjectName("generatorBackendCombo")
        where.setAccessibleName("Where answers are written")
        where.addItem("On this computer", "llama_cpp")
        where.addItem("By the team's model server", "server")
        if s.generator_backend == "fake":  # a test or demo session keeps its model
            where.addItem("By the deterministic test model", "fake")
        where.setCurrentIndex(max(0, where.findData(s.generator_backend)))
        where.setToolTip(_help("generator_backend") + "\nSetting: generator_backend")
        where.currentIndexChanged.connect(self._on_value_changed)
        self._fields["generator_backend"] = where
        form.addRow("Answers written:", where)
        for name, label, hint in (
            ("chat_endpoint", "Server address:", "http://gpu-box.lan:8000/v1"),
            ("chat_endpoint_model", "Model on the server:", "empty: the first it serves"),
        ):
            edit = QLineEdit(str(getattr(s, name)), self)
            edit.setObjectName(name)
            edit.setAccessibleName(label.rstrip(":"))
            edit.setPlaceholderText(hint)
            edit.setToolTip(_help(name) + " The API key, if the server needs one: "
                            "`cairn models endpoint --api-key-stdin` or CAIRN_CHAT_API_KEY.\n"
                            f"Setting: {name}")
            edit.textChanged.connect(self._on_value_changed)
            self._fields[name] = edit
            form.addRow(label, edit)

    @Slot(str)
    def _on_use_model(self, value: str) -> None:
        if self.model_combo.findData(value) >= 0:
            self.model_combo.setCurrentIndex(self.model_combo.findData(value))
        else:
            self.set_chat_model_file(value)

    @Slot()
    def refresh_privacy(self) -> None:
        """The guard's state and the download log, re-read (a download just ended)."""
        from indexer.runtime import guard_status, read_download_log

        guard = self._guard if self._guard is not None else guard_status()
        self.privacy.setText(privacy_html(guard, self._original.home,
                                          read_download_log(self._original.paths.models_dir)))

    def done(self, result: int) -> None:
        """Closing stops a running download; its .partial stays, so the next one resumes."""
        self.model_panel.shutdown()
        super().done(result)

    def set_model_lines(self, lines: list[Any]) -> None:
        """Show whether each model is ready (computed on the pool by the window)."""
        from desktop_app.welcome import models_html

        self.models_status.setText(models_html(lines, self.palette()))

    def _spin_row(self, form: QFormLayout, label: str, name: str, value: float,
                  decimals: int = 0, step: float = 1) -> None:
        form.addRow(label, self._spin(name, value, label, decimals, step))

    def _indexing_tab(self, s: Settings) -> QWidget:
        page = QWidget(self)
        form = QFormLayout(page)
        self._spin_row(form, "Chunk size (tokens):", "chunk_tokens", s.chunk_tokens)
        self._spin_row(form, "Chunk overlap (tokens):", "chunk_overlap_tokens",
                       s.chunk_overlap_tokens)
        self._spin_row(form, "Skip files larger than (MB):", "max_file_mb", s.max_file_mb, 1, 1)
        self.exclude_edit = QPlainTextEdit("\n".join(s.exclude_globs), self)
        self.exclude_edit.setObjectName("excludeEdit")
        self.exclude_edit.setAccessibleName("Ignore (one pattern per line)")
        self.exclude_edit.setToolTip(_help("exclude_globs") + " One pattern per line.\n"
                                     "Setting: exclude_globs")
        self.exclude_edit.textChanged.connect(self._on_value_changed)
        self.exclude_edit.setMinimumHeight(self.fontMetrics().lineSpacing() * 8)
        self._fields["exclude_globs"] = self.exclude_edit
        form.addRow("Ignore (one pattern per line):", self.exclude_edit)
        self.include_edit = QPlainTextEdit("\n".join(s.include_globs), self)
        self.include_edit.setAccessibleName("Only index (optional, one pattern per line)")
        self.include_edit.setToolTip(_help("include_globs") + " One pattern per line.\n"
                                     "Setting: include_globs")
        self.include_edit.setPlaceholderText("Empty: every supported file")
        self.include_edit.setMaximumHeight(self.fontMetrics().lineSpacing() * 3 + 12)
        self.include_edit.textChanged.connect(self._on_value_changed)
        self._fields["include_globs"] = self.include_edit
        form.addRow("Only index (optional):", self.include_edit)
        self.symlinks = QCheckBox("Follow symbolic links out of watched folders", self)
        self.symlinks.setAccessibleName("Follow symbolic links out of watched folders")
        self.symlinks.setToolTip(_help("follow_symlinks") + "\nSetting: follow_symlinks")
        self.symlinks.setChecked(s.follow_symlinks)
        self.symlinks.toggled.connect(self._on_value_changed)
        self._fields["follow_symlinks"] = self.symlinks
        form.addRow(self.symlinks)
        return page

    def _answers_tab(self, s: Settings) -> QWidget:
        page = QWidget(self)
        outer = QVBoxLayout(page)
        form = QFormLayout()
        outer.addLayout(form)
        form.addRow("Answer length:", self._choice(answer_length_choices(), s.max_answer_tokens))
        form.addRow("How many passages to read:",
                    self._choice(passages_choices(), s.context_passages))
        advanced = QGroupBox("Advanced", page)
        advanced.setObjectName("answersAdvanced")
        more = QFormLayout(advanced)
        self._spin_row(more, "Search results considered (top_k):", "top_k", s.top_k)
        self._spin_row(more, "Minimum relevance:", "min_relevance", s.min_relevance, 2, 0.05)
        self._spin_row(more, "Temperature:", "temperature", s.temperature, 2, 0.1)
        outer.addWidget(advanced)
        outer.addStretch(1)
        return page

    # ------------------------------------------------------------------ values
    def values(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, w in self._fields.items():
            if isinstance(w, QPlainTextEdit):
                out[name] = [ln.strip() for ln in w.toPlainText().splitlines() if ln.strip()]
            elif isinstance(w, QComboBox):
                out[name] = w.currentData()
            elif isinstance(w, QCheckBox):
                out[name] = w.isChecked()
            elif isinstance(w, QLineEdit):
                out[name] = w.text().strip()
            else:
                out[name] = w.value()
        return out

    def changes(self) -> dict[str, Any]:
        """Fields whose value differs from the settings the dialog was opened with."""
        out = {}
        for name, value in self.values().items():
            old = getattr(self._original, name)
            if isinstance(old, float):
                if abs(float(value) - old) > 1e-9:
                    out[name] = value
            elif value != old:
                out[name] = value
        return out

    @Slot()
    def _on_value_changed(self, *_args: Any) -> None:
        changed = set(self.changes())
        notes = []
        if changed & REINDEX_KEYS:
            notes.append("⚠ Changing how documents are split or embedded rebuilds the index: "
                         "Cairn re-reads every document in the background after you press OK. "
                         "Answers may be incomplete until it finishes.")
        if changed & RELOAD_KEYS:
            notes.append("The chat model reloads with the new settings (no restart needed).")
        values = self.values()
        remote = values.get("generator_backend") == "server"
        for name in ("chat_model", "n_threads", "n_gpu_layers"):  # the server's own business
            if name in self._fields:
                self._fields[name].setEnabled(not remote)
        for name in ("chat_endpoint", "chat_endpoint_model"):
            if name in self._fields:
                self._fields[name].setEnabled(remote)
        if remote and changed & {
            "generator_backend", "chat_endpoint"
        }:
            address = values.get("chat_endpoint") or "(no address yet)"
            notes.append(f"⚠ Answers will come from {address}: each question and the passages "
                         "found for it in your documents are sent there.")
        self.warning.setText("\n".join(notes))
        self.warning.setVisible(bool(notes))
        self._show_plan()

    @property
    def reindex_warned(self) -> bool:
        return not self.warning.isHidden() and "rebuilds the index" in self.warning.text()

    @Slot()
    def _on_pick_gguf(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Choose a chat model", str(Path.home()), "GGUF models (*.gguf)"
        )
        if path:
            self.set_chat_model_file(path)

    def set_chat_model_file(self, path: str) -> None:
        if self.model_combo.findData(path) < 0:
            self.model_combo.addItem(Path(path).name, path)
        self.model_combo.setCurrentIndex(self.model_combo.findData(path))
