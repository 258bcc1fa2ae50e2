"""OpenDocument text, spreadsheets and presentations (.odt .ods .odp), read with lxml directly.

Why not odfpy or unstructured: an ODF file is a zip whose `content.xml` holds the whole body,
so one lxml parse and a walk is all it takes. Measured on generated files (docs/formats.md):
a 5,000-row × 6-column .ods parses in ~0.2 s with lxml against ~1.8 s with odfpy's reader, and
unstructured's `partition_odt` converts through pandoc (a 162 MB binary Cairn does not ship).
odfpy is kept as a dev-only *writer* for the tests.

Anchors: ODT → `heading_path` from `text:h` outline levels, and `page` when the writer stored
its layout (LibreOffice writes `text:soft-page-break`; without any, `page` stays None); tables
become `table` sections. ODS → like XLSX: `page` = sheet number, `heading_path` = (sheet name,),
`line_start`/`line_end` = row numbers, the header row repeated in every row group. ODP → `page`
= slide number, `heading_path` = (slide title,), speaker notes appended.

Password-protected ODF files are zips whose manifest lists `encryption-data` for content.xml:
they fail as encrypted. The body type decides how a file is read (an .odt that is really a
spreadsheet is still read as one).
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from indexer.errors import ParseError
from indexer.ingest.parsing.office import add_sheet_rows, add_slide
from indexer.ingest.parsing.sections import SectionBuilder
from indexer.ingest.parsing.text import render_row, table_section_full
from indexer.ingest.parsing.zipguard import ENCRYPTED_HINT, ENCRYPTED_MESSAGE, open_checked_zip
from indexer.records import ParsedDocument

_NS = {
    "office": "urn:oasis:names:tc:opendocument:xmlns:office:1.0",
    "text": "urn:oasis:names:tc:opendocument:xmlns:text:1.0",
    "table": "urn:oasis:names:tc:opendocument:xmlns:table:1.0",
    "draw": "urn:oasis:names:tc:opendocument:xmlns:drawing:1.0",
    "presentation": "urn:oasis:names:tc:opendocument:xmlns:presentation:1.0",
    "manifest": "urn:oasis:names:tc:opendocument:xmlns:manifest:1.0",
    "dc": "http://purl.org/dc/elements/1.1/",
}
_CORRUPT_HINT = "open it in LibreOffice to check it; save it again"
#: Identical non-empty rows/cells repeated more often than this are kept this many times:
#: a repeat count is a compression trick of the format, not more information.
MAX_REPEAT = 100
#: Columns read per row; spreadsheet rows are padded to 1,024+ empty repeated cells.
MAX_COLUMNS = 1024


def _q(name: str) -> str:
    """`prefix:local` → lxml's `{namespace}local`."""
    prefix, local = name.split(":")
    return f"{{{_NS[prefix]}}}{local}"


_H, _P, _SPAN, _S, _TAB, _BR = (_q(n) for n in (
    "text:h", "text:p", "text:span", "text:s", "text:tab", "text:line-break"))  # fmt: skip
_LIST, _LIST_ITEM, _LIST_HEADER, _SECTION = (_q(n) for n in (
    "text:list", "text:list-item", "text:list-header", "text:section"))  # fmt: skip
_SOFT_BREAK, _NOTE_CITATION = _q("text:soft-page-break"), _q("text:note-citation")
_TABLE, _ROW, _CELL, _COVERED = (_q(n) for n in (
    "table:table", "table:table-row", "table:table-cell", "table:covered-table-cell"))  # fmt: skip
_FRAME, _TEXT_BOX, _GROUP, _PAGE, _NOTES = (_q(n) for n in (
    "draw:frame", "draw:text-box", "draw:g", "draw:page", "presentation:notes"))  # fmt: skip
_CLASS = _q("presentation:class")
# Elements whose text is not body text: comments, tracked deletions, generated indexes.
_SKIP = frozenset(_q(n) for n in (
    "office:annotation", "text:tracked-changes", "text:table-of-content", "text:index-body",
    "text:alphabetical-index", "text:bibliography", "text:sequence-decls", "office:forms",
    "table:shapes", "draw:image", "text:illustration-index", "text:table-index",
))  # fmt: skip


def _xml(archive: zipfile.ZipFile, name: str) -> Any:
    """Parse one member with entity expansion, DTDs and network access off."""
    from lxml import etree

    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    return etree.fromstring(archive.read(name), parser)


def _inline(element: Any) -> str:
    """Text of a paragraph-like element: `text:s`/`text:tab`/`text:line-break` as whitespace,
    footnote markers and comments dropped, footnote bodies kept inline."""
    parts: list[str] = [element.text or ""]
    for child in element:
        tag = child.tag
        if tag == _S:
            parts.append(" " * min(int(child.get(_q("text:c"), "1") or 1), 100))
        elif tag == _TAB:
            parts.append("\t")
        elif tag == _BR:
            parts.append("\n")
        elif tag not in _SKIP and tag != _NOTE_CITATION and isinstance(tag, str):
            parts.append(_inline(child))
        parts.append(child.tail or "")
    return "".join(parts)


