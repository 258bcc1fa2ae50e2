"""parse_file on the long-tail document formats (issue 16): OpenDocument, Outlook .msg and RTF,
each on a real file generated here by a library that writes the format (odfpy, msgforge) or, for
RTF (a text format), written out as Word does; and each format's bad inputs (corrupt, empty,
encrypted) failing alone with a reason. RST/Org/XML/legacy Office: test_parsing_outline_legacy.
"""

from __future__ import annotations

import itertools
import os
import textwrap
import zipfile
from datetime import datetime
from pathlib import Path

import pytest

from indexer.errors import ParseError
from indexer.ingest.parsing import parse_file
from indexer.ingest.parsing.sections import SECTION_SEPARATOR
from indexer.records import ParsedDocument

ENCRYPTED = "encrypted: Cairn cannot read password-protected files"


def assert_extracted_offsets(doc: ParsedDocument) -> None:
    joined = SECTION_SEPARATOR.join(s.text for s in doc.sections)
    for s in doc.sections:
        assert joined[s.char_start : s.char_start + len(s.text)] == s.text
        assert s.text.strip()


def assert_source_slices(doc: ParsedDocument, source: str) -> None:
    lines = source.split("\n")
    for s in doc.sections:
        assert source[s.char_start : s.char_start + len(s.text)] == s.text
        assert s.line_start is not None and s.line_end is not None
        assert s.text in "\n".join(lines[s.line_start - 1 : s.line_end])


def fails(path: Path) -> ParseError:
    with pytest.raises(ParseError) as exc:
        parse_file(path)
    assert exc.value.message.strip()
    return exc.value


# ------------------------------------------------------------------------------ OpenDocument


def make_odt(path: Path) -> Path:
    from odf import dc
    from odf.opendocument import OpenDocumentText
    from odf.table import Table, TableCell, TableColumn, TableRow
    from odf.text import H, List, ListItem, P, S, SoftPageBreak

    doc = OpenDocumentText()
    doc.meta.addElement(dc.Title(text="Field Manual"))
    doc.text.addElement(P(text="Foreword before any heading."))
    doc.text.addElement(H(outlinelevel=1, text="Setup"))
    paragraph = P(text="Install the")
    paragraph.addElement(S(c=2))
    paragraph.addText("tools.")
    doc.text.addElement(paragraph)
    items = List()
    item = ListItem()
    item.addElement(P(text="first step"))
    items.addElement(item)
    doc.text.addElement(items)
    doc.text.addElement(H(outlinelevel=2, text="Linux"))
    doc.text.addElement(P(text="Use apt on Debian."))
    doc.text.addElement(SoftPageBreak())  # what LibreOffice stores where a page ends
    table = Table(name="Tools")
    table.addElement(TableColumn(numbercolumnsrepeated=2))
    for values in (["Tool", "Version"], ["git", "2.40"]):
        row = TableRow()
        for value in values:
            cell = TableCell(valuetype="string")
            cell.addElement(P(text=value))
            row.addElement(cell)
        table.addElement(row)
    doc.text.addElement(table)
    doc.text.addElement(H(outlinelevel=1, text="Usage"))
    doc.text.addElement(P(text="Run it daily."))
    doc.save(str(path))
    return path


def test_odt_headings_pages_lists_and_tables(tmp_path: Path) -> None:
    doc = parse_file(make_odt(tmp_path / "manual.odt"))
    assert doc.parser == "odt" and doc.title == "Field Manual"
    got = [(s.page, s.heading_path, s.kind, s.text) for s in doc.sections]
    assert got == [
        (1, (), "text", "Foreword before any heading."),
        (1, ("Setup",), "text", "Install the  tools.\n\nfirst step"),
        (1, ("Setup", "Linux"), "text", "Use apt on Debian."),
        (2, ("Setup", "Linux"), "table", "Tool | Version\ngit | 2.40"),
        (2, ("Usage",), "text", "Run it daily."),
    ]
    assert_extracted_offsets(doc)


