"""Office Open XML: DOCX (python-docx), PPTX (python-pptx), XLSX (openpyxl).

Why these and not unstructured: they are the libraries unstructured itself wraps, minus its
start-up cost (spaCy, analytics) and element post-processing we do not need; using them directly
keeps heading/slide/sheet anchors exact. The file is read once into memory and checked by
`zipguard` (zip bombs, encrypted or legacy binary files) before the library sees those bytes.

Anchors: DOCX → `heading_path` from "Title"/"Heading N" paragraph styles; PPTX → `page` = slide
number, `heading_path` = (slide title,); XLSX → `page` = sheet number, `heading_path` = (sheet
name,), `line_start`/`line_end` = the spreadsheet row numbers of the section.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable, Iterator
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

from indexer.errors import ParseError
from indexer.ingest.parsing.sections import SectionBuilder
from indexer.ingest.parsing.text import render_row, table_section_full
from indexer.ingest.parsing.zipguard import open_checked_zip
from indexer.records import ParsedDocument

_HEADING_STYLE = re.compile(r"^heading\s*([1-9])$", re.IGNORECASE)


def _load(path: Path, label: str, required: str) -> io.BytesIO:
    """Read and vet the package; `required` is the part that makes it this format."""
    data = path.read_bytes()
    with open_checked_zip(data, label) as archive:
        names = set(archive.namelist())
    if required not in names:
        raise ParseError(
            f"corrupt {label} file: the zip has no {required}",
            hint="it is a zip archive but not a valid document of this type",
        )
    return io.BytesIO(data)


# --------------------------------------------------------------------------------------- DOCX


def _heading_level(paragraph: Any) -> int | None:
    """0 for the "Title" style, N for "Heading N", None for body paragraphs."""
    try:
        name = (paragraph.style.name or "") if paragraph.style is not None else ""
    except (KeyError, AttributeError):  # a style id that points nowhere
        return None
    if name.lower() == "title":
        return 0
    match = _HEADING_STYLE.match(name.strip())
    return int(match.group(1)) if match else None


def _docx_table(table: Any) -> str:
    """Rows as `a | b | c`; a merged cell (same XML cell repeated) is written once per row."""
    lines = []
    for row in table.rows:
        seen: set[object] = set()  # lxml elements hash by identity
        cells = []
        for cell in row.cells:
            if cell._tc in seen:
                continue
            seen.add(cell._tc)
            cells.append(cell.text)
        line = render_row(cells)
        if line.strip(" |"):
            lines.append(line)
    return "\n".join(lines)


def parse_docx(path: Path) -> ParsedDocument:
    """Paragraphs grouped under their headings; tables as their own `table` sections."""
    import docx
    from docx.table import Table

    document = docx.Document(_load(path, "DOCX", "word/document.xml"))
    title = (document.core_properties.title or "").strip() or None
    builder = SectionBuilder()
    stack: list[tuple[int, str]] = []
    paragraphs: list[str] = []

    def heading_path() -> tuple[str, ...]:
        return tuple(h for _, h in stack)

    def flush() -> None:
        builder.add("\n\n".join(paragraphs), heading_path=heading_path())
        paragraphs.clear()

    for item in document.iter_inner_content():
        if isinstance(item, Table):
            flush()
            builder.add(_docx_table(item), heading_path=heading_path(), kind="table")
            continue
        text = item.text
        if not text.strip():
            continue
        level = _heading_level(item)
        if level is None:
            paragraphs.append(text)
            continue
        flush()
        heading = " ".join(text.split())
        while stack and stack[-1][0] >= level:
            stack.pop()
        stack.append((level, heading))
        if title is None and level <= 1:
            title = heading
    flush()
    if not builder.sections and stack:  # headings only: still findable by them
        builder.add("\n".join(h for _, h in stack), kind="title")
    return ParsedDocument(sections=builder.sections, parser="docx", title=title)


# --------------------------------------------------------------------------------------- PPTX


def _shape_texts(shape: Any, skip_id: int | None) -> list[str]:
    """Text of a shape, recursing into groups; tables rendered row by row."""
    from pptx.enum.shapes import MSO_SHAPE_TYPE

    if skip_id is not None and shape.shape_id == skip_id:
        return []
    if shape.shape_type == MSO_SHAPE_TYPE.GROUP:
        return [t for child in shape.shapes for t in _shape_texts(child, skip_id)]
    if getattr(shape, "has_table", False) and shape.has_table:
        rows = [render_row([cell.text for cell in row.cells]) for row in shape.table.rows]
        return ["\n".join(r for r in rows if r.strip(" |"))]
    if getattr(shape, "has_text_frame", False) and shape.has_text_frame:
        return [shape.text_frame.text]
    return []


def parse_pptx(path: Path) -> ParsedDocument:
    """One section per slide (page = slide number), speaker notes appended to the slide."""
    from pptx import Presentation

    presentation = Presentation(_load(path, "PPTX", "ppt/presentation.xml"))
    title = (presentation.core_properties.title or "").strip() or None
    builder = SectionBuilder()
    for number, slide in enumerate(presentation.slides, start=1):
        title_shape = slide.shapes.title
        slide_title = ""
        if title_shape is not None and title_shape.has_text_frame:
            slide_title = " ".join(title_shape.text_frame.text.split())
        skip_id = title_shape.shape_id if slide_title else None
        parts = [t for shape in slide.shapes for t in _shape_texts(shape, skip_id) if t.strip()]
        if slide.has_notes_slide:
            frame = slide.notes_slide.notes_text_frame
            if frame is not None and frame.text.strip():
                parts.append("Notes:\n" + frame.text)
        add_slide(builder, number, slide_title, parts)
        if title is None and slide_title:
            title = slide_title
    return ParsedDocument(sections=builder.sections, parser="pptx", title=title)


def add_slide(builder: SectionBuilder, number: int, title: str, parts: list[str]) -> None:
    """One slide as a section (shared by PPTX and ODP): `page` = slide number, the slide title
    as heading; a slide with only a title is kept as a `title` section."""
    heading_path = (title,) if title else ()
    if parts:
        builder.add("\n\n".join(parts), page=number, heading_path=heading_path)
    elif title:
        builder.add(title, page=number, heading_path=heading_path, kind="title")


# --------------------------------------------------------------------------------------- XLSX


def _cell_text(value: object) -> object:
    """Spreadsheet values as people read them: 3 not 3.0, dates without a midnight time."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return int(value)
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time(0) else value.isoformat(" ")
    if isinstance(value, (date, time)):
        return value.isoformat()
    return value


