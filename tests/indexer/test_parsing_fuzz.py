"""Fuzzing the parser seam's contract: whatever bytes a file holds, `parse_file` returns a
ParsedDocument with text or raises ParseError — never another exception, never an empty document.

Two generators: raw random bytes (optionally behind a real format's magic number, to get past
the first sniff), and mutations (truncation, byte flips) of real files made by the writers.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from indexer.errors import ParseError
from indexer.ingest.parsing import parse_file
from indexer.records import ParsedDocument

EXTENSIONS = [
    ".txt",
    ".py",
    ".json",
    ".md",
    ".html",
    ".csv",
    ".tsv",
    ".pdf",
    ".docx",
    ".pptx",
    ".xlsx",
    ".eml",
    ".epub",
    ".odt",
    ".ods",
    ".odp",
    ".msg",
    ".rtf",
    ".rst",
    ".org",
    ".xml",
    ".doc",
    ".xls",
    ".ppt",
]
MAGIC = [
    b"",
    b"%PDF-1.7\n",
    b"PK\x03\x04",
    b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",
    b"\xff\xfe",
    b"\xef\xbb\xbf",
    b"<html><body>",
    b"# Title\n",
    b"From: a@b\nSubject: x\n\n",
    b"{\\rtf1\\ansi ",
    b"<?xml version='1.0'?>\n<root>",
]

FUZZ = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def check_contract(path: Path) -> None:
    try:
        doc = parse_file(path)
    except ParseError as exc:
        assert exc.message.strip()
        return
    assert isinstance(doc, ParsedDocument)
    assert doc.sections and all(s.text.strip() for s in doc.sections)
    assert doc.char_count > 0


@FUZZ
@given(
    ext=st.sampled_from(EXTENSIONS),
    magic=st.sampled_from(MAGIC),
    body=st.binary(min_size=0, max_size=4096),
)
def test_random_bytes_under_any_extension(
    tmp_path: Path, ext: str, magic: bytes, body: bytes
) -> None:
    path = tmp_path / f"fuzz{ext}"
    path.write_bytes(magic + body)
    check_contract(path)


@FUZZ
@given(ext=st.sampled_from(EXTENSIONS), text=st.text(max_size=2000))
def test_random_text_under_any_extension(tmp_path: Path, ext: str, text: str) -> None:
    path = tmp_path / f"text{ext}"
    path.write_bytes(text.encode("utf-8", "surrogatepass"))
    check_contract(path)


def _seed_files(folder: Path) -> dict[str, bytes]:
    """Small valid files of each binary format, made by the real writer libraries."""
    import docx
    from openpyxl import Workbook
    from pptx import Presentation
    from reportlab.pdfgen import canvas

    pdf = canvas.Canvas(str(folder / "s.pdf"))
    pdf.drawString(72, 720, "hello pdf")
    pdf.showPage()
    pdf.save()
    document = docx.Document()
    document.add_heading("Head", 1)
    document.add_paragraph("hello docx")
    document.save(str(folder / "s.docx"))
    prs = Presentation()
    prs.slides.add_slide(prs.slide_layouts[0]).shapes.title.text = "hello pptx"
    prs.save(str(folder / "s.pptx"))
    wb = Workbook()
    wb.active.append(["hello", "xlsx"])
    wb.save(str(folder / "s.xlsx"))
    with zipfile.ZipFile(folder / "s.epub", "w") as zf:
        zf.writestr(
            "META-INF/container.xml",
            '<container><rootfiles><rootfile full-path="c.opf"/></rootfiles></container>',
        )
        zf.writestr(
            "c.opf",
            '<package><manifest><item id="a" href="a.xhtml" '
            'media-type="application/xhtml+xml"/></manifest>'
            '<spine><itemref idref="a"/></spine></package>',
        )
        zf.writestr("a.xhtml", "<html><body><h1>hello</h1><p>epub</p></body></html>")
    _long_tail_seeds(folder)
    return {p.suffix: p.read_bytes() for p in folder.iterdir()}


def _long_tail_seeds(folder: Path) -> None:
    """ODF (odfpy), Outlook .msg (msgforge), RTF, RST, Org and XML seeds (issue 16)."""
    from msgforge import Message
    from odf.opendocument import OpenDocumentSpreadsheet, OpenDocumentText
    from odf.table import Table, TableCell, TableRow
    from odf.text import H, P

    odt = OpenDocumentText()
    odt.text.addElement(H(outlinelevel=1, text="Head"))
    odt.text.addElement(P(text="hello odt"))
    odt.save(str(folder / "s.odt"))
    ods = OpenDocumentSpreadsheet()
    sheet, row, cell = Table(name="S"), TableRow(), TableCell(valuetype="string")
    cell.addElement(P(text="hello ods"))
    row.addElement(cell)
    sheet.addElement(row)
    ods.spreadsheet.addElement(sheet)
    ods.save(str(folder / "s.ods"))
    Message(subject="hello", text_body="hello msg", to=["a@example.com"]).save(
        str(folder / "s.msg")
    )
    (folder / "s.rtf").write_text(
        r"{\rtf1\ansi{\stylesheet{\s1 heading 1;}}\pard\s1 Head\par\pard hello rtf\par\page x}"
    )
    (folder / "s.rst").write_text("Head\n====\n\nhello rst\n")
    (folder / "s.org").write_text("* Head\nhello org\n")
    (folder / "s.xml").write_text('<r>\n  <a id="1">hello xml</a>\n  <b/>\n</r>\n')


@pytest.fixture(scope="module")
def seeds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    return _seed_files(tmp_path_factory.mktemp("seeds"))


def test_seed_files_parse(seeds: dict[str, bytes], tmp_path: Path) -> None:
    for ext, data in seeds.items():
        path = tmp_path / f"seed{ext}"
        path.write_bytes(data)
        doc = parse_file(path)
        found = " ".join(s.text + " " + " ".join(s.heading_path) for s in doc.sections)
        assert "hello" in found, ext


@FUZZ
@given(data=st.data())
def test_mutated_real_documents(
    seeds: dict[str, bytes], tmp_path: Path, data: st.DataObject
) -> None:
    ext = data.draw(st.sampled_from(sorted(seeds)))
    blob = bytearray(seeds[ext])
    cut = data.draw(st.integers(min_value=1, max_value=len(blob)))
    del blob[cut:]
    flips = data.draw(
        st.lists(st.tuples(st.integers(0, len(blob) - 1), st.integers(0, 255)), max_size=8)
    )
    for position, value in flips:
        blob[position] = value
    path = tmp_path / f"mutant{ext}"
    path.write_bytes(bytes(blob))
    check_contract(path)
