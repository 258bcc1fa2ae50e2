"""In-app viewers for a cited place: text/code/Markdown and PDFs at the cited sentences.

File bytes are read on the read pool (never on the GUI thread); the widgets only display them.
Given a `CitedPlace` (`show_citation`), `TextViewer` and `PdfViewer` highlight the sentences the
answer cites (the citation's spans, found again in what they display) and scroll there; a place
without spans (a conversation saved before citations had them) falls back to what `show_text`
and `load` do: the cited lines in a text file, the passage's first words on the cited PDF page.
Both step through the answer's citations (`step_citation`, the bar's buttons, F8 / Shift+F8):
within the shown file they move the highlight, otherwise they ask their owner to open the next
source (`citation_requested`). `PassageViewer` shows the cited passage itself for formats
without an in-app viewer.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence

from PySide6.QtCore import (
    QBuffer,
    QByteArray,
    QIODevice,
    QModelIndex,
    QPointF,
    Qt,
    QTimer,
    Signal,
    Slot,
)
from PySide6.QtGui import (
    QColor,
    QFontDatabase,
    QKeyEvent,
    QResizeEvent,
    QTextCursor,
    QTextFormat,
)
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

from desktop_app.cited_places import CitationBar, CitationSteps, CitedPlace, pdf_phrase
from desktop_app.pdf_highlight import HighlightPdfView, find_on_page
from desktop_app.rendering import highlight_snippet
from desktop_app.theme import colors_for, is_dark
from indexer.answer.cited_spans import loose_find

__all__ = [
    "CitedPlace", "PassageViewer", "PdfViewer", "TextViewer", "pdf_phrase", "read_bytes",
    "read_text_file", "step_direction",
]

MAX_TEXT_BYTES = 8 * 1024 * 1024  # larger text files are shown around the cited lines only
_SEARCH_AROUND = 20_000  # characters around a stale span searched for its sentence
_SEARCH_WHOLE = 1_000_000  # files up to this size are searched whole when that fails


def step_direction(event: QKeyEvent) -> int:
    """+1 for F8, -1 for Shift+F8, 0 for any other key (the viewers' next/previous citation)."""
    if event.key() != Qt.Key.Key_F8:
        return 0
    return -1 if event.modifiers() & Qt.KeyboardModifier.ShiftModifier else 1


def _utf16(text: str, index: int) -> int:
    """Qt's position (UTF-16 code units) of Python's `index` (code points) in `text`."""
    return index if text.isascii() else len(text[:index].encode("utf-16-le")) // 2


def locate_texts(text: str, place: CitedPlace) -> list[tuple[int, int]]:
    """Where each cited sentence of `place` is in `text`: at its span when the text there is
    the same, else where it is found near the span (the file was edited), else anywhere in a
    file of modest size; sentences not found are left out."""
    ranges = []
    for (start, end), cited in zip(place.spans, place.texts, strict=True):
        if text[start:end] == cited:
            ranges.append((start, end))
            continue
        lo = max(0, start - _SEARCH_AROUND)
        found = loose_find(text[lo:end + _SEARCH_AROUND], cited)
        if found is not None:
            ranges.append((lo + found[0], lo + found[1]))
        elif len(text) <= _SEARCH_WHOLE and (found := loose_find(text, cited)) is not None:
            ranges.append(found)
    return sorted(set(ranges))


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
    """Read-only, monospaced view of a text file, scrolled to and highlighting the cited
    sentences (or, without them, the cited lines).

    Signals:
        citation_requested(int): stepping reached a citation in another file: its number (the
            owner opens that source, which calls `show_citation` or `PdfViewer.show_citation`).
        citation_shown(int): stepping moved the highlight to citation n in this file.
    """

    citation_requested = Signal(int)
    citation_shown = Signal(int)

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
        self.cited_ranges: list[tuple[int, int]] = []  # offsets in toPlainText() now marked
        self.steps = CitationSteps()
        self.bar = CitationBar(self)
        self.bar.setAutoFillBackground(True)
        self.bar.step_requested.connect(self.step_citation)
        self.bar.hide()

    def _set_text(self, path: str, text: str) -> None:
        if path != self.path or self.toPlainText() != text:
            self.setPlainText(text)
        self.path = path

    def show_text(self, path: str, text: str, line_start: int | None, line_end: int | None) -> None:
        """`text` (the file at `path`) with lines `line_start..line_end` highlighted."""
        self._set_text(path, text)
        self.steps = CitationSteps()
        self._update_bar()
        self.highlight_lines(line_start, line_end)

    def show_citation(self, text: str, place: CitedPlace, places: Sequence[CitedPlace] = ()) -> None:
        """`text` (the file of `place`) at the cited sentences; `places` are all the sources of
        the answer, in order, for stepping (`place` among them)."""
        self._set_text(place.path, text)
        self.steps.set(places, place)
        self._show_place(place)

    def step_citation(self, delta: int) -> bool:
        """Show the citation `delta` steps away (+1 next, -1 previous). False past either end."""
        target = self.steps.target(delta)
        if target is None:
            return False
        index, place = target
        if place.path != self.path:
            self.citation_requested.emit(place.number)
            return True
        self.steps.index = index
        self._show_place(place)
        self.citation_shown.emit(place.number)
        return True

    def _show_place(self, place: CitedPlace) -> None:
        ranges = locate_texts(self.toPlainText(), place) if place.texts else []
        if ranges:
            self.highlight_ranges(ranges)
        else:
            self.highlight_lines(place.line_start, place.line_end)
        self._update_bar()

    def highlight_ranges(self, ranges: Sequence[tuple[int, int]]) -> None:
        """Highlight character ranges (offsets in `toPlainText()`) and scroll the first into
        view; `line_span` becomes the lines they cover."""
        text = self.toPlainText()
        doc = self.document()
        color = QColor(self.palette().color(self.palette().ColorRole.Highlight))
        color.setAlpha(90 if not is_dark(self.palette()) else 130)
        selections = []
        for start, end in ranges:
            selection = QTextEdit.ExtraSelection()
            selection.format.setBackground(color)
            cursor = QTextCursor(doc)
            cursor.setPosition(_utf16(text, start))
            cursor.setPosition(_utf16(text, end), QTextCursor.MoveMode.KeepAnchor)
            selection.cursor = cursor
            selections.append(selection)
        self.setExtraSelections(selections)
        self.cited_ranges = list(ranges)
        first = doc.findBlock(_utf16(text, ranges[0][0])).blockNumber() + 1
        last = doc.findBlock(_utf16(text, ranges[-1][1])).blockNumber() + 1
        self.line_span = (first, last)
        self._pinned = True
        self.scroll_to_span()
        QTimer.singleShot(0, self.scroll_to_span)

    def highlighted_texts(self) -> list[str]:
        """The text under each highlight (for tests and screenshots)."""
        return [s.cursor.selectedText().replace("\u2029", "\n") for s in self.extraSelections()]

    def _update_bar(self) -> None:
        self.bar.show_steps(self.steps)
        self.bar.setVisible(self.steps.current is not None)
        self.setViewportMargins(0, self.bar.sizeHint().height() if self.bar.isVisibleTo(self) else 0,
                                0, 0)
        self._place_bar()

    def _place_bar(self) -> None:
        """Above the text, as wide as the text (the scroll bar keeps its own column)."""
        rect, view = self.contentsRect(), self.viewport().geometry()
        self.bar.setGeometry(view.left(), rect.top(), view.width(), self.bar.sizeHint().height())

    def keyPressEvent(self, event: QKeyEvent) -> None:
        # A key, not a QShortcut: the window's "Next citation" menu action may own F8; a second
        # shortcut for the same key would make both ambiguous and neither would fire.
        if (delta := step_direction(event)) and self.steps.current is not None:
            self.step_citation(delta)
            return
        super().keyPressEvent(event)

    def highlight_lines(self, line_start: int | None, line_end: int | None) -> None:
        """Highlight source lines `line_start..line_end` (1-based) and scroll them into view."""
        doc = self.document()
        self.cited_ranges = []
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
        self._place_bar()
        if self._pinned:
            self.scroll_to_span()

    def first_visible_line(self) -> int:
        """1-based number of the first line on screen (for tests and screenshots)."""
        return self.firstVisibleBlock().blockNumber() + 1


class PdfViewer(QWidget):
    """A PDF at a page, with page navigation, the cited sentences marked and scrolled to.

    Signals:
        page_shown(int): the 1-based page now at the top of the view.
        citation_requested(int): stepping reached a citation in another file: its number.
        citation_shown(int): stepping moved the marks to citation n in this file.
    """

    page_shown = Signal(int)
    citation_requested = Signal(int)
    citation_shown = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.document = QPdfDocument(self)
        self.view = HighlightPdfView(self)
        self.view.setObjectName("pdfView")
        self.view.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
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
        self._pending_place: CitedPlace | None = None
        self.steps = CitationSteps()
        self.bar = CitationBar(self)
        self.bar.step_requested.connect(self.step_citation)
        self.bar.hide()

        self.page_label = QLabel(self)
        # Symbols on the buttons, words for a screen reader (it would say "‹" or nothing).
        prev_btn = QToolButton(self, text="‹", toolTip="Previous page", autoRaise=True,
                               accessibleName="Previous page")
        next_btn = QToolButton(self, text="›", toolTip="Next page", autoRaise=True,
                               accessibleName="Next page")
        zoom_out = QToolButton(self, text="−", toolTip="Zoom out", autoRaise=True,
                               accessibleName="Zoom out")
        zoom_in = QToolButton(self, text="+", toolTip="Zoom in", autoRaise=True,
                              accessibleName="Zoom in")
        fit = QToolButton(self, text="Fit width", toolTip="Fit the page width", autoRaise=True,
                          accessibleName="Fit the page width")
        self.view.setAccessibleName("PDF page")
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
        layout.addWidget(self.bar)
        layout.addWidget(self.view, 1)

        self.document.statusChanged.connect(self._on_status_changed)
        self.view.pageNavigator().currentPageChanged.connect(self._on_current_page_changed)
        self.search.rowsInserted.connect(self._on_search_results_inserted)

    def current_page(self) -> int:
        """1-based page at the top of the view."""
        return self.view.pageNavigator().currentPage() + 1

    def load(self, path: str, data: bytes, page: int | None, phrase: str = "") -> None:
        """Show `data` (the bytes of `path`, read on the pool) at 1-based `page`, with `phrase`
        (a few words) marked there when found."""
        self.steps = CitationSteps()
        self._pending_place = None
        self._open(path, data, page, phrase)

    def show_citation(self, data: bytes, place: CitedPlace, places: Sequence[CitedPlace] = ()) -> None:
        """`data` (the bytes of `place.path`) at the cited sentences; `places` are all the
        sources of the answer, in order, for stepping (`place` among them)."""
        self.steps.set(places, place)
        self._pending_place = place
        self._open(place.path, data, place.page, place.phrase)

    def step_citation(self, delta: int) -> bool:
        """Show the citation `delta` steps away (+1 next, -1 previous). False past either end."""
        target = self.steps.target(delta)
        if target is None:
            return False
        index, place = target
        if place.path != self.path or self.document.status() != QPdfDocument.Status.Ready:
            self.citation_requested.emit(place.number)
            return True
        self.steps.index = index
        self._show_place(place)
        self.citation_shown.emit(place.number)
        return True

    def highlighted_texts(self) -> list[str]:
        """The text under each mark, as QtPdf reads it (for tests and screenshots)."""
        return [m.text for m in self.view.marks]

    def _open(self, path: str, data: bytes, page: int | None, phrase: str) -> None:
        self._pending_page = page or 1
        self._pending_phrase = phrase
        self.bar.show_steps(self.steps)
        self.bar.setVisible(self.steps.current is not None)
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
        place, self._pending_place = self._pending_place, None
        if place is not None:
            self._show_place(place)
            return
        self._mark_phrase(page, self._pending_phrase)

    def _mark_phrase(self, page: int, phrase: str) -> None:
        """Before citations had spans: the page, and the first match of `phrase` on it."""
        self.view.set_marks([])
        self.go_to(page)
        self._target_page = page
        self.search.setSearchString(phrase)

    def _show_place(self, place: CitedPlace) -> None:
        page = place.page or 1
        marks = find_on_page(self.document, page - 1, place.texts) if place.texts else []
        self.bar.show_steps(self.steps)
        if not marks:
            self._mark_phrase(page, place.phrase)
            return
        self._target_page = None
        self.search.setSearchString("")
        self.go_to(page)
        self.view.set_marks(marks)
        self.view.scroll_to_marks()
        QTimer.singleShot(0, self.view.scroll_to_marks)  # again once the layout has its width

    def keyPressEvent(self, event: QKeyEvent) -> None:
        # Keys the view does not use come up here; see TextViewer.keyPressEvent for why F8 is
        # a key and not a QShortcut.
        if (delta := step_direction(event)) and self.steps.current is not None:
            self.step_citation(delta)
            return
        super().keyPressEvent(event)

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

