"""The Sources pane: the numbered sources of an answer (or a search hit) and the cited place.

Each source shows its number (a chip like the answer's, so the two read as a pair), its file and
place (`Anchor.label()`) and the passage with the supporting words highlighted. The title names
what the list is for ("Sources for: <question>"), elided to the pane's width. Selecting one opens it in-app at that place — PDFs at the cited page, text, Markdown
and code at the cited lines — and offers "Open in default app" and "Show in folder". Only files
that are in the index are opened: the check and all file reads run on the read pool.

The text and PDF viewers highlight the cited sentences (`CitedPlace`) and know all the answer's
citations: `step_citation` (Go ▸ Next / Previous Citation, F8 / Shift+F8) moves within the open
file, and a step into another file comes back here (`citation_requested`) to open that source.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QEvent, Qt, QUrl, Signal, Slot
from PySide6.QtGui import QDesktopServices, QPainter, QPaintEvent
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QSplitter,
    QStackedWidget,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from desktop_app.history import Source
from desktop_app.rendering import Colors, highlight_snippet
from desktop_app.theme import bind_icon, colors_for
from desktop_app.viewers import (
    CitedPlace,
    PassageViewer,
    PdfViewer,
    TextViewer,
    read_bytes,
    read_text_file,
)

if TYPE_CHECKING:
    from desktop_app.app import Controller

# Formats whose line numbers refer to markup or to spreadsheet rows (XLSX/ODS/XLS), not to lines
# of the file a person reads: show the passage instead.
_NO_TEXT_VIEW = {
    ".html", ".htm", ".xhtml", ".docx", ".pptx", ".xlsx", ".xlsm", ".epub", ".odt", ".ods",
    ".odp", ".rtf", ".doc", ".xls", ".ppt", ".msg",
}  # fmt: skip


def view_kind(source: Source) -> str:
    """'pdf', 'text' (a line span in a text file) or 'passage'."""
    ext = Path(source.anchor.path).suffix.lower()
    if ext == ".pdf":
        return "pdf"
    if source.anchor.line_start and ext not in _NO_TEXT_VIEW:
        return "text"
    return "passage"


def _indexed(kb: Any, path: str) -> bool:
    return any(f.path == path for f in kb.files())


def open_externally(path: str) -> bool:
    return QDesktopServices.openUrl(QUrl.fromLocalFile(path))


def show_in_folder(path: str) -> bool:
    return QDesktopServices.openUrl(QUrl.fromLocalFile(str(Path(path).parent)))


class ElidedLabel(QLabel):
    """One line of text that ends in "…" when the pane is narrower than it; `text()` stays whole
    (callers read the title back) and the tooltip shows all of it."""

    def __init__(self, text: str = "", parent: QWidget | None = None) -> None:
        super().__init__(text, parent)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.setMinimumWidth(40)

    def setText(self, text: str) -> None:
        super().setText(text)
        self.setToolTip(text)

    def shown_text(self) -> str:
        """What is painted: the text, elided to the label's width."""
        return self.fontMetrics().elidedText(
            self.text(), Qt.TextElideMode.ElideRight, self.contentsRect().width()
        )

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setFont(self.font())
        painter.setPen(self.palette().color(self.foregroundRole()))
        align = Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter
        painter.drawText(self.contentsRect(), align, self.shown_text())


def number_chip(number: int, colors: Colors) -> str:
    """A source's number in the colours of the answer's citation chips."""
    return (
        f"<span style='background-color:{colors.chip_bg};color:{colors.chip_fg};"
        f"font-weight:600;'>&nbsp;{number}&nbsp;</span>"
    )


