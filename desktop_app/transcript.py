"""The conversation view: a QTextBrowser that keeps its place while an answer streams in.

Finished turns and the question being answered are set once (`show_html`); the answer being
written is the document's tail, replaced in place on each render (`set_live`). Two reasons:

- The view must stay still. `setHtml` resets the scroll bar to the top and QTextDocument lays a
  long document out lazily, so the range the old position is restored into is stale for a while
  (a position near the bottom clamps, and "follow the bottom" lands short of the new bottom).
  Replacing only the tail leaves everything above it laid out where it was: a reader who scrolled
  up sees nothing move. Whether to follow the bottom is decided by where the reader last put the
  scroll bar (its `actionTriggered`: wheel, drag, keys, clicks — never a clamp or our own
  `setValue`), and applied whenever the range changes (layout finishing later included).
- It is cheap: re-rendering a 20-turn transcript 20 times a second costs ~25 ms a render on the
  GUI thread; the tail alone costs a few milliseconds, whatever the length of the conversation.
"""

from __future__ import annotations

from PySide6.QtCore import Slot
from PySide6.QtGui import QTextCursor
from PySide6.QtWidgets import QTextBrowser, QWidget

#: Within this many pixels of the bottom counts as "at the bottom" (follow new text).
BOTTOM_SLACK = 4


class Transcript(QTextBrowser):
    """Rich-text conversation with a fixed part and a live tail.

    `following` is True while the reader is at the bottom: new text then scrolls into view.
    Scrolling up turns it off; scrolling back to the bottom (or `show_html(..., follow=True)`,
    used when a question is asked) turns it on again.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.following = True
        self._live_start: int | None = None
        bar = self.verticalScrollBar()
        bar.actionTriggered.connect(self._on_scrolled)
        bar.rangeChanged.connect(self._on_range_changed)

    def show_html(self, html: str, follow: bool = False, live: bool = False) -> None:
        """Replace the whole text; with `live`, an empty tail for `set_live` follows it."""
        bar = self.verticalScrollBar()
        if follow:
            self.following = True
        previous = bar.value()
        self.setHtml(html)
        self._live_start = None
        if live:
            self._start_live()
        bar.setValue(bar.maximum() if self.following else previous)

    def _start_live(self) -> int:
        """An empty block at the end, where the live tail begins (`insertHtml` would merge the
        tail's first paragraph into the last block of the fixed part)."""
        cursor = QTextCursor(self.document())
        cursor.movePosition(QTextCursor.MoveOperation.End)
        cursor.insertBlock()
        self._live_start = cursor.position()
        return self._live_start

    def set_live(self, html: str) -> None:
        """Replace the live tail (the answer being written) with `html`; the first call after
        `show_html(..., live=False)` starts one after the fixed part."""
        start = self._live_start if self._live_start is not None else self._start_live()
        cursor = QTextCursor(self.document())
        cursor.setPosition(min(start, self.document().characterCount() - 1))
        cursor.movePosition(QTextCursor.MoveOperation.End, QTextCursor.MoveMode.KeepAnchor)
        if html:
            cursor.insertHtml(html)
        else:
            cursor.removeSelectedText()
        if self.following:
            self._to_bottom()

    def _to_bottom(self) -> None:
        bar = self.verticalScrollBar()
        bar.setValue(bar.maximum())

    @Slot(int)
    def _on_scrolled(self, _action: int) -> None:
        # Emitted before the value moves: the slider position is where the reader is going.
        bar = self.verticalScrollBar()
        self.following = bar.sliderPosition() >= bar.maximum() - BOTTOM_SLACK

    @Slot(int, int)
    def _on_range_changed(self, _minimum: int, _maximum: int) -> None:
        if self.following:
            self._to_bottom()