def test_long_odt_table_keeps_its_header_with_every_row_group(tmp_path: Path) -> None:
    from odf.opendocument import OpenDocumentText
    from odf.table import Table, TableCell, TableRow
    from odf.text import P

    doc = OpenDocumentText()
    table = Table(name="Nests")
    for values in [["Site", "Nests"]] + [[f"site {n}", str(n)] for n in range(120)]:
        row = TableRow()
        for value in values:
            cell = TableCell(valuetype="string")
            cell.addElement(P(text=value))
            row.addElement(cell)
        table.addElement(row)
    doc.text.addElement(table)
    doc.save(str(tmp_path / "nests.odt"))
    sections = parse_file(tmp_path / "nests.odt").sections
    assert len(sections) > 2
    assert all(s.kind == "table" and s.text.startswith("Site | Nests\n") for s in sections)
    rows = [line for s in sections for line in s.text.splitlines()[1:]]
    assert rows == [f"site {n} | {n}" for n in range(120)]  # every row once, in order


def test_odt_without_page_breaks_has_no_page(tmp_path: Path) -> None:
    from odf.opendocument import OpenDocumentText
    from odf.text import P

    doc = OpenDocumentText()
    doc.text.addElement(P(text="one paragraph"))
    doc.save(str(tmp_path / "plain.odt"))
    parsed = parse_file(tmp_path / "plain.odt")
    assert [(s.page, s.text) for s in parsed.sections] == [(None, "one paragraph")]


def make_ods(path: Path) -> Path:
    from odf.opendocument import OpenDocumentSpreadsheet
    from odf.table import Table, TableCell, TableRow
    from odf.text import P

    def row(values: list[object], repeat: int | None = None) -> TableRow:
        element = TableRow(numberrowsrepeated=repeat) if repeat else TableRow()
        for value in values:
            if value is None:
                element.addElement(TableCell())
            elif isinstance(value, (int, float)):
                element.addElement(TableCell(valuetype="float", value=value))  # no text:p
            else:
                cell = TableCell(valuetype="string")
                cell.addElement(P(text=str(value)))
                element.addElement(cell)
        return element

    doc = OpenDocumentSpreadsheet()
    people = Table(name="People")
    people.addElement(row(["Name", "Age"]))
    for n in range(1, 121):
        people.addElement(row([f"person {n}", 20 + n % 50]))
    doc.spreadsheet.addElement(people)
    prices = Table(name="Prices")
    prices.addElement(row(["Item", "Price"]))
    prices.addElement(row([None, None], repeat=3))
    prices.addElement(row(["Apple", 0.5]))
    # Spreadsheet writers pad a sheet to its full height with one repeated empty row.
    prices.addElement(TableRow(numberrowsrepeated=1048570))
    doc.spreadsheet.addElement(prices)
    doc.save(str(path))
    return path


def test_ods_sheets_rows_and_header_repetition_like_xlsx(tmp_path: Path) -> None:
    doc = parse_file(make_ods(tmp_path / "book.ods"))
    assert doc.parser == "ods"
    people = [s for s in doc.sections if s.heading_path == ("People",)]
    assert len(people) > 2 and {s.page for s in people} == {1}
    # Row groups close at 50 rows or TABLE_SECTION_CHARS (as XLSX); rows 2-121 all covered.
    assert people[0].line_start == 2 and people[-1].line_end == 121
    for prev, nxt in itertools.pairwise(people):
        assert nxt.line_start == prev.line_end + 1
    for s in people:
        assert s.kind == "table" and s.text.splitlines()[0] == "Name | Age"
    assert people[0].text.splitlines()[1] == "person 1 | 21"
    prices = [s for s in doc.sections if s.heading_path == ("Prices",)]
    assert [(s.page, s.text, s.line_start, s.line_end) for s in prices] == [
        (2, "Item | Price\nApple | 0.5", 5, 5)
    ]
    assert_extracted_offsets(doc)


