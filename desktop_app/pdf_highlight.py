"""Marking cited sentences on a PDF page: text → character range → rectangles → paint.

QtPdf reads a page's text with PDFium, the same engine the indexer uses, but keeps what the
index cleaned away ("\\r\\n" line ends, soft hyphens), so the cited sentence is found again on
the page by `loose_find` and QPdfDocument.getSelectionAtIndex turns that character range into
the rectangles of its lines, in page points. QPdfView can paint only search results, one match
of one search string, so `HighlightPdfView` paints the rectangles itself over the rendered
pages; the page geometry follows QPdfView's own layout (pages stacked with `pageSpacing`,
`documentMargins` around them, centred), checked in the tests against where QPdfView scrolls
for a page.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from PySide6.QtCore import QPointF, QRectF
from PySide6.QtGui import QColor, QGuiApplication, QPainter, QPaintEvent, QResizeEvent
from PySide6.QtPdf import QPdfDocument
from PySide6.QtPdfWidgets import QPdfView
from PySide6.QtWidgets import QWidget

from indexer.answer.cited_spans import loose_find

# A marker-pen yellow, multiplied into the page: the text stays black and readable. Pages are
# white in QPdfView in light and dark themes alike, so one colour serves both.
MARK_COLOR = QColor(255, 214, 64)
_CONTEXT_SHARE = 0.2  # the first marked line sits this far down the view


@dataclass(frozen=True, slots=True)
class PageMark:
    """A found cited sentence: 0-based page, its character range on the page, its text as
    QtPdf reads it, and the rectangles of its lines in page points."""

    page: int
    start: int
    end: int
    text: str
    rects: tuple[QRectF, ...]


def find_on_page(document: QPdfDocument, page: int, texts: Sequence[str]) -> list[PageMark]:
    """Each of `texts` found on 0-based `page` of `document`, in page order, not overlapping."""
    page_text = document.getAllText(page).text()
    marks: list[PageMark] = []
    for text in texts:
        found = loose_find(page_text, text)
        if found is None:
            continue
        start, end = found
        selection = document.getSelectionAtIndex(page, start, end - start)
        rects = tuple(poly.boundingRect() for poly in selection.bounds())
        if rects:
            marks.append(PageMark(page, start, end, selection.text(), rects))
    marks.sort(key=lambda m: m.start)
    return marks


def _round(x: float) -> int:
    return math.floor(x + 0.5)  # qRound for the positive sizes here


class HighlightPdfView(QPdfView):
    """A QPdfView that paints `marks` (rectangles on pages) over the rendered pages and can
    scroll one into view; until the user scrolls, the marks stay in view when the width (and so
    the fit-to-width zoom) changes."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.marks: list[PageMark] = []
        self._pinned = False
        self.verticalScrollBar().actionTriggered.connect(self._on_user_scrolled)

    # ------------------------------------------------------------------ geometry
    def page_geometry(self, page: int) -> tuple[QRectF, float] | None:
        """The page's rectangle in document coordinates (pixels, before scrolling) and the scale
        from page points to those pixels; None when there is no such page laid out."""
        doc = self.document()
        if doc is None or doc.status() != QPdfDocument.Status.Ready or not 0 <= page < doc.pageCount():
            return None
        screen = QGuiApplication.primaryScreen()
        resolution = (screen.logicalDotsPerInch() if screen else 96.0) / 72.0
        margins = self.documentMargins()
        width = self.viewport().width()
        single = self.pageMode() == QPdfView.PageMode.SinglePage
        current = self.pageNavigator().currentPage()
        pages = [current] if single else list(range(doc.pageCount()))
        if page not in pages:
            return None
        sizes: dict[int, tuple[int, int]] = {}
        for p in pages:
            point = doc.pagePointSize(p)
            w, h = _round(point.width() * resolution), _round(point.height() * resolution)
            mode = self.zoomMode()
            if mode == QPdfView.ZoomMode.Custom:
                zoom = self.zoomFactor()
                w = _round(point.width() * resolution * zoom)
                h = _round(point.height() * resolution * zoom)
            elif mode == QPdfView.ZoomMode.FitToWidth and w:
                factor = (width - margins.left() - margins.right()) / w
                w, h = _round(w * factor), _round(h * factor)
            elif mode == QPdfView.ZoomMode.FitInView and w and h:
                room_w = width - margins.left() - margins.right()
                room_h = self.viewport().height() - self.pageSpacing()
                factor = min(room_w / w, room_h / h)
                w, h = _round(w * factor), _round(h * factor)
            sizes[p] = (w, h)
        total = max(w for w, _ in sizes.values()) + margins.left() + margins.right()
        y = margins.top()
        for p in pages:
            w, h = sizes[p]
            if p == page:
                x = (max(total, width) - w) // 2
                point = doc.pagePointSize(p)
                scale = w / point.width() if point.width() else 1.0
                return QRectF(x, y, w, h), scale
            y += h + self.pageSpacing()
        return None

    def mark_rect(self, mark: PageMark, rect: QRectF) -> QRectF | None:
        """`rect` (page points) of `mark` in document coordinates."""
        geometry = self.page_geometry(mark.page)
        if geometry is None:
            return None
        page, scale = geometry
        return QRectF(page.x() + rect.x() * scale, page.y() + rect.y() * scale,
                      rect.width() * scale, rect.height() * scale).adjusted(-2, -1, 2, 1)

    # ------------------------------------------------------------------ marks
    def set_marks(self, marks: Sequence[PageMark]) -> None:
        self.marks = list(marks)
        self._pinned = bool(self.marks)
        self.viewport().update()

    def scroll_to_marks(self) -> bool:
        """Scroll so the first mark is near the top, with a little of the page above it."""
        if not self.marks or not self.marks[0].rects:
            return False
        first = self.mark_rect(self.marks[0], self.marks[0].rects[0])
        if first is None:
            return False
        bar = self.verticalScrollBar()
        bar.setValue(max(0, int(first.top() - self.viewport().height() * _CONTEXT_SHARE)))
        return True

    def visible_rect(self) -> QRectF:
        """The part of the document (its coordinates) now on screen."""
        return QRectF(QPointF(self.horizontalScrollBar().value(), self.verticalScrollBar().value()),
                      self.viewport().size().toSizeF())

    def _on_user_scrolled(self, _action: int) -> None:
        self._pinned = False

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        if self._pinned:
            self.scroll_to_marks()

    def paintEvent(self, event: QPaintEvent) -> None:
        super().paintEvent(event)
        if not self.marks:
            return
        painter = QPainter(self.viewport())
        try:
            painter.translate(-self.horizontalScrollBar().value(), -self.verticalScrollBar().value())
            painter.setCompositionMode(QPainter.CompositionMode.CompositionMode_Multiply)
            for mark in self.marks:
                for rect in mark.rects:
                    where = self.mark_rect(mark, rect)
                    if where is not None:
                        painter.fillRect(where, MARK_COLOR)
        finally:
            painter.end()
