"""parse_file on text-like formats: decoding, line anchors, Markdown/HTML headings, CSV, e-mail,
EPUB, and the error contract (every failure is a ParseError with a human reason).

Every input is generated in tmp_path; anchors are checked by reading the source back.
"""

from __future__ import annotations

import codecs
import itertools
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from indexer.errors import ParseError
from indexer.ingest.parsing import SUPPORTED_EXTENSIONS, is_supported, parse_file
from indexer.ingest.parsing.sections import MAX_SECTION_CHARS, MAX_SECTION_LINES, SECTION_SEPARATOR
from indexer.records import ParsedDocument


def write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return path


def assert_source_slices(doc: ParsedDocument, source: str) -> None:
    """Line-anchored formats: each section is the exact slice its char/line anchors name."""
    lines = source.split("\n")
    for s in doc.sections:
        assert source[s.char_start : s.char_start + len(s.text)] == s.text
        assert s.line_start is not None and s.line_end is not None
        assert 1 <= s.line_start <= s.line_end <= len(lines)
        span = "\n".join(lines[s.line_start - 1 : s.line_end])
        assert s.text in span
        assert s.text.strip()


def assert_extracted_offsets(doc: ParsedDocument) -> None:
    """Extracted formats: char_start is the offset in the separator-joined section texts."""
    joined = SECTION_SEPARATOR.join(s.text for s in doc.sections)
    for s in doc.sections:
        assert joined[s.char_start : s.char_start + len(s.text)] == s.text
        assert s.text.strip()


def reason(excinfo: pytest.ExceptionInfo[ParseError]) -> str:
    return excinfo.value.message


# ------------------------------------------------------------------------- API and registry


def test_supported_extensions_are_lowercase_with_dot() -> None:
    assert SUPPORTED_EXTENSIONS >= {
        ".txt",
        ".md",
        ".html",
        ".pdf",
        ".docx",
        ".pptx",
        ".xlsx",
        ".csv",
        ".tsv",
        ".eml",
        ".epub",
        ".py",
        ".json",
        ".yaml",
    }
    assert all(e.startswith(".") and e == e.lower() for e in SUPPORTED_EXTENSIONS)
    # The long tail (issue 16): tests/indexer/test_parsing_longtail.py.
    assert SUPPORTED_EXTENSIONS >= {
        ".msg", ".rtf", ".odt", ".ods", ".odp", ".rst", ".org", ".xml", ".doc", ".xls", ".ppt"
    }  # fmt: skip


def test_is_supported_ignores_case_and_accepts_str() -> None:
    assert is_supported(Path("Report.PDF"))
    assert is_supported("notes.Md")
    assert not is_supported("archive.tar.gz")
    assert not is_supported("Makefile")


def test_importing_the_seam_does_not_import_heavy_libraries() -> None:
    code = (
        "import sys, indexer.ingest.parsing\n"
        "heavy = {'pypdfium2', 'docx', 'pptx', 'openpyxl', 'bs4', 'lxml', 'unstructured',"
        " 'markdown_it', 'charset_normalizer', 'oxmsg', 'olefile', 'striprtf', 'odf'}\n"
        "print(sorted(heavy & set(sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# ------------------------------------------------------------------------- error contract


def test_unsupported_extension(tmp_path: Path) -> None:
    path = write(tmp_path, "movie.mkv", b"\x1a\x45\xdf\xa3")
    with pytest.raises(ParseError) as exc:
        parse_file(path)
    assert "unsupported file type '.mkv'" in reason(exc)
    assert exc.value.hint


def test_empty_file(tmp_path: Path) -> None:
    with pytest.raises(ParseError) as exc:
        parse_file(write(tmp_path, "empty.txt", b""))
    assert reason(exc) == "file is empty"


@pytest.mark.parametrize("name", ["blank.txt", "blank.md", "blank.html", "blank.csv"])
def test_whitespace_only_file_is_an_error_not_an_empty_document(tmp_path: Path, name: str) -> None:
    with pytest.raises(ParseError) as exc:
        parse_file(write(tmp_path, name, " \n\t\n   \r\n\n"))
    assert "whitespace" in reason(exc) or "no text" in reason(exc)


def test_vanished_file(tmp_path: Path) -> None:
    with pytest.raises(ParseError) as exc:
        parse_file(tmp_path / "gone.txt")
    assert reason(exc) == "file disappeared"


def test_permission_denied(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The suite may run as root, where chmod 000 does not stop reads: simulate the OS refusal.
    path = write(tmp_path, "secret.txt", "top secret")

    def refuse(self: Path, *args: object, **kwargs: object) -> object:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "open", refuse)
    with pytest.raises(ParseError) as exc:
        parse_file(path)
    assert reason(exc) == "permission denied"


def test_permission_lost_while_parsing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, "secret.md", "# Title\n\nbody")

    def refuse(self: Path) -> bytes:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "read_bytes", refuse)
    with pytest.raises(ParseError) as exc:
        parse_file(path)
    assert reason(exc) == "permission denied"


