"""First run: a short welcome that asks for a folder (or offers the sample documents) and says
whether the models are ready, will be assembled on first use, or are missing (and what to do),
then a strip of three steps that shows the way to the first answer.

Choosing a folder is the only question: indexing starts right away. Why the steps strip
(`FirstRunSteps`) above the workspace and not more pages of a wizard: the person sees the real
window fill up (files read, the Folders tab's progress) while the strip says which step they
are at — documents added, documents read (n of m files), first question — and, for the sample
documents, offers a question that they answer.
"""

from __future__ import annotations

import html
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QEvent, Qt, Signal, Slot
from PySide6.QtGui import QGuiApplication, QPalette
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from desktop_app.theme import SPACING, bind_icon, colors_for, set_role

if TYPE_CHECKING:
    from indexer.config import Settings

SAMPLE_DIR = Path(__file__).with_name("sample_docs")
SAMPLE_FILES = (
    "field-guide-to-cairns.md",
    "trail_pace.py",
    "brewing-green-tea.html",
    "observing-the-night-sky.pdf",
)
SAMPLE_FOLDER_NAME = "Sample documents"
#: The question the first-run steps offer for the sample documents (the self-test asks it too).
SAMPLE_QUESTION = "What water temperature should I use to brew green tea?"


def copy_samples(dest: Path) -> Path:
    """Copy the bundled sample documents into `dest` (created); returns `dest`."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in SAMPLE_FILES:
        target = dest / name
        if not target.exists():
            shutil.copy2(SAMPLE_DIR / name, target)
    return dest


@dataclass(frozen=True)
class ModelLine:
    """One model's readiness, for the welcome page and the status bar."""

    role: str
    name: str
    state: str  # "ready" | "assemblable" | "assembling" | "missing" | "fake" | "file"
    detail: str


def _size(n_bytes: int) -> str:
    return f"{n_bytes / 1e9:.1f} GB" if n_bytes >= 1e9 else f"{n_bytes / 1e6:.0f} MB"


def describe_models(settings: Settings, preparing: bool = False) -> list[ModelLine]:
    """Which models this session will use and whether they are ready (cheap: stat + metadata).

    `preparing`: the chat model is being assembled/loaded right now (`Controller.warm_up`).
    """
    from indexer.runtime import CATALOG, model_status

    lines: list[ModelLine] = []
    wanted = [
        ("Embedding model", settings.embedder_backend, settings.embedder_model, "fastembed"),
        ("Chat model", settings.generator_backend, settings.chat_model, "llama_cpp"),
    ]
    for role, backend, model, real in wanted:
        if backend != real:
            detail = ("Hashed word vectors, for tests and demos." if real == "fastembed"
                      else "For tests and demos: answers quote the best passage.")
            lines.append(ModelLine(role, "Deterministic test model", "fake", detail))
            continue
        if model in CATALOG:
            st = model_status(settings.paths.models_dir, [model])[0]
            state = st.status
            if state == "assemblable" and preparing and backend == "llama_cpp":
                state = "assembling"
            detail = {
                "ready": "Ready.",
                "assembling": f"Assembling from its installed packages ({_size(st.size_bytes)})…",
                "assemblable": "Installed as packages; Cairn assembles it on first use "
                f"({_size(st.size_bytes)}, takes a moment).",
            }.get(state, st.hint or "Not installed.")
            lines.append(ModelLine(role, CATALOG[model].display_name, state, detail))
        else:
            path = Path(model).expanduser()
            ok = path.exists()
            lines.append(ModelLine(
                role, path.name, "file" if ok else "missing",
                "Your own model file." if ok else f"File not found: {path}. Pick another "
                "model in Settings.",
            ))
    return lines


STATE_MARK = {"ready": "✔", "assemblable": "○", "assembling": "⟳", "fake": "✔", "file": "✔",
              "missing": "✖"}


