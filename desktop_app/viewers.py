"""In-app viewers for a cited place: text/code/Markdown at a line span, PDFs at a page.

File bytes are read on the read pool (never on the GUI thread); the widgets only display them.
`TextViewer` scrolls to the cited lines and highlights them; `PdfViewer` opens the PDF at the
cited page and, when it can find the passage's opening words on that page, highlights them.
`PassageViewer` shows the cited passage itself for formats without an in-app viewer.
"""

from __future__ import annotations

import html
import re

from PySide6.QtCore import (
    QBuffer,
    QByteArray,
    QIODevice,
    QModelIndex,
    QPointF,
    QTimer,
    Signal,
    Slot,
)
from PySide6.QtGui import QColor, QFontDatabase, QResizeEvent, QTextCursor, QTextFormat
from PySide6.QtPdf import QPdfDocument, QPdfSearchModel
from PySide6.QtPdfWidgets import QPdfView
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QTextBrowser,
    QTextEdit,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from desktop_app.rendering import highlight_snippet
from desktop_app.theme import colors_for, is_dark

MAX_TEXT_BYTES = 8 * 1024 * 1024  # larger text files are shown around the cited lines only


def read_text_file(path: str) -> str:
    """Read a text file for display (runs on the pool). Undecodable bytes become U+FFFD."""
    with open(path, "rb") as fh:
        data = fh.read(MAX_TEXT_BYTES + 1)
    truncated = len(data) > MAX_TEXT_BYTES
    text = data[:MAX_TEXT_BYTES].decode("utf-8", errors="replace")
    text = text.removeprefix("\ufeff")
    if truncated:
        text += "\n\n[… file truncated for display …]"
    return text


def read_bytes(path: str) -> bytes:
    with open(path, "rb") as fh:
        return fh.read()


