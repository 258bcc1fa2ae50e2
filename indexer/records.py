"""Immutable records that cross module boundaries: parsed sections, chunks, search hits.

They live in one small module so parsers, the chunker, the store and retrieval agree on one
definition of *where a piece of text came from* (the source anchor behind every citation).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Literal

SectionKind = Literal["text", "code", "table", "title", "ocr"]  # ocr: recognised from an image


@dataclass(frozen=True, slots=True)
class Section:
    """A run of text from one place in a document, with its source anchor.

    Parsers emit sections; the chunker splits or merges them but never across a page or heading
    boundary, so every chunk keeps one page / heading path / line span.

    - `page`: 1-based page (PDF), slide (PPTX) or sheet number (XLSX); None when not paged.
    - `heading_path`: enclosing headings, outermost first (Markdown, HTML, DOCX, EPUB).
    - `line_start`/`line_end`: 1-based inclusive lines in the *source file* (text, code, Markdown).
    - `char_start`: offset of `text[0]` in the document's extracted text (the source file itself
      for plain text), so a chunk's character span can be derived by adding offsets.
    """

    text: str
    page: int | None = None
    heading_path: tuple[str, ...] = ()
    line_start: int | None = None
    line_end: int | None = None
    char_start: int = 0
    kind: SectionKind = "text"


@dataclass(frozen=True, slots=True)
class ParsedDocument:
    """What a parser produced for one file. `parser` names the parser, for status and traces."""

    sections: tuple[Section, ...]
    parser: str
    title: str | None = None
    warnings: tuple[str, ...] = ()

    @property
    def char_count(self) -> int:
        return sum(len(s.text.strip()) for s in self.sections)


def text_hash(text: str) -> str:
    """Content hash used to skip re-embedding unchanged chunk text (hex, 32 chars)."""
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


@dataclass(frozen=True, slots=True)
class Chunk:
    """One retrievable, embeddable passage with its anchor.

    `text` is what users see; `embed_text` adds the heading path so a passage about "Arguments"
    under "Functions" is found by a query about function arguments. `text_hash` covers
    `embed_text`, so an unchanged hash means an unchanged vector.
    """

    text: str
    ordinal: int
    page: int | None = None
    heading_path: tuple[str, ...] = ()
    line_start: int | None = None
    line_end: int | None = None
    char_start: int = 0
    char_end: int = 0
    kind: SectionKind = "text"
    token_count: int = 0

    @property
    def embed_text(self) -> str:
        if self.heading_path:
            return " > ".join(self.heading_path) + "\n" + self.text
        return self.text

    @property
    def text_hash(self) -> str:
        return text_hash(self.embed_text)


@dataclass(frozen=True, slots=True)
class Anchor:
    """Where a hit/citation points: enough to show "file.pdf p. 3" and open it there."""

    path: str
    page: int | None = None
    heading_path: tuple[str, ...] = ()
    line_start: int | None = None
    line_end: int | None = None
    char_start: int = 0
    char_end: int = 0
    ocr: bool = False  # the text was recognised from a scan or image: citations say so
    origin: str = ""  # "" for this machine's index; "shared" for a team's shared index

    def label(self) -> str:
        """Short human form: `guide.pdf p. 3`, `main.py:10-24`, `notes.md:12 § Setup > Linux`."""
        import os

        name = os.path.basename(self.path)
        if self.page is not None:
            where = f"{name} p. {self.page}"
        elif self.line_start is not None:
            end = f"-{self.line_end}" if self.line_end and self.line_end != self.line_start else ""
            where = f"{name}:{self.line_start}{end}"
        else:
            where = name
        if self.heading_path:
            where += f" § {' > '.join(self.heading_path[-2:])}"
        if self.ocr:
            where += " (OCR)"
        if self.origin:
            where += f" [{self.origin}]"
        return where


@dataclass(frozen=True, slots=True)
class SearchHit:
    """A retrieved chunk with its anchor, text, highlighted snippet and component scores.

    Scores: `bm25` (None if not in keyword results), `vector` (cosine similarity, None if not in
    vector results), `fused` (the RRF score used for ranking); ranks are 1-based or None.
    """

    chunk_id: str
    anchor: Anchor
    text: str
    snippet: str
    fused: float
    bm25: float | None = None
    vector: float | None = None
    bm25_rank: int | None = None
    vector_rank: int | None = None
    matched_terms: tuple[str, ...] = field(default_factory=tuple)