def _table_text(table: Any) -> str:
    """A table as `a | b | c` rows (nested tables flattened into their cell)."""
    lines = []
    for row in table.iter(_ROW):
        if row.getparent() is not None and _owning_table(row) is not table:
            continue
        cells = [_block_text(c) for c in row if c.tag in (_CELL, _COVERED)]
        line = render_row(cells)
        if line.strip(" |"):
            lines.append(line)
    return "\n".join(lines)


def _owning_table(row: Any) -> Any:
    parent = row.getparent()
    while parent is not None and parent.tag != _TABLE:
        parent = parent.getparent()
    return parent


def table_groups(table: str) -> list[str]:
    """A rendered table in row groups closed by `table_section_full` (as sheets are), each
    starting with the header row, so a row of a long table is found with its column names."""
    header, *rows = table.split("\n")
    groups: list[str] = []
    group: list[str] = []
    for row in rows:
        group.append(row)
        if table_section_full(header, group):
            groups.append("\n".join([header, *group]))
            group = []
    if group or not groups:
        groups.append("\n".join([header, *group]))
    return groups


def _block_text(element: Any) -> str:
    """All paragraphs under an element (a cell, a text box), one per line."""
    lines = []
    for child in element.iter(_P, _H):
        text = " ".join(_inline(child).split())
        if text:
            lines.append(text)
    return "\n".join(lines)


# ------------------------------------------------------------------------------------ ODT


def _text_events(element: Any) -> Iterator[tuple[str, Any]]:
    """Walk an ODT body in reading order: ("h", (level, text)), ("p", text), ("table", text),
    ("page", None) for each soft page break."""
    for child in element:
        tag = child.tag
        if tag in _SKIP or not isinstance(tag, str):
            continue
        if tag == _SOFT_BREAK:
            yield "page", None
        elif tag == _H:
            yield from _breaks_inside(child)
            level = int(child.get(_q("text:outline-level"), "1") or 1)
            yield "h", (max(1, min(level, 10)), " ".join(_inline(child).split()))
        elif tag == _P:
            yield from _breaks_inside(child)
            yield "p", _inline(child)
        elif tag == _TABLE:
            yield "table", _table_text(child)
        elif tag in (_LIST, _LIST_ITEM, _LIST_HEADER, _SECTION, _FRAME, _TEXT_BOX, _GROUP):
            yield from _text_events(child)
        else:
            yield from _text_events(child)


def _breaks_inside(paragraph: Any) -> Iterator[tuple[str, Any]]:
    """LibreOffice puts a soft page break inside the paragraph that straddles two pages; the
    paragraph is then counted on the new page."""
    for _ in paragraph.iter(_SOFT_BREAK):
        yield "page", None


def _parse_text_body(body: Any, builder: SectionBuilder) -> str | None:
    """Paragraphs grouped under their headings (and pages, when known); returns the first
    top-level heading as a title candidate."""
    paged = next(body.iter(_SOFT_BREAK), None) is not None
    page = 1 if paged else None
    stack: list[tuple[int, str]] = []
    paragraphs: list[str] = []
    first_heading: str | None = None

    def path() -> tuple[str, ...]:
        return tuple(h for _, h in stack)

    def flush() -> None:
        builder.add("\n\n".join(paragraphs), page=page, heading_path=path())
        paragraphs.clear()

    for event, value in _text_events(body):
        if event == "page":
            flush()
            page = (page or 1) + 1
        elif event == "h":
            level, heading = value
            if not heading:
                continue
            flush()
            while stack and stack[-1][0] >= level:
                stack.pop()
            stack.append((level, heading))
            if first_heading is None and level == 1:
                first_heading = heading
        elif event == "table":
            flush()
            for group in table_groups(value):
                builder.add(group, page=page, heading_path=path(), kind="table")
        elif value.strip():
            paragraphs.append(value)
    flush()
    if not builder.sections and stack:  # headings only: still findable by them
        builder.add("\n".join(h for _, h in stack), kind="title")
    return first_heading


# ------------------------------------------------------------------------------------ ODS


def _cell_value(cell: Any) -> str:
    """What the cell shows (its paragraphs), else its typed value (files written by scripts
    often store only `office:value`)."""
    shown = _block_text(cell)
    if shown:
        return shown
    for attr in ("office:value", "office:date-value", "office:time-value", "office:boolean-value",
                 "office:string-value"):  # fmt: skip
        value = cell.get(_q(attr))
        if value:
            return value
    return ""