def make_odp(path: Path) -> Path:
    from odf.draw import Frame, Page, TextBox
    from odf.namespaces import PRESENTATIONNS
    from odf.opendocument import OpenDocumentPresentation
    from odf.presentation import Notes
    from odf.style import MasterPage, PageLayout
    from odf.text import P

    doc = OpenDocumentPresentation()
    layout = PageLayout(name="Layout")
    doc.automaticstyles.addElement(layout)
    master = MasterPage(name="Default", pagelayoutname=layout)
    doc.masterstyles.addElement(master)

    def frame(parent: object, kind: str | None, text: str) -> None:
        element = Frame(width="20cm", height="3cm", x="1cm", y="1cm")
        if kind:
            element.setAttrNS(PRESENTATIONNS, "class", kind)
        box = TextBox()
        box.addElement(P(text=text))
        element.addElement(box)
        parent.addElement(element)  # type: ignore[attr-defined]

    first = Page(name="Slide 1", masterpagename=master)
    frame(first, "title", "Quarterly Review")
    frame(first, "outline", "Revenue grew 12%")
    notes = Notes()
    frame(notes, "notes", "Mention the new customers.")
    first.addElement(notes)
    doc.presentation.addElement(first)
    second = Page(name="Slide 2", masterpagename=master)
    frame(second, None, "Untitled slide body")
    doc.presentation.addElement(second)
    doc.save(str(path))
    return path


def test_odp_slides_titles_and_notes(tmp_path: Path) -> None:
    doc = parse_file(make_odp(tmp_path / "deck.odp"))
    assert doc.parser == "odp" and doc.title == "Quarterly Review"
    first, second = doc.sections
    assert first.page == 1 and first.heading_path == ("Quarterly Review",)
    assert first.text == "Revenue grew 12%\n\nNotes:\nMention the new customers."
    assert (second.page, second.heading_path, second.text) == (2, (), "Untitled slide body")


def test_password_protected_odt_is_reported_as_encrypted(tmp_path: Path) -> None:
    # LibreOffice keeps a protected file a zip, but content.xml is ciphertext and the manifest
    # says so with <manifest:encryption-data>.
    plain = make_odt(tmp_path / "plain.odt")
    locked = tmp_path / "locked.odt"
    ns = "urn:oasis:names:tc:opendocument:xmlns:manifest:1.0"
    manifest = (
        f'<manifest:manifest xmlns:manifest="{ns}"><manifest:file-entry '
        'manifest:full-path="content.xml" manifest:media-type="text/xml">'
        '<manifest:encryption-data manifest:checksum-type="SHA1/1K" manifest:checksum="x">'
        '<manifest:algorithm manifest:algorithm-name="Blowfish CFB" '
        'manifest:initialisation-vector="x"/></manifest:encryption-data>'
        "</manifest:file-entry></manifest:manifest>"
    )
    with zipfile.ZipFile(plain) as src, zipfile.ZipFile(locked, "w") as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename == "content.xml":
                data = os.urandom(len(data))
            elif info.filename == "META-INF/manifest.xml":
                data = manifest.encode()
            dst.writestr(info.filename, data)
    assert fails(locked).message == ENCRYPTED