class TextViewer(QPlainTextEdit):
    """Read-only, monospaced view of a text file, scrolled to and highlighting a line span."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setReadOnly(True)
        self.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)
        self.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.setObjectName("textViewer")
        self.path: str | None = None
        self.line_span: tuple[int, int] | None = None
        # Until the user scrolls, keep the span in view when the width (and so the wrapping)
        # changes, e.g. right after the viewer is first shown or the splitter moves.
        self._pinned = False
        self.verticalScrollBar().actionTriggered.connect(self._on_user_scrolled)

    def show_text(self, path: str, text: str, line_start: int | None, line_end: int | None) -> None:
        if path != self.path or self.toPlainText() != text:
            self.setPlainText(text)
        self.path = path
        self.highlight_lines(line_start, line_end)

    def highlight_lines(self, line_start: int | None, line_end: int | None) -> None:
        """Highlight source lines `line_start..line_end` (1-based) and scroll them into view."""
        doc = self.document()
        if not line_start:
            self.setExtraSelections([])
            self.line_span = None
            return
        last = max(line_start, line_end or line_start)
        first_block = doc.findBlockByNumber(max(0, line_start - 1))
        last_block = doc.findBlockByNumber(min(doc.blockCount() - 1, last - 1))
        color = QColor(self.palette().color(self.palette().ColorRole.Highlight))
        color.setAlpha(70 if not is_dark(self.palette()) else 110)
        selection = QTextEdit.ExtraSelection()
        selection.format.setBackground(color)
        selection.format.setProperty(QTextFormat.Property.FullWidthSelection, True)
        cursor = QTextCursor(first_block)
        cursor.setPosition(last_block.position() + max(0, last_block.length() - 1),
                           QTextCursor.MoveMode.KeepAnchor)
        selection.cursor = cursor
        self.setExtraSelections([selection])
        self.line_span = (line_start, last)
        self._pinned = True
        self.scroll_to_span()
        QTimer.singleShot(0, self.scroll_to_span)  # again once the layout has its final width

    def scroll_to_span(self) -> None:
        """Show the span near the top, with three lines of context above it."""
        if self.line_span is None:
            return
        doc = self.document()
        line_start = self.line_span[0]
        # Scrolling up to a cursor puts its line at the top: go to the end first, then up to
        # the context line.
        self.moveCursor(QTextCursor.MoveOperation.End)
        self.ensureCursorVisible()
        self.setTextCursor(QTextCursor(doc.findBlockByNumber(max(0, line_start - 4))))
        self.ensureCursorVisible()
        self.setTextCursor(QTextCursor(doc.findBlockByNumber(max(0, line_start - 1))))

    @Slot(int)
    def _on_user_scrolled(self, _action: int) -> None:
        self._pinned = False

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        if self._pinned:
            self.scroll_to_span()

    def first_visible_line(self) -> int:
        """1-based number of the first line on screen (for tests and screenshots)."""
        return self.firstVisibleBlock().blockNumber() + 1


class PdfViewer(QWidget):
    """A PDF at a page, with page navigation and a highlight of the cited words when found.

    Signals:
        page_shown(int): the 1-based page now at the top of the view.
    """

    page_shown = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.document = QPdfDocument(self)
        self.view = QPdfView(self)
        self.view.setObjectName("pdfView")
        self.view.setPageMode(QPdfView.PageMode.MultiPage)
        self.view.setZoomMode(QPdfView.ZoomMode.FitToWidth)
        self.view.setDocument(self.document)
        self.search = QPdfSearchModel(self)
        self.search.setDocument(self.document)
        self.view.setSearchModel(self.search)
        self._buffer: QBuffer | None = None
        self.path: str | None = None
        self._pending_page: int | None = None
        self._pending_phrase = ""
        self._target_page: int | None = None

        self.page_label = QLabel(self)
        prev_btn = QToolButton(self, text="‹", toolTip="Previous page", autoRaise=True)
        next_btn = QToolButton(self, text="›", toolTip="Next page", autoRaise=True)
        zoom_out = QToolButton(self, text="−", toolTip="Zoom out", autoRaise=True)
        zoom_in = QToolButton(self, text="+", toolTip="Zoom in", autoRaise=True)
        fit = QToolButton(self, text="Fit width", toolTip="Fit the page width", autoRaise=True)
        prev_btn.clicked.connect(lambda: self.go_to(self.current_page() - 1))
        next_btn.clicked.connect(lambda: self.go_to(self.current_page() + 1))
        zoom_out.clicked.connect(lambda: self._zoom(1 / 1.25))
        zoom_in.clicked.connect(lambda: self._zoom(1.25))
        fit.clicked.connect(lambda: self.view.setZoomMode(QPdfView.ZoomMode.FitToWidth))
        bar = QHBoxLayout()
        bar.setContentsMargins(0, 0, 0, 0)
        for w in (prev_btn, self.page_label, next_btn):
            bar.addWidget(w)
        bar.addStretch(1)
        for w in (zoom_out, zoom_in, fit):
            bar.addWidget(w)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(bar)
        layout.addWidget(self.view, 1)

        self.document.statusChanged.connect(self._on_status_changed)
        self.view.pageNavigator().currentPageChanged.connect(self._on_current_page_changed)
        self.search.rowsInserted.connect(self._on_search_results_inserted)

    def current_page(self) -> int:
        """1-based page at the top of the view."""
        return self.view.pageNavigator().currentPage() + 1

    def load(self, path: str, data: bytes, page: int | None, phrase: str = "") -> None:
        """Show `data` (the bytes of `path`, read on the pool) at 1-based `page`."""
        self._pending_page = page or 1
        self._pending_phrase = phrase
        if path == self.path and self.document.status() == QPdfDocument.Status.Ready:
            self._go_to_pending()
            return
        self.path = path
        self.search.setSearchString("")
        self.document.close()
        if self._buffer is not None:
            self._buffer.close()
            self._buffer.deleteLater()
        self._buffer = QBuffer(self)
        self._buffer.setData(QByteArray(data))
        self._buffer.open(QIODevice.OpenModeFlag.ReadOnly)
        self.document.load(self._buffer)
        if self.document.status() == QPdfDocument.Status.Ready:
            self._go_to_pending()

    def go_to(self, page: int) -> None:
        count = self.document.pageCount()
        if count <= 0:
            return
        page = min(max(1, page), count)
        self.view.pageNavigator().jump(page - 1, QPointF(), self.view.pageNavigator().currentZoom())
        self._update_label()

    def _zoom(self, factor: float) -> None:
        self.view.setZoomMode(QPdfView.ZoomMode.Custom)
        self.view.setZoomFactor(max(0.25, min(6.0, self.view.zoomFactor() * factor)))

    @Slot(QPdfDocument.Status)
    def _on_status_changed(self, status: QPdfDocument.Status) -> None:
        if status == QPdfDocument.Status.Ready:
            self._go_to_pending()
        elif status == QPdfDocument.Status.Error:
            self.page_label.setText("Cannot open this PDF")

    def _go_to_pending(self) -> None:
        if self._pending_page is None:
            return
        page, self._pending_page = self._pending_page, None
        self.go_to(page)
        self._target_page = page
        self.search.setSearchString(self._pending_phrase)

    @Slot()
    def _on_search_results_inserted(self) -> None:
        target = self._target_page
        if target is None:
            return
        for i in range(self.search.rowCount(QModelIndex())):
            link = self.search.resultAtIndex(i)
            if link.page() == target - 1:
                self.view.setCurrentSearchResultIndex(i)
                self._target_page = None
                self.go_to(target)
                return

    @Slot(int)
    def _on_current_page_changed(self, _page: int) -> None:
        self._update_label()
        self.page_shown.emit(self.current_page())

    def _update_label(self) -> None:
        count = self.document.pageCount()
        self.page_label.setText(f"Page {self.current_page()} of {count}" if count else "")


def pdf_phrase(text: str, snippet: str = "", words: int = 4) -> str:
    """A short run of words to find (and highlight) on the cited page.

    The snippet's first words sit next to the matched terms, so they are preferred; the
    passage's first words are the fallback.
    """
    for source in (snippet.replace("«", "").replace("»", "").strip("…. "), text):
        tokens = re.findall(r"[^\s…]+", source)
        if len(tokens) >= 3:
            return " ".join(tokens[:words])
    return ""


class PassageViewer(QTextBrowser):
    """The cited passage itself, highlighted, for formats shown outside Cairn (HTML, DOCX…)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setOpenLinks(False)
        self.setObjectName("passageViewer")

    def show_passage(self, heading: str, text: str, snippet: str, note: str = "") -> None:
        """The whole passage, with the words the snippet marked («…») highlighted in it."""
        colors = colors_for(self.palette())
        parts = []
        if heading:
            parts.append(f"<p style='color:{colors.muted};'>{html.escape(heading)}</p>")
        if note:
            parts.append(f"<p><i>{html.escape(note)}</i></p>")
        terms = sorted({t.strip() for t in re.findall(r"«(.+?)»", snippet) if t.strip()},
                       key=len, reverse=True)
        pattern = (re.compile("|".join(rf"\b{re.escape(t)}\b" for t in terms), re.IGNORECASE)
                   if terms else None)
        paragraphs = [p for p in re.split(r"\n\s*\n", text.strip()) if p.strip()]
        for para in paragraphs:
            marked = pattern.sub(lambda m: f"«{m.group(0)}»", para) if pattern else para
            body = highlight_snippet(marked, colors) if pattern else html.escape(para)
            parts.append(f"<p>{body}</p>")
        self.setHtml("".join(parts))