class SourcesView(QWidget):
    """Numbered sources above, the selected one opened at its place below.

    Signals:
        source_opened(object, str): (Source, how) once shown: "text", "pdf", "passage" or
            "missing" (the file is not in the index any more).
    """

    source_opened = Signal(object, str)

    def __init__(self, controller: Controller, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._controller = controller
        self.sources: list[Source] = []
        self.current: Source | None = None
        self._request = 0

        self.title = ElidedLabel("Sources", self)
        self.title.setObjectName("sourcesTitle")
        font = self.title.font()
        font.setBold(True)
        self.title.setFont(font)
        self.list = QTextBrowser(self)
        self.list.setObjectName("sourcesList")
        self.list.setOpenLinks(False)
        self.list.anchorClicked.connect(self._on_anchor_clicked)
        self.list.setPlaceholderText("Sources of an answer or a search result appear here.")

        self.place = QLabel(self)
        self.place.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.place.setWordWrap(True)
        # Icons with the words in a tooltip and for a screen reader: with words on them the two
        # buttons took most of the row, and the title ("Sources for: <question>") was elided
        # to its first letter in a pane of ordinary width.
        self.open_button = QPushButton(self)
        self.folder_button = QPushButton(self)
        for button, words, name in ((self.open_button, "Open in default app", "external-link"),
                                    (self.folder_button, "Show in folder", "folder-open")):
            button.setToolTip(words)
            button.setAccessibleName(words)
            bind_icon(button, name)
        self.open_button.clicked.connect(self._on_open_clicked)
        self.folder_button.clicked.connect(self._on_folder_clicked)
        for b in (self.open_button, self.folder_button):
            b.setEnabled(False)

        self.placeholder = QLabel("Select a source to see it at its place.", self)
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.placeholder.setWordWrap(True)
        self.text_viewer = TextViewer(self)
        self.pdf_viewer = PdfViewer(self)
        self.passage_viewer = PassageViewer(self)
        for cited_viewer in (self.text_viewer, self.pdf_viewer):
            cited_viewer.citation_requested.connect(self.select)
            cited_viewer.citation_shown.connect(self._on_citation_shown)
        self.stack = QStackedWidget(self)
        for w in (self.placeholder, self.text_viewer, self.pdf_viewer, self.passage_viewer):
            self.stack.addWidget(w)

        viewer = QWidget(self)
        v = QVBoxLayout(viewer)
        v.setContentsMargins(0, 0, 0, 0)
        v.addWidget(self.place)
        v.addWidget(self.stack, 1)

        self.splitter = QSplitter(Qt.Orientation.Vertical, self)
        self.splitter.addWidget(self.list)
        self.splitter.addWidget(viewer)
        self.splitter.setStretchFactor(0, 1)
        self.splitter.setStretchFactor(1, 3)
        self.splitter.setChildrenCollapsible(False)
        head = QHBoxLayout()
        head.addWidget(self.title, 1)
        head.addWidget(self.open_button)
        head.addWidget(self.folder_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addLayout(head)
        layout.addWidget(self.splitter, 1)

    # ------------------------------------------------------------------ list
    def show_sources(self, sources: list[Source], title: str = "Sources") -> None:
        """Replace the list (selection is cleared; the viewer keeps what it shows)."""
        self.sources = list(sources)
        self.title.setText(title)
        self._render_list()

    def _render_list(self) -> None:
        colors = colors_for(self.palette())
        highlight = self.palette().color(self.palette().ColorRole.Highlight)
        sel_bg = f"rgba({highlight.red()},{highlight.green()},{highlight.blue()},0.18)"
        blocks = []
        for s in self.sources:
            selected = self.current is not None and s is self.current
            style = f"background-color:{sel_bg};" if selected else ""
            snippet = highlight_snippet(s.snippet or s.text[:300], colors)
            blocks.append(
                f"<table width='100%' cellpadding='4' style='{style}'><tr><td>"
                f"<a href='src:{s.number}' title='{html.escape(s.anchor.path, quote=True)}' "
                f"style='text-decoration:none;'>"
                f"{number_chip(s.number, colors)} {html.escape(s.label)}</a><br/>"
                f"<span>{snippet}</span></td></tr></table>"
            )
        self.list.setHtml("".join(blocks))

    def clear(self) -> None:
        """Back to the empty pane: no sources, no file shown (a new conversation starts here,
        and a file from the last one left open would read as this one's source)."""
        self.sources = []
        self.current = None
        self._request += 1  # a file still loading for the old list must not appear
        self.list.clear()
        self.title.setText("Sources")
        self.place.clear()
        self.place.setToolTip("")
        self.stack.setCurrentWidget(self.placeholder)
        for b in (self.open_button, self.folder_button):
            b.setEnabled(False)

    def select(self, number: int) -> bool:
        """Select source `number` and open it at its place. False if there is no such source."""
        source = next((s for s in self.sources if s.number == number), None)
        if source is None:
            return False
        self.open_source(source)
        return True

    @Slot(QUrl)
    def _on_anchor_clicked(self, url: QUrl) -> None:
        text = url.toString()
        if text.startswith("src:"):
            self.select(int(text[4:]))

    # ------------------------------------------------------------------ viewer
    def open_source(self, source: Source) -> None:
        """Show `source` at its place (after checking the file is in the index)."""
        self.current = source
        self._render_list()
        self._request += 1
        request = self._request
        self._render_place()
        for b in (self.open_button, self.folder_button):
            b.setEnabled(False)
        path = source.anchor.path

        def checked(indexed: bool) -> None:
            if request != self._request:
                return
            if not indexed:
                self._show_passage(source, "This file is not in the index any more.", "missing")
                return
            for b in (self.open_button, self.folder_button):
                b.setEnabled(True)
            self._load(source, request)

        def failed(exc: BaseException) -> None:
            if request == self._request:
                self._show_passage(source, f"Cannot check the file: {exc}", "missing")

        if not self._controller.read(lambda kb: _indexed(kb, path), checked, failed):
            self._show_passage(source, "The index is not open yet.", "missing")

    def _load(self, source: Source, request: int) -> None:
        kind = view_kind(source)
        path = source.anchor.path
        if kind == "passage":
            self._show_passage(source, "", "passage")
            return

        def loaded(data: Any) -> None:
            if request != self._request:
                return
            place = CitedPlace.from_source(source)
            places = [CitedPlace.from_source(s) for s in self.sources]
            if kind == "pdf":
                self.stack.setCurrentWidget(self.pdf_viewer)
                self.pdf_viewer.show_citation(data, place, places)
            else:
                self.stack.setCurrentWidget(self.text_viewer)
                self.text_viewer.show_citation(data, place, places)
            self.source_opened.emit(source, kind)

        def failed(exc: BaseException) -> None:
            if request == self._request:
                self._show_passage(source, f"Cannot read the file: {exc}", "passage")

        reader = read_bytes if kind == "pdf" else read_text_file
        self._controller.pool.run(lambda: reader(path), loaded, failed)

    @Slot(int)
    def _on_citation_shown(self, number: int) -> None:
        """A viewer stepped to another citation in the same file: select it in the list."""
        source = next((s for s in self.sources if s.number == number), None)
        if source is not None:
            self.current = source
            self._render_list()
            self._render_place()

    def step_citation(self, delta: int) -> bool:
        """Next (+1) / previous (-1) citation: the open viewer moves within its file (or asks
        for the next source, `citation_requested`); otherwise (a passage, nothing open yet) the
        next or previous source in the list is opened. False when there is none."""
        viewer = self.stack.currentWidget()
        shown = viewer.steps.current if isinstance(viewer, (TextViewer, PdfViewer)) else None
        if shown is not None and self._is_current(shown.number):
            return viewer.step_citation(delta)
        numbers = [s.number for s in self.sources]
        if not numbers:
            return False
        at = next((i for i, s in enumerate(self.sources) if s is self.current), -1)
        target = at + delta if at >= 0 else (0 if delta > 0 else len(numbers) - 1)
        return 0 <= target < len(numbers) and self.select(numbers[target])

    def _is_current(self, number: int) -> bool:
        """The selected source is `number` of the list shown (not of an earlier answer whose
        place a viewer may still show after `show_sources` replaced the list)."""
        current = self.current
        return current is not None and current.number == number and any(
            s is current for s in self.sources)

    def _show_passage(self, source: Source, note: str, how: str) -> None:
        heading = " › ".join(source.anchor.heading_path)
        self.passage_viewer.show_passage(heading, source.text, source.snippet, note)
        self.stack.setCurrentWidget(self.passage_viewer)
        self.source_opened.emit(source, how)

    @Slot()
    def _on_open_clicked(self) -> None:
        if self.current is not None:
            open_externally(self.current.anchor.path)

    @Slot()
    def _on_folder_clicked(self) -> None:
        if self.current is not None:
            show_in_folder(self.current.anchor.path)

    def changeEvent(self, event: QEvent) -> None:
        if event.type() == QEvent.Type.PaletteChange:  # light/dark switch: re-render rich text
            self.refresh_theme()
        super().changeEvent(event)

    def _render_place(self) -> None:
        source = self.current
        if source is None:
            return
        colors = colors_for(self.palette())
        self.place.setText(f"{number_chip(source.number, colors)} {html.escape(source.label)}")
        self.place.setToolTip(source.anchor.path)

    def refresh_theme(self) -> None:
        self._render_list()
        self._render_place()
        if self.stack.currentWidget() is self.passage_viewer and self.current is not None:
            self._show_passage(self.current, "", "passage")