def parse_xlsx(path: Path) -> ParsedDocument:
    """Per sheet, sections of up to `ROWS_PER_SECTION` rows (and `TABLE_SECTION_CHARS`), each
    starting with the sheet's first row.

    Read-only mode streams rows instead of building the whole workbook; `data_only` gives the
    cached results of formulas rather than their source.
    """
    from openpyxl import load_workbook

    workbook = load_workbook(_load(path, "XLSX", "xl/workbook.xml"), read_only=True, data_only=True)
    builder = SectionBuilder()
    try:
        for number, sheet in enumerate(workbook.worksheets, start=1):
            sheet.reset_dimensions()  # some writers store a wrong <dimension>; read every row
            _add_sheet(builder, sheet, number)
    finally:
        workbook.close()
    return ParsedDocument(sections=builder.sections, parser="xlsx")


def _add_sheet(builder: SectionBuilder, sheet: Any, number: int) -> None:
    """One openpyxl sheet through `add_sheet_rows` (row numbers as the sheet shows them)."""

    def rows() -> Iterator[tuple[int, str]]:
        for cells in sheet.iter_rows():
            row_number = next((c.row for c in cells if getattr(c, "row", None)), None)
            if row_number is not None:
                yield row_number, render_row([_cell_text(c.value) for c in cells])

    add_sheet_rows(builder, str(sheet.title), number, rows())


def add_sheet_rows(
    builder: SectionBuilder, name: str, number: int, rows: Iterable[tuple[int, str]]
) -> None:
    """Sections of one sheet from `(row number, rendered row)` pairs; shared by XLSX and ODS.

    The first non-empty row is the header and starts every section (closed by
    `table_section_full`: 50 rows or one chunk's worth of characters), so "the value of X for Y"
    finds a row with its column names; `page` = sheet number,
    `heading_path` = (sheet name,), `line_start`/`line_end` = the rows. A sheet with a single
    non-empty row still yields that row.
    """
    header: str | None = None
    lines: list[str] = []
    first = last = 0

    def flush() -> None:
        if lines:
            builder.add(
                "\n".join([header or "", *lines]),
                page=number,
                heading_path=(name,),
                line_start=first,
                line_end=last,
                kind="table",
            )
            lines.clear()

    for row_number, line in rows:
        if not line.strip(" |"):
            continue
        if header is None:
            header, first, last = line, row_number, row_number
            continue
        if not lines:
            first = row_number
        lines.append(line)
        last = row_number
        if table_section_full(header, lines):
            flush()
    if lines:
        flush()
    elif header is not None and last == first:  # only a heading row
        builder.add(
            header, page=number, heading_path=(name,), line_start=first, line_end=last, kind="table"
        )
