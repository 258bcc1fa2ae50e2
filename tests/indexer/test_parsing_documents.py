"""parse_file on binary document formats (PDF, DOCX, PPTX, XLSX), generated in tmp_path with the
real writer libraries: page/slide/sheet anchors, headings, tables, and the failure reasons for
encrypted, truncated, text-less and zip-bomb files.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from indexer.errors import ParseError
from indexer.ingest.parsing import parse_file
from indexer.ingest.parsing.sections import SECTION_SEPARATOR
from indexer.records import ParsedDocument


def assert_extracted_offsets(doc: ParsedDocument) -> None:
    """char_start is the offset in the separator-joined section texts; no blank sections."""
    joined = SECTION_SEPARATOR.join(s.text for s in doc.sections)
    for s in doc.sections:
        assert joined[s.char_start : s.char_start + len(s.text)] == s.text
        assert s.text.strip()


# ------------------------------------------------------------------------------------ PDF


def make_pdf(path: Path, pages: list[list[str]], title: str | None = None) -> Path:
    from reportlab.pdfgen import canvas

    pdf = canvas.Canvas(str(path))
    if title:
        pdf.setTitle(title)
    for lines in pages:
        for n, line in enumerate(lines):
            pdf.drawString(72, 720 - 16 * n, line)
        pdf.showPage()
    pdf.save()
    return path


def test_pdf_one_section_per_page_with_page_numbers(tmp_path: Path) -> None:
    pages = [
        [f"Page {n} talks about topic {word}.", f"Second line of page {n}."]
        for n, word in enumerate(["alpha", "beta", "gamma"], start=1)
    ]
    doc = parse_file(make_pdf(tmp_path / "three.pdf", pages, title="Three Pages"))
    assert doc.parser == "pdf" and doc.title == "Three Pages"
    assert [s.page for s in doc.sections] == [1, 2, 3]
    for s, word in zip(doc.sections, ["alpha", "beta", "gamma"], strict=True):
        assert f"Page {s.page} talks about topic {word}." in s.text
        assert "\r" not in s.text
        assert s.text.splitlines()[1] == f"Second line of page {s.page}."
    assert_extracted_offsets(doc)
    assert doc.warnings == ()


def test_pdf_blank_pages_are_skipped_with_a_warning(tmp_path: Path) -> None:
    doc = parse_file(make_pdf(tmp_path / "gap.pdf", [["first"], [], ["third"]]))
    assert [(s.page, s.text) for s in doc.sections] == [(1, "first"), (3, "third")]
    assert doc.warnings == ("1 of 3 pages have no text",)


def test_pdf_with_only_drawings_has_no_text_and_is_not_ocred(tmp_path: Path) -> None:
    """Vector drawings and no image: nothing to OCR, so it fails with the reason at once."""
    from reportlab.pdfgen import canvas

    path = tmp_path / "drawing.pdf"
    pdf = canvas.Canvas(str(path))
    for _ in range(2):
        pdf.rect(72, 400, 300, 200, fill=1)
        pdf.circle(300, 300, 50)
        pdf.showPage()
    pdf.save()
    with pytest.raises(ParseError) as exc:
        parse_file(path)
    assert exc.value.message == "no text could be extracted (no text layer, and OCR found no words)"


def test_encrypted_pdf(tmp_path: Path) -> None:
    import pikepdf

    plain = make_pdf(tmp_path / "plain.pdf", [["confidential text"]])
    locked = tmp_path / "locked.pdf"
    with pikepdf.open(plain) as pdf:
        pdf.save(locked, encryption=pikepdf.Encryption(user="secret", owner="owner"))
    with pytest.raises(ParseError) as exc:
        parse_file(locked)
    assert exc.value.message == "encrypted: Cairn cannot read password-protected files"


def test_pdf_with_only_an_owner_password_is_readable(tmp_path: Path) -> None:
    import pikepdf

    plain = make_pdf(tmp_path / "plain.pdf", [["permissions only"]])
    restricted = tmp_path / "restricted.pdf"
    with pikepdf.open(plain) as pdf:
        pdf.save(restricted, encryption=pikepdf.Encryption(user="", owner="owner"))
    assert parse_file(restricted).sections[0].text == "permissions only"


@pytest.mark.parametrize("fraction", [0.1, 0.5, 0.9])
def test_truncated_pdf(tmp_path: Path, fraction: float) -> None:
    data = make_pdf(tmp_path / "whole.pdf", [["some text"]] * 3).read_bytes()
    cut = tmp_path / "cut.pdf"
    cut.write_bytes(data[: int(len(data) * fraction)])
    with pytest.raises(ParseError) as exc:
        parse_file(cut)
    assert exc.value.message.startswith("corrupt or truncated PDF")


def test_not_a_pdf_at_all(tmp_path: Path) -> None:
    path = tmp_path / "fake.pdf"
    path.write_text("this is a plain text file renamed to pdf")
    with pytest.raises(ParseError) as exc:
        parse_file(path)
    assert exc.value.message.startswith("corrupt or truncated PDF")


# ------------------------------------------------------------------------------------ DOCX


def make_docx(path: Path) -> Path:
    import docx

    document = docx.Document()
    document.add_paragraph("Project Handbook", style="Title")
    document.add_paragraph("Preface text before the first heading.")
    document.add_heading("Setup", level=1)
    document.add_paragraph("Install the tools.")
    document.add_paragraph("")
    document.add_paragraph("Then configure them.")
    document.add_heading("Linux", level=2)
    document.add_paragraph("Use apt.")
    table = document.add_table(rows=3, cols=3)
    for r, row in enumerate([["Tool", "Version", "Notes"], ["git", "2.40", "required"]]):
        for c, value in enumerate(row):
            table.cell(r, c).text = value
    merged = table.cell(2, 0).merge(table.cell(2, 1))  # one cell spanning two columns
    merged.text = "all tools"
    table.cell(2, 2).text = "optional"
    document.add_heading("Usage", level=1)
    document.add_paragraph("Run it daily.")
    document.save(str(path))
    return path


def test_docx_headings_paragraphs_and_tables(tmp_path: Path) -> None:
    doc = parse_file(make_docx(tmp_path / "handbook.docx"))
    assert doc.parser == "docx" and doc.title == "Project Handbook"
    got = [(s.heading_path, s.kind, s.text) for s in doc.sections]
    assert got == [
        (("Project Handbook",), "text", "Preface text before the first heading."),
        (("Project Handbook", "Setup"), "text", "Install the tools.\n\nThen configure them."),
        (("Project Handbook", "Setup", "Linux"), "text", "Use apt."),
        (
            ("Project Handbook", "Setup", "Linux"),
            "table",
            "Tool | Version | Notes\ngit | 2.40 | required\nall tools | optional",
        ),
        (("Project Handbook", "Usage"), "text", "Run it daily."),
    ]
    assert all(s.page is None for s in doc.sections)
    assert_extracted_offsets(doc)


def test_docx_without_text(tmp_path: Path) -> None:
    import docx

    path = tmp_path / "blank.docx"
    docx.Document().save(str(path))
    with pytest.raises(ParseError) as exc:
        parse_file(path)
    assert exc.value.message == "no text could be extracted"


def test_truncated_docx(tmp_path: Path) -> None:
    data = make_docx(tmp_path / "whole.docx").read_bytes()
    cut = tmp_path / "cut.docx"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(ParseError) as exc:
        parse_file(cut)
    assert exc.value.message.startswith("corrupt or truncated DOCX file")


def test_zip_that_is_not_a_docx(tmp_path: Path) -> None:
    path = tmp_path / "other.docx"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("hello.txt", "hi")
    with pytest.raises(ParseError) as exc:
        parse_file(path)
    assert "word/document.xml" in exc.value.message


def test_zip_bomb_docx_is_refused_by_ratio(tmp_path: Path) -> None:
    path = tmp_path / "bomb.docx"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("[Content_Types].xml", "<Types/>")
        with zf.open("word/document.xml", "w") as member:
            block = b"\0" * (1024 * 1024)
            for _ in range(40):
                member.write(block)
    assert path.stat().st_size < 200_000
    with pytest.raises(ParseError) as exc:
        parse_file(path)
    assert "compression ratio" in exc.value.message
    assert "zip bomb" in (exc.value.hint or "")


def test_zip_bomb_total_size_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from indexer.ingest.parsing import zipguard

    monkeypatch.setattr(zipguard, "MAX_UNCOMPRESSED_BYTES", 50_000)
    path = tmp_path / "big.xlsx"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as zf:
        for n in range(4):
            zf.writestr(f"xl/part{n}.xml", b"x" * 20_000)
    with pytest.raises(ParseError) as exc:
        parse_file(path)
    assert "expands to more than" in exc.value.message


def test_password_protected_office_file(tmp_path: Path) -> None:
    # Office stores a protected .docx as an OLE compound file holding an EncryptedPackage
    # stream; the directory entry name is UTF-16-LE. A minimal stand-in with both markers:
    header = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 504
    directory = "EncryptedPackage".encode("utf-16-le") + b"\0" * 96
    path = tmp_path / "protected.docx"
    path.write_bytes(header + directory + b"\0" * 1024)
    with pytest.raises(ParseError) as exc:
        parse_file(path)
    assert exc.value.message == "encrypted: Cairn cannot read password-protected files"


def test_zip_level_encryption_is_reported_as_encrypted(tmp_path: Path) -> None:
    path = tmp_path / "locked.epub"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("META-INF/container.xml", "<container/>")
    data = bytearray(path.read_bytes())
    # Set bit 0 ("encrypted") of the general-purpose flags in the central directory entry.
    central = data.index(b"PK\x01\x02")
    data[central + 8] |= 0x1
    path.write_bytes(bytes(data))
    with pytest.raises(ParseError) as exc:
        parse_file(path)
    assert exc.value.message == "encrypted: Cairn cannot read password-protected files"


def test_legacy_binary_office_file_with_new_extension(tmp_path: Path) -> None:
    path = tmp_path / "old.xlsx"
    path.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 2048)
    with pytest.raises(ParseError) as exc:
        parse_file(path)
    assert "legacy binary Office file" in exc.value.message


# ------------------------------------------------------------------------------------ PPTX


def make_pptx(path: Path) -> Path:
    from pptx import Presentation
    from pptx.util import Inches

    prs = Presentation()
    first = prs.slides.add_slide(prs.slide_layouts[1])  # title and content
    first.shapes.title.text = "Quarterly Review"
    first.placeholders[1].text_frame.text = "Revenue grew 12%"
    first.notes_slide.notes_text_frame.text = "Mention the new customers."
    second = prs.slides.add_slide(prs.slide_layouts[6])  # blank: no title placeholder
    box = second.shapes.add_textbox(Inches(1), Inches(1), Inches(4), Inches(1))
    box.text_frame.text = "Untitled slide body"
    rows = second.shapes.add_table(2, 2, Inches(1), Inches(3), Inches(4), Inches(1)).table
    for r, values in enumerate([["Region", "Sales"], ["North", "42"]]):
        for c, value in enumerate(values):
            rows.cell(r, c).text = value
    prs.save(str(path))
    return path


def test_pptx_slides_titles_and_notes(tmp_path: Path) -> None:
    doc = parse_file(make_pptx(tmp_path / "deck.pptx"))
    assert doc.parser == "pptx" and doc.title == "Quarterly Review"
    first, second = doc.sections
    assert first.page == 1 and first.heading_path == ("Quarterly Review",)
    assert first.text == "Revenue grew 12%\n\nNotes:\nMention the new customers."
    assert second.page == 2 and second.heading_path == ()
    assert second.text == "Untitled slide body\n\nRegion | Sales\nNorth | 42"
    assert_extracted_offsets(doc)


# ------------------------------------------------------------------------------------ XLSX


def make_xlsx(path: Path) -> Path:
    from datetime import datetime

    from openpyxl import Workbook

    wb = Workbook()
    people = wb.active
    people.title = "People"
    people.append(["Name", "Age", "Joined"])
    for n in range(1, 121):
        people.append([f"person {n}", 20.0 + n % 50, datetime(2024, 1, 1 + n % 28)])
    prices = wb.create_sheet("Prices")
    prices.append(["Item", "Price"])
    prices.append([None, None])
    prices.append(["Apple", 0.5])
    prices["D7"] = "stray note"
    prices["A8"] = "=1+1"
    wb.save(str(path))
    return path


def test_xlsx_sheets_rows_and_header_repetition(tmp_path: Path) -> None:
    doc = parse_file(make_xlsx(tmp_path / "book.xlsx"))
    assert doc.parser == "xlsx"
    people = [s for s in doc.sections if s.heading_path == ("People",)]
    assert len(people) > 3 and {s.page for s in people} == {1}
    # Sections close at 50 rows or TABLE_SECTION_CHARS (to fit one chunk); rows 2-121 covered.
    assert people[0].line_start == 2 and people[-1].line_end == 121
    for prev, nxt in zip(people, people[1:]):
        assert nxt.line_start == prev.line_end + 1
    for s in people:
        assert s.kind == "table" and s.text.splitlines()[0] == "Name | Age | Joined"
    assert people[0].text.splitlines()[1] == "person 1 | 21 | 2024-01-02"
    prices = [s for s in doc.sections if s.heading_path == ("Prices",)]
    assert len(prices) == 1 and prices[0].page == 2
    # Formula cells without cached values (never opened in Excel) read as empty: data_only.
    assert prices[0].text == "Item | Price\nApple | 0.5\n |  |  | stray note"
    assert (prices[0].line_start, prices[0].line_end) == (3, 7)
    assert_extracted_offsets(doc)


def test_xlsx_single_row_sheet_and_empty_sheet(tmp_path: Path) -> None:
    from openpyxl import Workbook

    wb = Workbook()
    wb.active.title = "Empty"
    wb.create_sheet("Labels").append(["only", "a", "header"])
    path = tmp_path / "thin.xlsx"
    wb.save(str(path))
    doc = parse_file(path)
    assert [(s.page, s.heading_path, s.text, s.line_start) for s in doc.sections] == [
        (2, ("Labels",), "only | a | header", 1)
    ]