def test_directory_with_supported_extension(tmp_path: Path) -> None:
    (tmp_path / "folder.txt").mkdir()
    with pytest.raises(ParseError) as exc:
        parse_file(tmp_path / "folder.txt")
    assert "directory" in reason(exc)


def test_library_failure_becomes_parse_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import indexer.ingest.parsing.text as text_module

    def boom(path: Path) -> ParsedDocument:
        raise RuntimeError("library exploded")

    monkeypatch.setattr(text_module, "parse_text", boom)
    with pytest.raises(ParseError) as exc:
        parse_file(write(tmp_path, "a.txt", "hello"))
    assert "library exploded" in reason(exc)
    assert isinstance(exc.value.__cause__, RuntimeError)


# ------------------------------------------------------------------------- text and code


def test_text_sections_follow_paragraphs_and_are_bounded(tmp_path: Path) -> None:
    paragraphs = [
        "\n".join(f"paragraph {p} line {n}" for n in range(1, 2 + (p * 7) % 30)) for p in range(40)
    ]
    source = "\n\n".join(paragraphs) + "\n"
    doc = parse_file(write(tmp_path, "notes.txt", source))
    assert doc.parser == "text"
    assert len(doc.sections) > 1
    assert_source_slices(doc, source)
    for s in doc.sections:
        assert s.kind == "text"
        assert s.line_end - s.line_start + 1 <= MAX_SECTION_LINES
        # Sections start and end on paragraph boundaries here (no paragraph exceeds the cap).
        assert not s.text.startswith("\n") and not s.text.endswith("\n")
    covered = "".join(s.text for s in doc.sections).replace("\n", "")
    assert covered == source.replace("\n", "")


def test_code_file_has_kind_code_and_exact_lines(tmp_path: Path) -> None:
    body = "\n".join(f"def f{n}(x):\n    return x + {n}\n" for n in range(100))
    source = "#!/usr/bin/env python\r\n" + body.replace("\n", "\r\n")
    doc = parse_file(write(tmp_path, "mod.py", source))
    normalised = source.replace("\r\n", "\n")
    assert doc.parser == "code"
    assert {s.kind for s in doc.sections} == {"code"}
    assert_source_slices(doc, normalised)
    lines = normalised.split("\n")
    target = next(s for s in doc.sections if "def f50(" in s.text)
    line_no = next(i for i, line in enumerate(lines, 1) if line.startswith("def f50("))
    assert target.line_start <= line_no <= target.line_end


def test_paragraph_longer_than_a_section_is_cut_into_line_windows(tmp_path: Path) -> None:
    lines = [f"row {n}" for n in range(1, 151)]
    lines[100] = "x" * (MAX_SECTION_CHARS * 2)  # one over-long line among short ones
    source = "\n".join(lines)
    doc = parse_file(write(tmp_path, "dense.txt", source))
    assert_source_slices(doc, source)
    assert all(s.line_end - s.line_start + 1 <= MAX_SECTION_LINES for s in doc.sections)
    assert all(len(s.text) <= MAX_SECTION_CHARS for s in doc.sections)
    # Every line is covered, in order, with no gaps or overlaps between line windows.
    spans = sorted({(s.line_start, s.line_end) for s in doc.sections})
    assert spans[0][0] == 1 and spans[-1][1] == 150
    assert all(b[0] == a[1] + 1 for a, b in itertools.pairwise(spans))
    assert [s for s in doc.sections if s.line_start == s.line_end == 101]


def test_one_megabyte_single_line(tmp_path: Path) -> None:
    source = ("word " * 210_000)[:1_048_576]
    doc = parse_file(write(tmp_path, "huge.log", source))
    assert len(doc.sections) >= 1_048_576 // MAX_SECTION_CHARS
    assert all(len(s.text) <= MAX_SECTION_CHARS for s in doc.sections)
    assert all(s.line_start == s.line_end == 1 for s in doc.sections)
    assert_source_slices(doc, source)
    assert sum(len(s.text) for s in doc.sections) >= len(source.strip()) - len(doc.sections)


