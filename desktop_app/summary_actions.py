"""Whole-document answers in the window: "Summarize" / "Compare" / "List action items" on the
files selected in the Folders view (and the file of the search result last opened), progress
text for the answer pane, and "Export conversation…".

The actions do not run anything themselves: they write the request as an ask with `@"path"`
mentions, which `KnowledgeBase.stream` routes to whole-document answering. So a summary is an
ordinary turn of the conversation — streamed on the answer thread, stoppable with Stop/Esc,
shown with its citations in the Sources pane and saved with the conversation (`history.py`) —
and typing `@report.pdf` in the ask box does exactly what the menu does.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QAbstractItemView, QFileDialog, QMessageBox, QWidget

from desktop_app.conversation_export import conversation_to_markdown, export_file_name
from desktop_app.history import Conversation
from indexer.answer.document_notes import DocumentProgress


def mention(path: str) -> str:
    return f'@"{path}"'


def summary_question(paths: Sequence[str], mode: str = "summarize") -> str:
    """The ask that requests a whole-document answer over `paths` (full paths, quoted)."""
    files = " and ".join(mention(p) for p in paths)
    if mode == "compare":
        return f"Compare {files}"
    if mode == "list":
        return f"List the action items in {files}"
    return f"Summarize {files}"


def progress_text(item: DocumentProgress) -> str:
    """"Reading report.pdf p. 9–16 — step 2 of 7, about 3 min left"."""
    stage = {"reading": "Reading", "merging": "Merging notes", "comparing": "Comparing",
             "writing": "Writing the result"}.get(item.stage, item.stage)
    where = f" {item.label}" if item.label else ""
    left = ""
    if item.eta_s is not None:
        left = (f", about {max(1, round(item.eta_s))} s left" if item.eta_s < 90
                else f", about {round(item.eta_s / 60)} min left")
    return f"{stage}{where} — step {item.step + 1} of {item.steps}{left}"


def add_file_actions(view: QAbstractItemView, selected: Callable[[], list[str]],
                     ask: Callable[[str], object]) -> list[QAction]:
    """Context-menu actions on a view of files: Summarize (one or more), Compare (two),
    List action items. Each asks `ask(question)`; disabled while nothing fits is selected."""
    view.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
    view.setContextMenuPolicy(Qt.ContextMenuPolicy.ActionsContextMenu)
    actions = []
    for text, mode, fits in (("Summarize", "summarize", lambda n: n >= 1),
                             ("Compare the two files", "compare", lambda n: n == 2),
                             ("List action items", "list", lambda n: n >= 1)):
        action = QAction(text, view)
        action.setObjectName(f"{mode}Action")
        action.triggered.connect(
            lambda _c=False, m=mode: (paths := selected()) and ask(summary_question(paths, m)))
        view.addAction(action)
        actions.append((action, fits))

    def update() -> None:
        n = len(selected())
        for action, fits in actions:
            action.setEnabled(fits(n))

    view.selectionModel().selectionChanged.connect(lambda *_: update())
    update()
    return [a for a, _ in actions]


def export_conversation(parent: QWidget, conversation: Conversation,
                        folder: Path | None = None) -> Path | None:
    """Ask where to save, write the Markdown (citations as file links), return the path."""
    if not conversation.turns:
        QMessageBox.information(parent, "Export conversation", "This conversation is empty.")
        return None
    start = str((folder or Path.home()) / export_file_name(conversation))
    name, _ = QFileDialog.getSaveFileName(parent, "Export conversation", start,
                                          "Markdown (*.md)")
    if not name:
        return None
    path = Path(name)
    return write_export(path, conversation)


def write_export(path: Path, conversation: Conversation) -> Path:
    path.write_text(conversation_to_markdown(conversation), encoding="utf-8")
    return path