@pytest.mark.parametrize("maker", [make_odt, make_ods, make_odp])
def test_truncated_opendocument(tmp_path: Path, maker: object) -> None:
    ext = {make_odt: ".odt", make_ods: ".ods", make_odp: ".odp"}[maker]  # type: ignore[index]
    data = maker(tmp_path / f"whole{ext}").read_bytes()  # type: ignore[operator]
    cut = tmp_path / f"cut{ext}"
    cut.write_bytes(data[: len(data) // 2])
    assert fails(cut).message.startswith(f"corrupt or truncated {ext[1:].upper()} file")


def test_zip_without_content_xml_and_empty_odt(tmp_path: Path) -> None:
    other = tmp_path / "other.ods"
    with zipfile.ZipFile(other, "w") as zf:
        zf.writestr("mimetype", "application/vnd.oasis.opendocument.spreadsheet")
    assert "no content.xml" in fails(other).message
    from odf.opendocument import OpenDocumentText

    OpenDocumentText().save(str(tmp_path / "blank.odt"))
    assert fails(tmp_path / "blank.odt").message == "no text could be extracted"


# ------------------------------------------------------------------------------ Outlook .msg


def make_msg(path: Path, **overrides: object) -> Path:
    from msgforge import Message

    fields: dict[str, object] = {
        "subject": "Budget 2027",
        "text_body": "Hi team,\n\nThe budget for the kestrel project is 40k.\n\nRegards",
        "to": [("alice@example.com", "Alice")],
        "cc": [("carol@example.com", "Carol")],
        "sender": ("bob@example.com", "Bob"),
        "sent": datetime(2026, 3, 1, 9, 30),
    }
    fields.update(overrides)
    attachments = fields.pop("attachments", [("numbers.csv", b"a,b\n1,2\n")])
    message = Message(**fields)  # type: ignore[arg-type]
    for name, data in attachments:  # type: ignore[attr-defined]
        message.attach_bytes(name, data)
    message.save(str(path))
    return path


def test_msg_headers_body_and_attachment_warning(tmp_path: Path) -> None:
    doc = parse_file(make_msg(tmp_path / "budget.msg"))
    assert doc.parser == "msg" and doc.title == "Budget 2027"
    header, body = doc.sections
    assert header.heading_path == body.heading_path == ("Budget 2027",)
    assert header.text.splitlines() == [
        'From: "Bob" <bob@example.com>',
        "To: Alice <alice@example.com>",
        "Cc: Carol <carol@example.com>",
        "Date: 2026-03-01 09:30:00+00:00",
        "Subject: Budget 2027",
    ]
    assert body.text == "Hi team,\n\nThe budget for the kestrel project is 40k.\n\nRegards"
    assert doc.warnings == ("1 attachment(s) not indexed: numbers.csv",)
    assert_extracted_offsets(doc)


def test_msg_html_body(tmp_path: Path) -> None:
    path = make_msg(
        tmp_path / "agenda.msg",
        subject="Agenda",
        text_body="",
        html_body="<h1>Agenda</h1><p>Discuss the kestrel budget.</p>",
        attachments=[],
    )
    doc = parse_file(path)
    assert "kestrel budget" in " ".join(s.text for s in doc.sections)
    assert all(s.heading_path[0] == "Agenda" for s in doc.sections)


def test_msg_rtf_body_decompression_matches_the_reference_codec() -> None:
    import compressed_rtf

    from indexer.ingest.parsing.outlook import decompress_rtf

    rtf = rb"{\rtf1\ansi Hello \b kestrel\b0 \par repeated repeated repeated text text}"
    assert decompress_rtf(compressed_rtf.compress(rtf, compressed=True)) == rtf
    assert decompress_rtf(compressed_rtf.compress(rtf, compressed=False)) == rtf


def test_msg_with_only_a_compressed_rtf_body(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Older Outlook versions store only PR_RTF_COMPRESSED; drop msgforge's plain and HTML bodies.
    from msgforge import _builder

    add_unicode, add_binary = _builder._Props.add_unicode, _builder._Props.add_binary

    def unicode_without_body(
        self: object, ole: object, parent: object, pid: int, value: str
    ) -> None:
        if pid != 0x1000:  # PR_BODY
            add_unicode(self, ole, parent, pid, value)

    def binary_without_html(
        self: object, ole: object, parent: object, pid: int, value: bytes
    ) -> None:
        if pid != 0x1013:  # PR_HTML
            add_binary(self, ole, parent, pid, value)

    monkeypatch.setattr(_builder._Props, "add_unicode", unicode_without_body)
    monkeypatch.setattr(_builder._Props, "add_binary", binary_without_html)
    path = make_msg(
        tmp_path / "old.msg",
        subject="Old client",
        text_body="",
        html_body="<p>Discuss the kestrel budget.</p>",
        attachments=[],
    )
    doc = parse_file(path)
    assert doc.sections[-1].text == "Discuss the kestrel budget."
    assert doc.sections[-1].heading_path == ("Old client",)


def test_encrypted_msg(tmp_path: Path) -> None:
    # An S/MIME-encrypted message is an empty body plus an opaque smime.p7m attachment.
    path = make_msg(
        tmp_path / "secret.msg", text_body="", attachments=[("smime.p7m", os.urandom(512))]
    )
    assert fails(path).message.startswith(ENCRYPTED)


def test_msg_that_is_not_an_outlook_file(tmp_path: Path) -> None:
    path = tmp_path / "chat.msg"
    path.write_text("<12:01> alice: not an Outlook message")
    assert fails(path).message.startswith("not an Outlook message")


def test_truncated_msg(tmp_path: Path) -> None:
    data = make_msg(tmp_path / "whole.msg").read_bytes()
    cut = tmp_path / "cut.msg"
    cut.write_bytes(data[: len(data) // 3])
    assert fails(cut).message.startswith("corrupt or truncated Outlook message")


# ------------------------------------------------------------------------------------ RTF

# What Word writes for a Title/Heading document (trimmed): a stylesheet naming the heading
# styles, \sN + \outlinelevelN on heading paragraphs, an explicit page break, a table.
RTF = textwrap.dedent(r"""
    {\rtf1\ansi\ansicpg1252\deff0{\fonttbl{\f0\froman Times New Roman;}}
    {\stylesheet{\ql \f0\fs24 \snext0 Normal;}{\s1\ql \keepn\outlinelevel0\b\fs32 \sbasedon0 \snext0 heading 1;}{\s2\ql \keepn\outlinelevel1\b\fs28 \sbasedon0 \snext0 heading 2;}}
    {\info{\title Field Manual}{\author Ada}}
    \pard\plain \ql\f0\fs24 Foreword before any heading.\par
    \pard\plain \s1\ql \keepn\outlinelevel0\b\fs32 Setup\par
    \pard\plain \ql\f0\fs24 Install the tools caf\'e9 and na\u239?ve.\par
    Second paragraph.\par
    \pard\plain \s2\ql \keepn\b\fs28 Linux\par
    \pard\plain \ql\f0\fs24 Use apt.\par
    \page
    \pard\plain \s1\ql \keepn\outlinelevel0\b\fs32 Usage\par
    \pard\plain \ql\f0\fs24 Run it daily.\par
    \trowd\cellx2000\cellx4000 \intbl Tool\cell Version\cell\row
    \trowd\cellx2000\cellx4000 \intbl git\cell 2.40\cell\row
    }""").strip()  # fmt: skip


def test_rtf_headings_pages_tables_and_title(tmp_path: Path) -> None:
    path = tmp_path / "manual.rtf"
    path.write_text(RTF, encoding="ascii")
    doc = parse_file(path)
    assert doc.parser == "rtf" and doc.title == "Field Manual"
    got = [(s.page, s.heading_path, s.text) for s in doc.sections]
    assert got == [
        (1, (), "Foreword before any heading."),
        (1, ("Setup",), "Install the tools café and naïve.\nSecond paragraph."),
        (1, ("Setup", "Linux"), "Use apt."),  # found by its style (\s2) alone
        (2, ("Usage",), "Run it daily.\nTool | Version\ngit | 2.40"),
    ]
    assert_extracted_offsets(doc)


def test_rtf_bad_inputs(tmp_path: Path) -> None:
    renamed = tmp_path / "renamed.rtf"
    renamed.write_text("just text, not RTF")
    assert fails(renamed).message.startswith("not an RTF file")
    word = tmp_path / "word.rtf"
    word.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 1024)
    assert "Word binary" in fails(word).message
    blank = tmp_path / "blank.rtf"
    blank.write_text(r"{\rtf1\ansi{\fonttbl{\f0 Arial;}}\pard\par\par}")
    assert fails(blank).message == "no text could be extracted"
    body_level = tmp_path / "body-level.rtf"  # Word's outline level 9 is body text, not a heading
    body_level.write_text(r"{\rtf1\ansi\pard\outlinelevel9 Plain words.\par}")
    assert [s.heading_path for s in parse_file(body_level).sections] == [()]
    cut = tmp_path / "cut.rtf"
    cut.write_text(RTF[: len(RTF) // 2])  # truncated RTF still yields what it holds
    assert "Foreword" in parse_file(cut).sections[0].text