def test_utf16_without_bom(tmp_path: Path) -> None:
    text = "Grüße aus Köln. This file was saved as UTF-16 little endian without a BOM.\n" * 5
    doc = parse_file(write(tmp_path, "u16.txt", text.encode("utf-16-le")))
    assert "Grüße aus Köln" in doc.sections[0].text
    assert "\x00" not in doc.sections[0].text


def test_utf16_with_bom_and_utf8_bom(tmp_path: Path) -> None:
    doc = parse_file(write(tmp_path, "bom16.txt", "café crème".encode("utf-16")))
    assert doc.sections[0].text == "café crème"
    doc = parse_file(write(tmp_path, "bom8.md", codecs.BOM_UTF8 + "# Café\n\nbody".encode()))
    assert doc.sections[0].heading_path == ("Café",)


def test_latin1_text(tmp_path: Path) -> None:
    text = (
        "Le café était très agréable, et la crème brûlée aussi. "
        "Noël à la campagne, où l'on mange des crêpes.\n"
    ) * 3
    doc = parse_file(write(tmp_path, "fr.txt", text.encode("latin-1")))
    assert "café était très agréable" in doc.sections[0].text


def test_invalid_utf8_bytes_are_replaced_with_a_warning(tmp_path: Path) -> None:
    data = ("Mostly fine UTF-8 text — naïve café\n" * 20).encode() + b"bro\xffken \xc3( tail\n"
    doc = parse_file(write(tmp_path, "damaged.txt", data))
    text = "\n".join(s.text for s in doc.sections)
    assert "naïve café" in text and "tail" in text
    assert any("invalid UTF-8" in w for w in doc.warnings)


@pytest.mark.parametrize("name", ["data.txt", "data.py", "data.md", "data.csv", "page.html"])
def test_binary_behind_text_extension(tmp_path: Path, name: str) -> None:
    data = bytes(range(256)) * 64  # every byte value, including NULs and control characters
    with pytest.raises(ParseError) as exc:
        parse_file(write(tmp_path, name, data))
    assert reason(exc) == "looks like binary data, not text"


def test_valid_utf8_full_of_control_characters_is_binary(tmp_path: Path) -> None:
    with pytest.raises(ParseError) as exc:
        parse_file(write(tmp_path, "dump.log", b"\x01\x02\x03\x04abc\x05\x06" * 500))
    assert reason(exc) == "looks like binary data, not text"


def test_ascii_utf16_without_bom(tmp_path: Path) -> None:
    # Valid UTF-8 byte-wise (NULs are legal), so only the binary check routes it to detection.
    text = "plain ascii words saved as utf-16 big endian\nsecond line\n" * 20
    doc = parse_file(write(tmp_path, "be.txt", text.encode("utf-16-be")))
    assert doc.sections[0].text.startswith("plain ascii words saved as utf-16 big endian\n")
    assert doc.sections[0].line_start == 1 and doc.sections[-1].line_end == 40


def test_text_with_a_few_nuls_is_cleaned(tmp_path: Path) -> None:
    doc = parse_file(write(tmp_path, "nul.txt", "hello\x00 world " * 2 + "and more " * 100))
    assert "\x00" not in doc.sections[0].text
    assert doc.sections[0].text.startswith("hello world")


# ------------------------------------------------------------------------- Markdown

MARKDOWN = """\
---
title: Front matter title
tags: [a, b]
---
Intro paragraph before any heading.

# Guide

Top level text.

## Install

Run the installer.

```python
def hello():

    return "world"
```

### Linux

Use the package manager.

| col a | col b |
|-------|-------|
| 1     | 2     |

## Usage

- item one
- item two

# Appendix

Last words.
"""


