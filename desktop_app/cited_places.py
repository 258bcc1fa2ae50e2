"""The places an answer cites, in the order the viewers step through them.

A viewer shows one source at a time, but an answer usually cites several places. `CitedPlace`
is what a viewer needs of one source to highlight the cited sentences: their spans in the
document and their text as the index holds it (the viewers find that text again in what they
display, so a file edited since indexing, or a PDF whose text Qt reads with other line breaks,
still gets the right sentences). `CitationSteps` keeps the list and the current one for
next/previous; `CitationBar` is the small "‹ [2] 1 of 3 ›" bar both viewers show.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QApplication, QHBoxLayout, QLabel, QToolButton, QWidget

from desktop_app.history import Source

STEP_KEYS_TEXT = "F8 / Shift+F8"


def pdf_phrase(text: str, snippet: str = "", words: int = 4) -> str:
    """A short run of words to find (and highlight) on the cited page, when the cited sentences
    are not known (a conversation saved before citations had them).

    The snippet's first words sit next to the matched terms, so they are preferred; the
    passage's first words are the fallback.
    """
    for source in (snippet.replace("«", "").replace("»", "").strip("…. "), text):
        tokens = re.findall(r"[^\s…]+", source)
        if len(tokens) >= 3:
            return " ".join(tokens[:words])
    return ""


@dataclass(frozen=True, slots=True)
class CitedPlace:
    """One source of an answer as a viewer highlights it.

    `spans` are offsets in the document's extracted text (`Citation.spans`) and `texts` their
    text; both empty when the source does not know its cited sentences (then the viewers mark
    the cited lines, or find `phrase` on the cited PDF page, as before).
    """

    number: int
    path: str
    label: str
    page: int | None = None
    line_start: int | None = None
    line_end: int | None = None
    spans: tuple[tuple[int, int], ...] = ()
    texts: tuple[str, ...] = ()
    phrase: str = ""

    @classmethod
    def from_source(cls, source: Source) -> CitedPlace:
        pairs = [(s, t) for s, t in zip(source.spans, source.cited_texts, strict=True) if t]
        a = source.anchor
        return cls(
            number=source.number, path=a.path, label=source.label, page=a.page,
            line_start=a.line_start, line_end=a.line_end,
            spans=tuple(s for s, _ in pairs), texts=tuple(t for _, t in pairs),
            phrase=pdf_phrase(source.text, source.snippet),
        )


def cited_places(sources: Sequence[Source]) -> list[CitedPlace]:
    return [CitedPlace.from_source(s) for s in sources]


class CitationSteps:
    """The places of one answer and which one is shown (plain state, no Qt)."""

    def __init__(self) -> None:
        self.places: list[CitedPlace] = []
        self.index = -1

    def set(self, places: Sequence[CitedPlace], current: CitedPlace) -> None:
        self.places = list(places) or [current]
        self.index = next((i for i, p in enumerate(self.places) if p.number == current.number), -1)
        if self.index < 0:
            self.places, self.index = [current], 0

    @property
    def current(self) -> CitedPlace | None:
        return self.places[self.index] if 0 <= self.index < len(self.places) else None

    def target(self, delta: int) -> tuple[int, CitedPlace] | None:
        """The place `delta` steps away, or None past either end."""
        i = self.index + delta
        if self.index < 0 or not 0 <= i < len(self.places):
            return None
        return i, self.places[i]


class CitationBar(QWidget):
    """"‹  [2] guide.pdf p. 3 · 1 of 3  ›": where the viewer is among the answer's citations.

    Signals:
        step_requested(int): -1 (previous) or +1 (next) was clicked.
    """

    step_requested = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("citationBar")
        self.setFont(QApplication.font())  # not the text viewer's monospace
        self.prev_button = QToolButton(self, text="‹ Previous", autoRaise=True)
        self.next_button = QToolButton(self, text="Next ›", autoRaise=True)
        self.prev_button.setToolTip("Previous citation (Shift+F8)")
        self.next_button.setToolTip("Next citation (F8)")
        self.prev_button.setAccessibleName("Previous citation")
        self.next_button.setAccessibleName("Next citation")
        self.label = QLabel(self)
        self.label.setObjectName("citationPosition")
        self.prev_button.clicked.connect(lambda: self.step_requested.emit(-1))
        self.next_button.clicked.connect(lambda: self.step_requested.emit(1))
        row = QHBoxLayout(self)
        row.setContentsMargins(2, 0, 4, 0)
        row.addWidget(self.prev_button)
        row.addWidget(self.label, 1)
        row.addWidget(self.next_button)

    def show_steps(self, steps: CitationSteps) -> None:
        place = steps.current
        count = len(steps.places)
        if place is None:
            self.label.clear()
        else:
            exact = "" if place.texts else " (cited passage)"
            self.label.setText(f"Citation [{place.number}]{exact} · {steps.index + 1} of {count}")
        self.prev_button.setEnabled(steps.target(-1) is not None)
        self.next_button.setEnabled(steps.target(1) is not None)
