"""reStructuredText (.rst) and Org mode (.org): exact line slices under their headings.

Why a line scanner and not docutils/orgparse/unstructured: citations of plain-text formats open
the file at a line, so sections must stay exact slices of the source (like Markdown). docutils
builds a document tree without reliable line numbers for every node, warns on every unknown
directive or role (Sphinx sources are full of them) and takes 16× the time of this scanner
(docs/formats.md); unstructured's `partition_rst`/`partition_org` convert through pandoc (a
162 MB binary). Only headings are needed for anchors, and both formats make them line-local:

- RST: a title line underlined (optionally also overlined) by one repeated punctuation
  character at least as long as the title; levels follow the order in which adornment styles
  first appear, as docutils assigns them.
- Org: a line starting with one or more `*` and a space; TODO keywords, priorities and tags are
  dropped from the heading text; nothing inside `#+BEGIN_…`/`#+END_…` blocks is a heading.

Anchors: `line_start`/`line_end` of each section and `heading_path`; heading lines are not
repeated in the text (the heading path carries them). Title: RST's first heading when its style
is used once (the document title), Org's `#+TITLE:`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from indexer.errors import ParseError
from indexer.ingest.parsing.sections import LineIndex, line_sections
from indexer.ingest.parsing.text import read_text
from indexer.records import ParsedDocument, Section


@dataclass(frozen=True, slots=True)
class Heading:
    """A heading that occupies source lines `first..last` (1-based, inclusive)."""

    first: int
    last: int
    level: int
    text: str


def outline_sections(index: LineIndex, headings: list[Heading]) -> list[Section]:
    """Sections for the text between headings, each under the heading path in force."""
    sections: list[Section] = []
    stack: list[tuple[int, str]] = []
    start = 1

    def emit(end: int) -> None:
        if end >= start:
            path = tuple(h for _, h in stack)
            sections.extend(line_sections(index, start, end, heading_path=path))

    for heading in headings:
        emit(heading.first - 1)
        while stack and stack[-1][0] >= heading.level:
            stack.pop()
        stack.append((heading.level, heading.text))
        start = heading.last + 1
    emit(index.line_count)
    if not sections:  # headings only: still findable by them
        for heading in headings:
            sections.extend(line_sections(index, heading.first, heading.last, kind="title"))
    return sections


# ------------------------------------------------------------------------------------ RST

_ADORNMENT = re.compile(r"^([!-/:-@\[-`{-~])\1{2,}\s*$")  # one punctuation char, 3+ times


def _adornment(line: str) -> str | None:
    match = _ADORNMENT.match(line)
    return match.group(1) if match else None


def rst_headings(lines: list[str]) -> list[Heading]:
    """Section titles of an RST source (see the module docstring)."""
    styles: list[tuple[str, bool]] = []
    headings: list[Heading] = []
    n = 0
    count = len(lines)
    while n < count - 1:
        line = lines[n]
        char = _adornment(line)
        prev_blank = n == 0 or not lines[n - 1].strip()
        # Overline + title + underline.
        if char and prev_blank and n + 2 < count:
            title = lines[n + 1].strip()
            under = lines[n + 2].rstrip()
            same = _adornment(under) == char and len(under) == len(line.rstrip())
            if title and same and len(under) >= len(title):
                headings.append(_rst_heading(styles, (char, True), n + 1, n + 3, title))
                n += 3
                continue
        # Title + underline.
        under_char = _adornment(lines[n + 1])
        title = line.rstrip()
        if (
            under_char
            and prev_blank
            and title.strip()
            and not line[:1].isspace()
            and _adornment(line) is None
            and len(lines[n + 1].rstrip()) >= len(title)
        ):
            headings.append(_rst_heading(styles, (under_char, False), n + 1, n + 2, title))
            n += 2
            continue
        n += 1
    return headings


def _rst_heading(
    styles: list[tuple[str, bool]], style: tuple[str, bool], first: int, last: int, text: str
) -> Heading:
    if style not in styles:
        styles.append(style)
    return Heading(first, last, styles.index(style) + 1, " ".join(text.split()))


def parse_rst(path: Path) -> ParsedDocument:
    """reStructuredText: sections under their section titles, exact line anchors."""
    text, warnings = read_text(path)
    if not text.strip():
        raise ParseError("file contains only whitespace", hint="nothing to index")
    index = LineIndex(text)
    headings = rst_headings(text.split("\n"))
    title = None
    if headings and sum(h.level == headings[0].level for h in headings) == 1:
        title = headings[0].text
    return ParsedDocument(
        sections=tuple(outline_sections(index, headings)),
        parser="rst",
        title=title,
        warnings=tuple(warnings),
    )


# ------------------------------------------------------------------------------------ Org

_ORG_HEADLINE = re.compile(r"^(\*+)[ \t]+(.*?)[ \t]*$")
_ORG_TODO = re.compile(r"^(?:TODO|DONE|NEXT|WAITING|HOLD|CANCELLED|CANCELED)\b[ \t]*")
_ORG_PRIORITY = re.compile(r"^\[#[A-Za-z0-9]\][ \t]*")
_ORG_TAGS = re.compile(r"[ \t]+:(?:[\w@#%]+:)+$")
_ORG_BLOCK = re.compile(r"^[ \t]*#\+(begin|end)_(\w+)", re.IGNORECASE)
_ORG_TITLE = re.compile(r"^#\+title:[ \t]*(.+?)[ \t]*$", re.IGNORECASE | re.MULTILINE)


def org_headings(lines: list[str]) -> list[Heading]:
    """Org headlines outside `#+BEGIN_…` blocks, with keywords, priority and tags removed."""
    headings: list[Heading] = []
    block: str | None = None
    for n, line in enumerate(lines, start=1):
        match = _ORG_BLOCK.match(line)
        if match:
            kind = match.group(2).lower()
            if match.group(1).lower() == "begin" and block is None:
                block = kind
            elif match.group(1).lower() == "end" and block == kind:
                block = None
            continue
        if block is not None:
            continue
        headline = _ORG_HEADLINE.match(line)
        if headline is None:
            continue
        text = _ORG_TAGS.sub("", _ORG_PRIORITY.sub("", _ORG_TODO.sub("", headline.group(2))))
        headings.append(
            Heading(n, n, len(headline.group(1)), " ".join(text.split()) or "(untitled)")
        )
    return headings


def parse_org(path: Path) -> ParsedDocument:
    """Org mode: sections under their headlines, exact line anchors, title from #+TITLE."""
    text, warnings = read_text(path)
    if not text.strip():
        raise ParseError("file contains only whitespace", hint="nothing to index")
    index = LineIndex(text)
    match = _ORG_TITLE.search(text[:20_000])
    return ParsedDocument(
        sections=tuple(outline_sections(index, org_headings(text.split("\n")))),
        parser="org",
        title=match.group(1) if match else None,
        warnings=tuple(warnings),
    )
