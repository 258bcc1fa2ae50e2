"""First run: a short welcome that asks for a folder (or offers the sample documents) and says
whether the models are ready, will be assembled on first use, or are missing (and what to do).

Choosing a folder is the only question: indexing starts right away.
"""

from __future__ import annotations

import html
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from desktop_app.theme import colors_for

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
    rows = []
    for line in lines:
        color = colors.error_fg if line.state == "missing" else "inherit"
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
        title = QLabel("Welcome to Cairn", self)
        font = title.font()
        font.setPointSizeF(font.pointSizeF() * 1.8)
        font.setBold(True)
        title.setFont(font)
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
        self.samples_button = QPushButton("Try the sample documents", self)
        self.samples_button.setObjectName("sampleDocsButton")
        self.choose_button.clicked.connect(self._on_choose_clicked)
        self.samples_button.clicked.connect(self.samples_requested)
        buttons = QHBoxLayout()
        buttons.addWidget(self.choose_button)
        buttons.addWidget(self.samples_button)
        buttons.addStretch(1)
        self.models_label = QLabel("Checking the models…", self)
        self.models_label.setObjectName("welcomeModels")
        self.models_label.setWordWrap(True)
        self.models_label.setTextFormat(Qt.TextFormat.RichText)
        self.state_label = QLabel("Loading…", self)
        self.state_label.setObjectName("welcomeState")
        self.state_label.setWordWrap(True)

        inner = QWidget(self)
        inner.setMaximumWidth(self.fontMetrics().horizontalAdvance("x") * 90)
        v = QVBoxLayout(inner)
        v.setSpacing(self.fontMetrics().height())
        v.addStretch(1)
        v.addWidget(title)
        v.addWidget(intro)
        v.addWidget(ask)
        v.addLayout(buttons)
        v.addWidget(QLabel("<b>Models</b>", self))
        v.addWidget(self.models_label)
        v.addWidget(self.state_label)
        v.addStretch(2)
        outer = QHBoxLayout(self)
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
        self.models_label.setText(models_html(lines, self.palette()))

    @Slot()
    def _on_choose_clicked(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Choose a folder for Cairn to read")
        if folder:
            self.folder_chosen.emit(Path(folder))
