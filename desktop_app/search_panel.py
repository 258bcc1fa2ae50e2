"""Instant search: results as you type (debounced 200 ms), run on the read pool.

Searches typed while the index opens are queued by the controller and run when it is open.
At most one search runs at a time; keystrokes during a search coalesce into one follow-up search
for the latest text, and results for text that is no longer in the box are dropped. A result
opens in the Sources pane exactly like a citation.
"""

from __future__ import annotations

import html
import time
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QEvent, QTimer, QUrl, Signal, Slot
from PySide6.QtWidgets import QLabel, QLineEdit, QTextBrowser, QVBoxLayout, QWidget

from desktop_app.ask_panel import describe_error
from desktop_app.history import Source
from desktop_app.rendering import highlight_snippet
from desktop_app.theme import SPACING, colors_for

if TYPE_CHECKING:
    from desktop_app.app import Controller

DEBOUNCE_MS = 200


class SearchPanel(QWidget):
    """Search box and ranked results with highlighted snippets.

    Signals:
        results_shown(object): the list of Source now listed (numbered 1..n).
        hit_activated(object, int): (all result Sources, number) a result was clicked.
        summarize_requested(str): "Summarize file" was clicked on a result (its file's path).
    """

    results_shown = Signal(object)
    hit_activated = Signal(object, int)
    summarize_requested = Signal(str)

    def __init__(self, controller: Controller, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._controller = controller
        self.results: list[Source] = []
        self._running = False
        self._searched_for: str | None = None

        self.edit = QLineEdit(self)
        self.edit.setObjectName("searchEdit")
        self.edit.setAccessibleName("Search your documents")
        self.edit.setPlaceholderText("Search your documents (Ctrl+K)")
        self.edit.setClearButtonEnabled(True)
        self.edit.textChanged.connect(self._on_text_changed)
        self.edit.returnPressed.connect(self._on_return_pressed)
        self.info = QLabel(self)
        self.info.setObjectName("searchInfo")
        self.view = QTextBrowser(self)
        self.view.setObjectName("searchResults")
        self.view.setAccessibleName("Search results")
        self.view.setOpenLinks(False)
        self.view.anchorClicked.connect(self._on_anchor_clicked)
        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(DEBOUNCE_MS)
        self._debounce.timeout.connect(self._on_debounce_timeout)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(SPACING, SPACING, SPACING, SPACING)
        layout.setSpacing(SPACING)
        layout.addWidget(self.edit)
        layout.addWidget(self.info)
        layout.addWidget(self.view, 1)
        self._render()

    def focus_search(self) -> None:
        self.edit.setFocus()
        self.edit.selectAll()

    @Slot(str)
    def _on_text_changed(self, _text: str) -> None:
        self._debounce.start()

    @Slot()
    def _on_return_pressed(self) -> None:
        if self.results:
            self.hit_activated.emit(self.results, 1)

    @Slot()
    def _on_debounce_timeout(self) -> None:
        query = self.edit.text().strip()
        if not query:
            self.results = []
            self._searched_for = None
            self.info.setText("")
            self._render()
            return
        if self._running:
            return  # the running search re-checks the box when it finishes
        self._run(query)

    def _run(self, query: str) -> None:
        started = time.perf_counter()
        waiting = self._controller.kb is None

        def done(hits: Any) -> None:
            self._running = False
            if query != self.edit.text().strip():
                self._on_debounce_timeout()  # the text moved on: search for the latest
                return
            elapsed = (time.perf_counter() - started) * 1000
            self._searched_for = query
            self.results = [
                Source(i, h.anchor, h.text, h.snippet) for i, h in enumerate(hits, 1)
            ]
            n = len(self.results)
            took = "" if waiting else f" · {elapsed:.0f} ms"  # a queued search waited to open
            self.info.setText(f"{n} result{'s' if n != 1 else ''}{took}" if n else "No matches.")
            self._render()
            self.results_shown.emit(self.results)

        def failed(exc: BaseException) -> None:
            self._running = False
            self.info.setText(f"Search failed: {describe_error(exc)}")
            if query != self.edit.text().strip():
                self._on_debounce_timeout()

        if self._controller.search(query, done, failed):
            self._running = True
            self.info.setText("Opening the index… the search runs when it is open."
                              if waiting else "Searching…")
        else:
            self.info.setText("The index is not open." if self._controller.open_error
                              else "The index is still loading…")

    def _render(self) -> None:
        colors = colors_for(self.palette())
        if not self.results:
            if not self._searched_for:
                head = "Search every indexed document"
                hint = ("Type a few words: results appear as you type, matching words "
                        "highlighted. Enter opens the best one beside them.")
            else:
                head = f"Nothing matches “{self._searched_for}”"
                hint = ("Try fewer or other words, or a word from the document's title. Is "
                        "the folder indexed? The Folders tab (Ctrl+3) shows every file.")
            self.view.setHtml(
                f"<div style='margin:24px;'><p style='font-size:large;color:{colors.muted};'>"
                f"<b>{html.escape(head)}</b></p>"
                f"<p style='color:{colors.muted};'>{html.escape(hint)}</p></div>")
            return
        blocks = []
        for s in self.results:
            blocks.append(
                f"<p><a href='hit:{s.number}'><b>{html.escape(s.label)}</b></a><br/>"
                f"{highlight_snippet(s.snippet or s.text[:300], colors)}<br/>"
                f"<small style='color:{colors.muted};'>{html.escape(s.anchor.path)}</small>"
                f" <small><a href='summarize:{s.number}'>Summarize file</a></small></p>"
            )
        self.view.setHtml("".join(blocks))

    @Slot(QUrl)
    def _on_anchor_clicked(self, url: QUrl) -> None:
        text = url.toString()
        if text.startswith("hit:"):
            self.hit_activated.emit(self.results, int(text[4:]))
        elif text.startswith("summarize:") and (n := int(text[10:])) <= len(self.results):
            self.summarize_requested.emit(self.results[n - 1].anchor.path)

    def changeEvent(self, event: QEvent) -> None:
        if event.type() == QEvent.Type.PaletteChange:  # light/dark switch: re-render rich text
            self.refresh_theme()
        super().changeEvent(event)

    def refresh_theme(self) -> None:
        self._render()