def test_markdown_headings_lines_and_code_fences(tmp_path: Path) -> None:
    doc = parse_file(write(tmp_path, "guide.md", MARKDOWN))
    assert doc.parser == "markdown"
    assert doc.title == "Front matter title"
    assert_source_slices(doc, MARKDOWN)
    by_text = {s.text.splitlines()[0]: s for s in doc.sections}
    assert "title: Front matter title" not in by_text
    assert by_text["Intro paragraph before any heading."].heading_path == ()
    assert by_text["Top level text."].heading_path == ("Guide",)
    assert by_text["Run the installer."].heading_path == ("Guide", "Install")
    fence = by_text["```python"]
    assert fence.kind == "code" and fence.heading_path == ("Guide", "Install")
    assert fence.text.endswith("```") and 'return "world"' in fence.text  # kept whole
    assert by_text["Use the package manager."].heading_path == ("Guide", "Install", "Linux")
    table = by_text["| col a | col b |"]
    assert table.kind == "table"
    assert by_text["- item one"].heading_path == ("Guide", "Usage")
    assert by_text["Last words."].heading_path == ("Appendix",)
    lines = MARKDOWN.split("\n")
    for s in doc.sections:
        assert lines[s.line_start - 1] == s.text.splitlines()[0]
        assert lines[s.line_end - 1] == s.text.splitlines()[-1]
    assert not any(s.text.startswith("#") for s in doc.sections)
    # Sections appear in document order and no source line is indexed twice.
    spans = [(s.line_start, s.line_end) for s in doc.sections]
    assert all(a[1] < b[0] for a, b in itertools.pairwise(spans))


def test_markdown_of_only_headings_is_still_indexed(tmp_path: Path) -> None:
    doc = parse_file(write(tmp_path, "toc.md", "# One\n\n## Two\n"))
    assert [s.text for s in doc.sections] == ["# One", "## Two"]
    assert doc.sections[1].heading_path == ("One",)
    assert {s.kind for s in doc.sections} == {"title"}


def test_markdown_heading_markup_is_reduced_to_its_text(tmp_path: Path) -> None:
    # Only headings get inline parsing (paragraphs are sliced from the source by line, so the
    # parser skips theirs); escapes, entities, code spans and reference links must still read
    # as text, exactly as with full inline parsing (a changed heading would change chunk hashes).
    text = (
        "# The `print()` *function*\n\nBody **text** [x][ref].\n\n"
        "## Escaped \\*stars\\* &amp; [a link][ref] <span>tag</span>\n\nMore.\n\n"
        "[ref]: https://example.org\n"
    )
    doc = parse_file(write(tmp_path, "inline.md", text))
    assert doc.title == "The print() function"
    assert [s.heading_path for s in doc.sections] == [
        ("The print() function",),
        ("The print() function", "Escaped *stars* & a link tag"),
    ]
    assert doc.sections[0].text == "Body **text** [x][ref]."  # paragraphs stay source slices


# ------------------------------------------------------------------------- HTML

HTML = """<!DOCTYPE html>
<html><head><meta charset="windows-1252"><title>Field Notes</title>
<style>body { color: red }</style><script>var secret = "do not index";</script></head>
<body>
<nav><a href="/">Home</a> | <a href="/about">About navigation</a></nav>
<p>Opening words.</p>
<h1>Birds</h1>
<p>Robins sing   at
dawn.</p>
<h2>Caf\xe9 <em>visits</em></h2>
<ul><li>first sighting</li><li>second sighting</li></ul>
<table><tr><th>Bird</th><th>Count</th></tr><tr><td>Robin</td><td>3</td></tr></table>
<pre>  indented
    code</pre>
<h2>Mammals</h2><div>Foxes at night.</div>
<footer>Copyright footer text</footer>
<script>console.log("late script")</script>
</body></html>
"""


def test_html_headings_title_and_dropped_chrome(tmp_path: Path) -> None:
    doc = parse_file(write(tmp_path, "notes.html", HTML.encode("cp1252")))
    assert doc.parser == "html" and doc.title == "Field Notes"
    assert_extracted_offsets(doc)
    text = "\n".join(s.text for s in doc.sections)
    for absent in ("do not index", "late script", "navigation", "Copyright", "color: red"):
        assert absent not in text
    sections = {s.text.splitlines()[0]: s for s in doc.sections}
    assert sections["Opening words."].heading_path == ()
    assert sections["Robins sing at dawn."].heading_path == ("Birds",)
    listing = sections["first sighting"]
    assert listing.heading_path == ("Birds", "Café visits")
    assert "second sighting" in listing.text and "Bird | Count\nRobin | 3" in listing.text
    code = sections["  indented"]
    assert code.kind == "code" and code.text == "  indented\n    code"
    assert sections["Foxes at night."].heading_path == ("Birds", "Mammals")


