"""Rich Text Format (.rtf) through `striprtf`, with headings and page breaks recovered.

Why striprtf: a 28 kB pure-Python tokenizer that imports in ~25 ms and handles code pages,
`\\uN` escapes, hex escapes and the skippable destinations (font/colour tables, pictures,
headers); ~640 pages/s here. unstructured's `partition_rtf` converts through pandoc (a 162 MB
binary) and then needs a spaCy model it downloads (docs/formats.md has the figures).

striprtf returns flat text, so structure is marked *before* it runs: private-use `\\uN`
characters are injected after each `\\page` and after each paragraph property that makes a
heading (`\\outlinelevelN`, or `\\sN` where the stylesheet names style N "heading N"/"Title").
They survive the conversion as single characters, which gives `page` (counted from explicit
page breaks: RTF stores no layout, so without breaks everything is page 1 — and `page` is then
left None) and `heading_path` for each section. Tables come out as `a | b` rows.
"""

from __future__ import annotations

import re
from pathlib import Path

from indexer.errors import ParseError
from indexer.ingest.parsing.sections import SectionBuilder, normalise_newlines
from indexer.ingest.parsing.text import render_row
from indexer.records import ParsedDocument

#: Private-use code points used as in-band marks (stripped from the document's own text).
_PAGE_MARK = "\ue010"
_HEADING_BASE = 0xE011  # \ue011 + level-1 marks a heading paragraph of that level (1–9)
_MARKS = re.compile("[\ue010-\ue01a]")
_LEVEL_MARK = re.compile("[\ue011-\ue01a]")

# Word's outline levels 0–8 are headings 1–9; 9 is "body text".
_OUTLINE = re.compile(rb"\\outlinelevel([0-8])(?![0-9])")
_STYLE_REF = re.compile(rb"\\s(\d{1,4})(?![0-9])")
_PAGE = re.compile(rb"\\page(?![a-zA-Z])(?: ?)")
# A stylesheet entry `{\s1 ... heading 1;}` (Word and LibreOffice spell it like that).
_STYLE_DEF = re.compile(
    rb"\{[^{}]*?\\s(\d{1,4})(?![0-9])[^{}]*?\s(heading\s*(\d)|title)\s*;\s*\}", re.IGNORECASE
)
_STYLESHEET = re.compile(rb"\{\\stylesheet", re.IGNORECASE)
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_INFO_TITLE = re.compile(rb"\{\\title\s+([^{}\\]*)\}")


def _mark(code_point: int) -> bytes:
    """An RTF group producing exactly one private-use character, whatever `\\uc` is in force."""
    return b"{\\uc1\\u%d?}" % code_point


def _heading_styles(data: bytes) -> dict[bytes, int]:
    """Style number → heading level (Title = 1) from the stylesheet."""
    start = _STYLESHEET.search(data)
    if start is None:
        return {}
    styles: dict[bytes, int] = {}
    for match in _STYLE_DEF.finditer(data, start.start(), start.start() + 200_000):
        level = int(match.group(3)) if match.group(3) else 1
        if 1 <= level <= 9:
            styles[match.group(1)] = level
    return styles


def mark_structure(data: bytes) -> bytes:
    """Inject page and heading marks into raw RTF (see the module docstring)."""
    styles = _heading_styles(data)
    stylesheet = _STYLESHEET.search(data)
    body_from = stylesheet.start() if stylesheet else 0

    def outline(match: re.Match[bytes]) -> bytes:
        return match.group(0) + _mark(_HEADING_BASE + int(match.group(1)))

    def style(match: re.Match[bytes]) -> bytes:
        level = styles.get(match.group(1))
        if level is None or match.start() < body_from:
            return match.group(0)
        return match.group(0) + _mark(_HEADING_BASE + level - 1)

    data = _OUTLINE.sub(outline, data)
    if styles:
        data = _STYLE_REF.sub(style, data)
    return _PAGE.sub(lambda m: b"\\page " + _mark(ord(_PAGE_MARK)), data)


def rtf_text(data: bytes) -> str:
    """Plain text of RTF bytes with the structure marks in place (newline-normalised)."""
    from striprtf.striprtf import rtf_to_text

    # RTF is 7-bit with escapes; stray 8-bit bytes are read as the usual Windows code page.
    source = data.decode("cp1252", errors="replace")
    return normalise_newlines(rtf_to_text(source, errors="replace"))


def check_rtf(data: bytes) -> None:
    """Refuse what is not RTF with a reason (Word binaries are often renamed .rtf)."""
    if data.startswith(_OLE_MAGIC):
        raise ParseError(
            "this .rtf file is really a Word binary (.doc) file",
            hint="rename it to .doc (Cairn reads .doc through LibreOffice) or re-save it as RTF",
        )
    if not data.lstrip()[:5].lower().startswith(b"{\\rtf"):
        raise ParseError(
            "not an RTF file: it does not start with {\\rtf",
            hint="the file has an .rtf extension but other content; fix the extension",
        )


def add_rtf_sections(builder: SectionBuilder, text: str, prefix: tuple[str, ...] = ()) -> None:
    """Split marked RTF text into sections under headings and pages (shared with Outlook)."""
    paged = _PAGE_MARK in text
    page = 1
    stack: list[tuple[int, str]] = []
    lines: list[str] = []

    def flush() -> None:
        builder.add(
            "\n".join(lines),
            page=page if paged else None,
            heading_path=prefix + tuple(h for _, h in stack),
        )
        lines.clear()

    for raw in text.split("\n"):
        pages = raw.count(_PAGE_MARK)
        level_mark = _LEVEL_MARK.search(raw)
        line = _MARKS.sub("", raw)
        if line.endswith("|"):  # a table row: striprtf ends each cell with "|"
            line = render_row(line[:-1].split("|"))
        if level_mark is not None and line.strip():
            flush()
            level = ord(level_mark.group()) - _HEADING_BASE + 1
            while stack and stack[-1][0] >= level:
                stack.pop()
            stack.append((level, " ".join(line.split())))
        else:
            lines.append(line)
        if pages:
            flush()
            page += pages
    flush()
    if not builder.sections and stack:
        builder.add("\n".join(h for _, h in stack), kind="title")


def parse_rtf(path: Path) -> ParsedDocument:
    """RTF: sections under their headings (and explicit pages); title = first level-1 heading."""
    data = path.read_bytes()
    check_rtf(data)
    text = rtf_text(mark_structure(data))
    builder = SectionBuilder()
    add_rtf_sections(builder, text)
    match = _INFO_TITLE.search(data[:100_000])
    title = " ".join(match.group(1).decode("cp1252", "replace").split()) if match else ""
    title = title or next((s.heading_path[0] for s in builder.sections if s.heading_path), None)
    return ParsedDocument(sections=builder.sections, parser="rtf", title=title)