def _sheet_rows(table: Any) -> Iterator[tuple[int, str]]:
    """`(row number, rendered row)`; repeated rows and cells expanded only where not empty."""
    number = 0
    for row in table.iter(_ROW):
        if _owning_table(row) is not table:
            continue
        repeat = int(row.get(_q("table:number-rows-repeated"), "1") or 1)
        cells: list[str] = []
        pending_empty = 0
        for cell in row:
            if cell.tag not in (_CELL, _COVERED):
                continue
            times = int(cell.get(_q("table:number-columns-repeated"), "1") or 1)
            value = _cell_value(cell)
            if not value:
                pending_empty += times
                continue
            if len(cells) + pending_empty >= MAX_COLUMNS:
                break
            cells.extend([""] * pending_empty)
            pending_empty = 0
            cells.extend([value] * min(times, MAX_REPEAT, MAX_COLUMNS - len(cells)))
        line = render_row(cells)
        if not line.strip(" |"):
            number += repeat
            continue
        for _ in range(min(repeat, MAX_REPEAT)):
            number += 1
            yield number, line
        number += max(0, repeat - MAX_REPEAT)


def _parse_spreadsheet_body(body: Any, builder: SectionBuilder) -> None:
    for number, table in enumerate(body.iterchildren(_TABLE), start=1):
        name = table.get(_q("table:name")) or f"Sheet{number}"
        add_sheet_rows(builder, name, number, _sheet_rows(table))


# ------------------------------------------------------------------------------------ ODP


def _frame_texts(element: Any) -> Iterator[tuple[str | None, str]]:
    """`(presentation class, text)` of the frames of a slide, recursing into groups."""
    for child in element:
        if child.tag == _GROUP:
            yield from _frame_texts(child)
        elif child.tag == _FRAME:
            kind = child.get(_CLASS)
            tables = [_table_text(t) for t in child.iter(_TABLE)]
            text = "\n".join(tables) if tables else _block_text(child)
            if text.strip():
                yield kind, text
        elif child.tag in (_q("draw:custom-shape"), _q("draw:rect"), _q("draw:ellipse")):
            text = _block_text(child)
            if text.strip():
                yield None, text


def _parse_presentation_body(body: Any, builder: SectionBuilder) -> str | None:
    first_title: str | None = None
    for number, page in enumerate(body.iterchildren(_PAGE), start=1):
        title = ""
        parts: list[str] = []
        for kind, text in _frame_texts(page):
            if kind == "title" and not title:
                title = " ".join(text.split())
            else:
                parts.append(text)
        for notes in page.iterchildren(_NOTES):
            text = "\n".join(t for kind, t in _frame_texts(notes) if kind == "notes")
            if text.strip():
                parts.append("Notes:\n" + text)
        add_slide(builder, number, title, parts)
        if first_title is None and title:
            first_title = title
    return first_title


# ------------------------------------------------------------------------------------ entry


def _check_not_encrypted(archive: zipfile.ZipFile) -> None:
    if "META-INF/manifest.xml" not in archive.namelist():
        return
    manifest = _xml(archive, "META-INF/manifest.xml")
    if next(manifest.iter(_q("manifest:encryption-data")), None) is not None:
        raise ParseError(ENCRYPTED_MESSAGE, hint=ENCRYPTED_HINT)


def _title(archive: zipfile.ZipFile) -> str | None:
    if "meta.xml" not in archive.namelist():
        return None
    try:
        element = next(_xml(archive, "meta.xml").iter(_q("dc:title")), None)
    except Exception:  # noqa: BLE001 - metadata is optional; a broken meta.xml is not fatal
        return None
    text = " ".join((element.text or "").split()) if element is not None else ""
    return text or None


def parse_opendocument(path: Path) -> ParsedDocument:
    """Any ODF package (.odt/.ods/.odp): read by the kind of body it holds."""
    label = path.suffix.lower().lstrip(".").upper() or "ODF"
    builder = SectionBuilder()
    with open_checked_zip(path.read_bytes(), label) as archive:
        if "content.xml" not in archive.namelist():
            raise ParseError(
                f"corrupt {label} file: the zip has no content.xml", hint=_CORRUPT_HINT
            )
        _check_not_encrypted(archive)
        title = _title(archive)
        body = next(_xml(archive, "content.xml").iter(_q("office:body")), None)
    if body is None or len(body) == 0:
        raise ParseError(f"corrupt {label} file: content.xml has no body", hint=_CORRUPT_HINT)
    content = body[0]
    kind = content.tag.rsplit("}", 1)[-1] if isinstance(content.tag, str) else ""
    if kind == "spreadsheet":
        _parse_spreadsheet_body(content, builder)
        parser = "ods"
    elif kind in ("presentation", "drawing"):
        first_slide_title = _parse_presentation_body(content, builder)
        title = title or first_slide_title
        parser = "odp"
    else:
        heading = _parse_text_body(content, builder)
        title = title or heading
        parser = "odt"
    return ParsedDocument(sections=builder.sections, parser=parser, title=title)