def test_html_meta_charset_wins_over_guessing_and_bogus_utf16_label_is_ignored(
    tmp_path: Path,
) -> None:
    # 0xA4 is "€" in ISO-8859-15 but "¤" in the cp1252/Latin-1 a detector would guess.
    page = '<meta charset="iso-8859-15"><p>Prix: 5 € net</p>'.encode("iso-8859-15")
    assert parse_file(write(tmp_path, "fr.html", page)).sections[0].text == "Prix: 5 € net"
    page = b'<meta http-equiv="Content-Type" content="text/html; charset=utf-16"><p>plain</p>'
    assert parse_file(write(tmp_path, "lying.html", page)).sections[0].text == "plain"


def test_html_without_tags_is_text(tmp_path: Path) -> None:
    doc = parse_file(write(tmp_path, "bare.htm", "just a file name.html"))
    assert doc.sections[0].text == "just a file name.html"


def test_xhtml_with_xml_declaration(tmp_path: Path) -> None:
    page = (
        '<?xml version="1.0" encoding="utf-8"?>\n<html xmlns="http://www.w3.org/1999/xhtml">'
        "<body><h1>T</h1><p>x &amp; y</p></body></html>"
    )
    doc = parse_file(write(tmp_path, "page.xhtml", page))
    assert doc.sections[0].text == "x & y" and doc.sections[0].heading_path == ("T",)


def test_html_with_only_scripts_has_no_text(tmp_path: Path) -> None:
    with pytest.raises(ParseError) as exc:
        parse_file(write(tmp_path, "app.html", "<html><script>x()</script><nav>menu</nav></html>"))
    assert "no text" in reason(exc)


# ------------------------------------------------------------------------- CSV / TSV


def test_csv_sections_repeat_the_header_and_track_lines(tmp_path: Path) -> None:
    rows = ["id;name;note"] + [
        f'{i};name {i};"multi\nline {i}"' if i == 7 else f"{i};name {i};n" for i in range(1, 121)
    ]
    source = "\n".join(rows) + "\n"
    doc = parse_file(write(tmp_path, "people.csv", source))
    assert doc.parser == "csv"
    from indexer.ingest.parsing.text import TABLE_SECTION_CHARS

    # Sections close at 50 rows or TABLE_SECTION_CHARS (to fit one chunk): here the characters.
    assert len(doc.sections) > 3
    assert all(len(s.text) < TABLE_SECTION_CHARS + 40 for s in doc.sections)
    assert_extracted_offsets(doc)
    lines = source.split("\n")
    for s in doc.sections:
        assert s.kind == "table"
        assert s.text.splitlines()[0] == "id | name | note"
        first_row = s.text.splitlines()[1].split(" | ")[0]
        assert lines[s.line_start - 1].startswith(first_row + ";")
    assert "7 | name 7 | multi line 7" in doc.sections[0].text
    assert doc.sections[0].line_start == 2
    for prev, nxt in zip(doc.sections, doc.sections[1:]):  # contiguous, no row lost
        assert nxt.line_start == prev.line_end + 1
    assert doc.sections[-1].line_end == 122  # row 7 spans two source lines


def test_tsv(tmp_path: Path) -> None:
    doc = parse_file(write(tmp_path, "t.tsv", "a\tb\n1\t2\n"))
    assert doc.sections[0].text == "a | b\n1 | 2"


# ------------------------------------------------------------------------- e-mail

EML = """From: Ada Lovelace <ada@example.org>
To: Charles Babbage <charles@example.org>
Subject: =?utf-8?q?Notes_on_the_Analytical_Engine_=E2=9C=93?=
Date: Mon, 1 Jan 2024 10:00:00 +0000
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="XX"

--XX
Content-Type: multipart/alternative; boundary="YY"

--YY
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: quoted-printable

The engine weaves algebraic patterns =E2=80=94 just as the loom weaves flowers.

--YY
Content-Type: text/html; charset=utf-8

<p>HTML version</p>
--YY--
--XX
Content-Type: application/pdf
Content-Disposition: attachment; filename="plans.pdf"
Content-Transfer-Encoding: base64

JVBERi0xLjQK
--XX--
"""


