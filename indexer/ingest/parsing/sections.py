"""Building bounded `Section`s with consistent character offsets — shared by every format.

Two kinds of anchor exist, and each parser uses exactly one of them:

- *Line-anchored* formats (plain text, code, Markdown) emit sections that are exact slices of the
  decoded, newline-normalised source: ``source[s.char_start : s.char_start + len(s.text)] ==
  s.text`` and `line_start`/`line_end` are the 1-based lines of that slice. Their text is never
  reflowed or collapsed, because line numbers must match what an editor shows.
- *Extracted* formats (PDF, Office, HTML, e-mail, EPUB, CSV) render text that is not a slice of
  the file. Their "extracted text" is defined as ``"\\n\\n".join(s.text for s in sections)`` and
  `char_start` is the offset in that string; `SectionBuilder` keeps the running offset so parsers
  cannot get it wrong.

Sections are bounded (lines and characters) so a 1 MB single-line file or a 200-page chapter
never becomes one giant section: the chunker then only ever splits modest pieces.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from indexer.records import Section, SectionKind

#: Soft cap on characters per section; long text is split at paragraph/line/space boundaries.
MAX_SECTION_CHARS = 6000
#: Cap on source lines per section for line-anchored formats (DESIGN: ~40–80 lines).
MAX_SECTION_LINES = 60
#: Separator that defines the "extracted text" of non-slice formats (see module docstring).
SECTION_SEPARATOR = "\n\n"

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f\ufffe\uffff]")
_BLANK_RUNS = re.compile(r"\n[ \t\f\v]*(?:\n[ \t\f\v]*){2,}")
_TRAILING_SPACE = re.compile(r"[ \t\f\v]+\n")


def normalise_newlines(text: str) -> str:
    """CRLF/CR → LF and drop NULs: keeps the line count an editor shows, so line anchors hold."""
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text.replace("\x00", "")


def clean_extracted(text: str) -> str:
    """Normalise text rendered from a structured format (PDF page, DOCX paragraph, HTML block).

    Control characters (pdfium's soft-hyphen markers, form feeds, stray NULs) are dropped, runs of
    more than one blank line are collapsed and the ends are stripped — safe here because these
    formats have no line anchors to preserve.
    """
    text = normalise_newlines(text)
    text = _CONTROL.sub("", text.replace("\f", "\n").replace("\v", "\n"))
    text = _TRAILING_SPACE.sub("\n", text)
    return _BLANK_RUNS.sub("\n\n", text).strip()


def _cut_point(text: str, start: int, limit: int) -> int:
    """Best end (exclusive) for a piece of `text[start:]` no longer than `limit` characters.

    Prefers a paragraph break, then a line break, then a space in the second half of the window,
    so pieces end at natural boundaries; falls back to a hard cut (e.g. minified JSON).
    """
    end = start + limit
    if end >= len(text):
        return len(text)
    floor = start + limit // 2
    for sep in ("\n\n", "\n", " "):
        cut = text.rfind(sep, floor, end)
        if cut != -1:
            return cut + len(sep)
    return end


def split_text(text: str, limit: int = MAX_SECTION_CHARS) -> Iterator[tuple[int, str]]:
    """Yield `(offset, piece)` covering `text` in pieces of at most `limit` characters.

    Pieces are exact slices (offsets are positions in `text`), so callers can keep offsets exact.
    """
    start = 0
    while start < len(text):
        end = _cut_point(text, start, limit)
        yield start, text[start:end]
        start = end


class SectionBuilder:
    """Accumulates sections of an *extracted* format and assigns their `char_start`.

    Text is cleaned, empty text is dropped, and text over `MAX_SECTION_CHARS` is split into
    several sections with the same anchor; `char_start` is the offset in the joined extracted
    text (`SECTION_SEPARATOR` between sections).
    """

    def __init__(self) -> None:
        self._sections: list[Section] = []
        self._offset = 0

    def add(
        self,
        text: str,
        *,
        page: int | None = None,
        heading_path: tuple[str, ...] = (),
        line_start: int | None = None,
        line_end: int | None = None,
        kind: SectionKind = "text",
        clean: bool = True,
    ) -> None:
        """Add one block; `clean=False` keeps text verbatim (already-normalised code/tables)."""
        text = clean_extracted(text) if clean else normalise_newlines(text).strip("\n")
        if not text.strip():
            return
        for _, piece in split_text(text):
            piece = piece.strip("\n")
            if not piece.strip():
                continue
            self._sections.append(
                Section(
                    text=piece,
                    page=page,
                    heading_path=heading_path,
                    line_start=line_start,
                    line_end=line_end,
                    char_start=self._offset,
                    kind=kind,
                )
            )
            self._offset += len(piece) + len(SECTION_SEPARATOR)

    @property
    def sections(self) -> tuple[Section, ...]:
        return tuple(self._sections)


class LineIndex:
    """Maps 1-based line numbers of a normalised source text to character offsets and back."""

    def __init__(self, text: str) -> None:
        self.text = text
        starts = [0]
        pos = text.find("\n")
        while pos != -1:
            starts.append(pos + 1)
            pos = text.find("\n", pos + 1)
        self._starts = starts

    @property
    def line_count(self) -> int:
        return len(self._starts)

    def offset(self, line: int) -> int:
        """Offset of the first character of 1-based `line`."""
        return self._starts[line - 1]

    def line_end_offset(self, line: int) -> int:
        """Offset just past the last character of `line` (its newline excluded)."""
        if line < len(self._starts):
            return self._starts[line] - 1
        return len(self.text)

    def line(self, line: int) -> str:
        return self.text[self.offset(line) : self.line_end_offset(line)]


def line_sections(
    index: LineIndex,
    first: int,
    last: int,
    *,
    heading_path: tuple[str, ...] = (),
    kind: SectionKind = "text",
    max_lines: int = MAX_SECTION_LINES,
    max_chars: int = MAX_SECTION_CHARS,
) -> list[Section]:
    """Slice lines `first..last` (1-based, inclusive) into bounded, line-anchored sections.

    Paragraphs (runs of non-blank lines) are packed together until the next one would exceed
    `max_lines`/`max_chars`; a paragraph too big on its own is cut into line windows, and a line
    too long on its own into character pieces. Every section is an exact slice of `index.text`.
    """
    paragraphs: list[tuple[int, int]] = []
    start: int | None = None
    for n in range(first, last + 1):
        blank = not index.line(n).strip()
        if blank and start is not None:
            paragraphs.append((start, n - 1))
            start = None
        elif not blank and start is None:
            start = n
    if start is not None:
        paragraphs.append((start, last))

    # Break oversized paragraphs into line windows first, then pack windows into sections.
    windows: list[tuple[int, int]] = []
    for p_start, p_end in paragraphs:
        w_start = p_start
        while w_start <= p_end:
            w_end = min(p_end, w_start + max_lines - 1)
            while (
                w_end > w_start and index.line_end_offset(w_end) - index.offset(w_start) > max_chars
            ):
                w_end -= 1
            windows.append((w_start, w_end))
            w_start = w_end + 1

    sections: list[Section] = []

    def emit(l_start: int, l_end: int) -> None:
        lo, hi = index.offset(l_start), index.line_end_offset(l_end)
        if hi - lo <= max_chars:
            sections.append(_slice(index, lo, hi, l_start, l_end, heading_path, kind))
            return
        # A single line longer than max_chars (minified code, a 1 MB log line).
        for offset, piece in split_text(index.text[lo:hi], max_chars):
            sections.append(
                _slice(
                    index, lo + offset, lo + offset + len(piece), l_start, l_end, heading_path, kind
                )
            )

    cur: tuple[int, int] | None = None
    for w_start, w_end in windows:
        if cur is None:
            cur = (w_start, w_end)
            continue
        too_many_lines = w_end - cur[0] + 1 > max_lines
        too_many_chars = index.line_end_offset(w_end) - index.offset(cur[0]) > max_chars
        if too_many_lines or too_many_chars:
            emit(*cur)
            cur = (w_start, w_end)
        else:
            cur = (cur[0], w_end)
    if cur is not None:
        emit(*cur)
    return [s for s in sections if s.text.strip()]


def _slice(
    index: LineIndex,
    lo: int,
    hi: int,
    line_start: int,
    line_end: int,
    heading_path: tuple[str, ...],
    kind: SectionKind,
) -> Section:
    """One exact-slice section of `index.text[lo:hi]` with its line anchor."""
    return Section(
        text=index.text[lo:hi],
        heading_path=heading_path,
        line_start=line_start,
        line_end=line_end,
        char_start=lo,
        kind=kind,
    )