def models_html(lines: list[ModelLine], palette: Any = None) -> str:
    colors = colors_for(palette)
    text = (palette or QGuiApplication.palette()).color(QPalette.ColorRole.WindowText).name()
    rows = []
    for line in lines:
        color = colors.error_fg if line.state == "missing" else text  # rich text has no inherit
        rows.append(
            f"<tr><td style='color:{color};'>{STATE_MARK.get(line.state, '')}</td>"
            f"<td><b>{html.escape(line.role)}:</b> {html.escape(line.name)}<br/>"
            f"<span style='color:{colors.muted};'>{html.escape(line.detail)}</span></td></tr>"
        )
    return "<table cellspacing='4'>" + "".join(rows) + "</table>"


class WelcomePage(QWidget):
    """First-run page.

    Signals:
        folder_chosen(object): a Path the user picked.
        samples_requested(): the user asked for the bundled sample documents.
    """

    folder_chosen = Signal(object)
    samples_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("welcomePage")
        self._model_lines: list[ModelLine] | None = None
        title = set_role(QLabel("Welcome to Cairn", self), "title")
        intro = QLabel(
            "Cairn answers questions about the documents on this computer and shows exactly "
            "where each answer comes from — file, page, line or heading. Everything runs "
            "here: your documents and questions never leave this machine.",
            self,
        )
        intro.setWordWrap(True)
        ask = QLabel("<b>Which folder should Cairn read?</b> It keeps the index up to date as "
                     "files change. You can add more folders later.", self)
        ask.setWordWrap(True)
        self.choose_button = QPushButton("Choose a folder…", self)
        self.choose_button.setObjectName("chooseFolderButton")
        self.choose_button.setDefault(True)
        bind_icon(self.choose_button, "folder-plus")
        self.samples_button = QPushButton("Try the sample documents", self)
        self.samples_button.setObjectName("sampleDocsButton")
        bind_icon(self.samples_button, "sparkles")
        self.choose_button.clicked.connect(self._on_choose_clicked)
        self.samples_button.clicked.connect(self.samples_requested)
        buttons = QHBoxLayout()
        buttons.setSpacing(SPACING)
        buttons.addWidget(self.choose_button)
        buttons.addWidget(self.samples_button)
        buttons.addStretch(1)
        self.models_label = QLabel("Checking the models…", self)
        self.models_label.setObjectName("welcomeModels")
        self.models_label.setWordWrap(True)
        self.models_label.setTextFormat(Qt.TextFormat.RichText)
        self.state_label = set_role(QLabel("Loading…", self), "muted")
        self.state_label.setObjectName("welcomeState")
        self.state_label.setWordWrap(True)

        inner = QWidget(self)
        inner.setMaximumWidth(self.fontMetrics().horizontalAdvance("x") * 90)
        v = QVBoxLayout(inner)
        v.setSpacing(SPACING * 2)
        v.addStretch(1)
        v.addWidget(title)
        v.addWidget(intro)
        v.addWidget(ask)
        v.addLayout(buttons)
        v.addSpacing(SPACING)
        v.addWidget(set_role(QLabel("Models", self), "heading"))
        v.addWidget(self.models_label)
        v.addWidget(self.state_label)
        v.addStretch(2)
        outer = QHBoxLayout(self)
        outer.setContentsMargins(SPACING * 3, SPACING * 3, SPACING * 3, SPACING * 3)
        outer.addStretch(1)
        outer.addWidget(inner, 6)
        outer.addStretch(1)
        self.set_ready(False)

    def set_ready(self, ready: bool, message: str = "") -> None:
        """Buttons work once the knowledge base is open; `message` explains the wait or error."""
        self.choose_button.setEnabled(ready)
        self.samples_button.setEnabled(ready)
        self.state_label.setText(message or ("" if ready else "Opening the index…"))

    def set_models(self, lines: list[ModelLine]) -> None:
        self._model_lines = lines
        self.models_label.setText(models_html(lines, self.palette()))

    def changeEvent(self, event: QEvent) -> None:
        if event.type() == QEvent.Type.PaletteChange and self._model_lines is not None:
            self.set_models(self._model_lines)  # light/dark switch: re-render the colours
        super().changeEvent(event)

    @Slot()
    def _on_choose_clicked(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Choose a folder for Cairn to read")
        if folder:
            self.folder_chosen.emit(Path(folder))


class FirstRunSteps(QWidget):
    """Three steps to the first answer, shown above the workspace after the welcome page.

    1. documents added, 2. documents read (a bar: n of m files), 3. the first question — for the
    sample documents a button that asks `SAMPLE_QUESTION`; for a folder of one's own, a button
    that goes to the question box. It says "done" after the first answer and can be dismissed.

    Signals:
        ask_requested(str): the person asked the offered question ("" for "go to the box").
    """

    ask_requested = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("firstRunSteps")
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground)
        self.folder_name = ""
        self.sample = False
        self.stage = "idle"  # "adding" | "reading" | "ready" | "answered"
        self.steps = [QLabel(self) for _ in range(3)]
        self.bar = QProgressBar(self)
        self.bar.setAccessibleName("Documents read")
        self.bar.setMaximumWidth(self.fontMetrics().horizontalAdvance("x") * 24)
        self.ask_button = QPushButton("Ask a first question", self)
        self.ask_button.setObjectName("firstQuestionButton")
        self.ask_button.setProperty("primary", True)
        bind_icon(self.ask_button, "send")
        self.ask_button.clicked.connect(self._on_ask_clicked)
        close = QToolButton(self, toolTip="Hide these steps", autoRaise=True)
        close.setAccessibleName("Hide the first-run steps")
        bind_icon(close, "x")
        close.clicked.connect(self.hide)
        self.close_button = close
        row = QHBoxLayout(self)
        row.setContentsMargins(SPACING * 2, SPACING, SPACING, SPACING)
        row.setSpacing(SPACING * 2)
        row.addWidget(self.steps[0])
        row.addWidget(self.steps[1])
        row.addWidget(self.bar)
        row.addWidget(self.steps[2])
        row.addWidget(self.ask_button)
        row.addStretch(1)
        row.addWidget(close)
        self.hide()

    def start(self, folder_name: str, sample: bool) -> None:
        """The person chose a folder (or the samples) on the welcome page."""
        self.folder_name, self.sample = folder_name, sample
        self.stage = "adding"
        self._render(0, 0)
        self.show()

    def set_files(self, done: int, total: int, working: bool) -> None:
        """Files read so far; ready for a question once every file is done and nothing runs."""
        if self.stage in ("idle", "answered"):
            return
        if total:
            self.stage = "ready" if done >= total and not working else "reading"
        self._render(done, total)

    def set_answered(self) -> None:
        if self.stage in ("ready", "reading"):
            self.stage = "answered"
            self._render(0, 0)

    def _render(self, done: int, total: int) -> None:
        what = "The sample documents" if self.sample else f"“{self.folder_name}”"
        ok, todo, now = "✓", "○", "●"
        stage = self.stage
        first = f"{ok} 1 · {what} added" if stage != "adding" else f"{now} 1 · Adding {what}…"
        if stage in ("ready", "answered"):
            second = f"{ok} 2 · Read — every file is searchable"
        elif stage == "reading":
            second = f"{now} 2 · Reading: {done} of {total} files"
        else:
            second = f"{todo} 2 · Read the documents"
        if stage == "answered":
            third = f"{ok} 3 · First answer — click a numbered source to see it at its place"
        elif stage == "ready":
            third = f"{now} 3 · Ask your first question"
        else:
            third = f"{todo} 3 · Ask a question"
        for label, text in zip(self.steps, (first, second, third), strict=True):
            label.setText(text)
        self.bar.setVisible(stage == "reading")
        self.bar.setMaximum(max(1, total))
        self.bar.setValue(done)
        self.bar.setFormat(f"{done}/{total}")
        self.ask_button.setVisible(stage == "ready")
        self.ask_button.setText(f"Ask “{SAMPLE_QUESTION}”" if self.sample
                                else "Go to the question box")

    @Slot()
    def _on_ask_clicked(self) -> None:
        self.ask_requested.emit(SAMPLE_QUESTION if self.sample else "")