def test_eml_headers_plain_body_and_attachment_warning(tmp_path: Path) -> None:
    doc = parse_file(write(tmp_path, "mail.eml", EML))
    subject = "Notes on the Analytical Engine ✓"
    assert doc.parser == "eml" and doc.title == subject
    assert all(s.heading_path == (subject,) for s in doc.sections)
    assert "From: Ada Lovelace <ada@example.org>" in doc.sections[0].text
    assert "Date: Mon, 01 Jan 2024 10:00:00 +0000" in doc.sections[0].text
    body = doc.sections[1].text
    assert body == "The engine weaves algebraic patterns — just as the loom weaves flowers."
    assert "HTML version" not in "\n".join(s.text for s in doc.sections)
    assert any("plans.pdf" in w for w in doc.warnings)
    assert_extracted_offsets(doc)


def test_eml_html_only_body(tmp_path: Path) -> None:
    mail = (
        "Subject: Hi\nContent-Type: text/html; charset=utf-8\n\n"
        "<h1>Agenda</h1><p>Item one</p><script>bad()</script>"
    )
    doc = parse_file(write(tmp_path, "h.eml", mail))
    body = doc.sections[-1]
    assert body.text == "Item one" and body.heading_path == ("Hi", "Agenda")


# ------------------------------------------------------------------------- EPUB


def make_epub(path: Path, *, encrypt_chapter: bool = False) -> Path:
    container = """<?xml version="1.0"?>
<container version="1.0" xmlns="urn:oasis:names:tc:opendocument:xmlns:container">
  <rootfiles><rootfile full-path="OEBPS/content.opf"
    media-type="application/oebps-package+xml"/></rootfiles></container>"""
    opf = """<?xml version="1.0" encoding="utf-8"?>
<package xmlns="http://www.idpf.org/2007/opf" version="3.0" unique-identifier="id">
  <metadata xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>A Small Book</dc:title>
  </metadata>
  <manifest>
    <item id="c2" href="text/chapter%202.xhtml" media-type="application/xhtml+xml"/>
    <item id="c1" href="text/chapter1.xhtml" media-type="application/xhtml+xml"/>
    <item id="css" href="style.css" media-type="text/css"/>
  </manifest>
  <spine><itemref idref="c1"/><itemref idref="c2"/></spine>
</package>"""
    chapter = """<?xml version="1.0" encoding="utf-8"?>
<html xmlns="http://www.w3.org/1999/xhtml"><head><title>{title}</title></head>
<body>{body}</body></html>"""
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("mimetype", "application/epub+zip", compress_type=zipfile.ZIP_STORED)
        zf.writestr("META-INF/container.xml", container)
        zf.writestr("OEBPS/content.opf", opf)
        zf.writestr("OEBPS/style.css", "p { margin: 0 }")
        zf.writestr(
            "OEBPS/text/chapter1.xhtml",
            chapter.format(
                title="Chapter One",
                body="<h1>The Beginning</h1><p>It was a dark night.</p><h2>Rain</h2><p>It rained.</p>",
            ),
        )
        zf.writestr(
            "OEBPS/text/chapter 2.xhtml",
            chapter.format(title="Chapter Two", body="<p>No heading here, only prose.</p>"),
        )
        if encrypt_chapter:
            zf.writestr(
                "META-INF/encryption.xml",
                """<?xml version="1.0"?>
<encryption xmlns="urn:oasis:names:tc:opendocument:xmlns:container"
  xmlns:enc="http://www.w3.org/2001/04/xmlenc#"><enc:EncryptedData>
  <enc:CipherData><enc:CipherReference URI="OEBPS/text/chapter1.xhtml"/></enc:CipherData>
  </enc:EncryptedData></encryption>""",
            )
    return path


def test_epub_spine_order_and_chapter_headings(tmp_path: Path) -> None:
    doc = parse_file(make_epub(tmp_path / "book.epub"))
    assert doc.parser == "epub" and doc.title == "A Small Book"
    assert [(s.heading_path, s.text) for s in doc.sections] == [
        (("The Beginning",), "It was a dark night."),
        (("The Beginning", "Rain"), "It rained."),
        (("Chapter Two",), "No heading here, only prose."),
    ]
    assert_extracted_offsets(doc)


def test_drm_epub_is_reported_as_encrypted(tmp_path: Path) -> None:
    with pytest.raises(ParseError) as exc:
        parse_file(make_epub(tmp_path / "drm.epub", encrypt_chapter=True))
    assert reason(exc).startswith("encrypted: Cairn cannot read password-protected files")


def test_epub_without_container_is_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "broken.epub"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("mimetype", "application/epub+zip")
    with pytest.raises(ParseError) as exc:
        parse_file(path)
    assert "container.xml" in reason(exc)
