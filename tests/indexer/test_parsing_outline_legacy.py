"""parse_file on the long-tail *text* formats and legacy Office files (issue 16): RST and Org
headings with exact line anchors, XML records anchored to their element, and .doc/.xls/.ppt
through LibreOffice — converted by a stand-in `soffice` here, by the real one when installed,
and failing with "install LibreOffice to index .doc files" when it is not.
"""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import pytest

from indexer.ingest.parsing import parse_file
from tests.indexer.test_parsing_longtail import ENCRYPTED, RTF, assert_source_slices, fails

# ------------------------------------------------------------------------------ RST and Org

RST = """\
==============
 Field Manual
==============

Intro paragraph.

Setup
=====

Install the tools::

    pip install thing
    ====

Linux
-----

Use apt.

Usage
=====

Run it daily.
"""


def test_rst_sections_are_exact_slices_under_their_titles(tmp_path: Path) -> None:
    path = tmp_path / "guide.rst"
    path.write_text(RST)
    doc = parse_file(path)
    assert doc.parser == "rst" and doc.title == "Field Manual"
    got = [(s.line_start, s.line_end, s.heading_path) for s in doc.sections]
    assert got == [
        (5, 5, ("Field Manual",)),
        (10, 13, ("Field Manual", "Setup")),
        (18, 18, ("Field Manual", "Setup", "Linux")),
        (23, 23, ("Field Manual", "Usage")),
    ]
    assert_source_slices(doc, RST)


ORG = """\
#+TITLE: Garden log
Preamble text.
* TODO [#A] Planting                                   :spring:garden:
Plant the kestrel beans.
** Tomatoes
Water daily.
#+BEGIN_SRC python
* not a heading
#+END_SRC
* Harvest
Pick them.
"""


def test_org_headlines_without_keywords_or_tags(tmp_path: Path) -> None:
    path = tmp_path / "garden.org"
    path.write_text(ORG)
    doc = parse_file(path)
    assert doc.parser == "org" and doc.title == "Garden log"
    got = [(s.line_start, s.line_end, s.heading_path) for s in doc.sections]
    assert got == [
        (1, 2, ()),
        (4, 4, ("Planting",)),
        (6, 9, ("Planting", "Tomatoes")),
        (11, 11, ("Harvest",)),
    ]
    assert_source_slices(doc, ORG)


@pytest.mark.parametrize("name", ["only-headings.rst", "only-headings.org"])
def test_outline_of_only_headings_is_still_indexed(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_text("Title\n=====\n" if name.endswith(".rst") else "* Title\n** Sub\n")
    assert "Title" in parse_file(path).sections[0].text


def test_binary_rst_fails(tmp_path: Path) -> None:
    path = tmp_path / "blob.rst"
    path.write_bytes(bytes(range(256)) * 16)
    assert fails(path).message == "looks like binary data, not text"


# ------------------------------------------------------------------------------------ XML

XML = """\
<?xml version="1.0" encoding="UTF-8"?>
<catalog>
  <book id="bk101">
    <author>Gambardella, Matthew</author>
    <title>XML Developer's Guide</title>
    <genre>Computer</genre>
    <price>44.95</price>
    <publish_date>2000-10-01</publish_date>
    <description>An in-depth look at creating applications
      with XML.</description>
  </book>
  <book id="bk102"><title>Short</title></book>
  <book><title>No id</title></book>
</catalog>
"""


def test_xml_records_are_anchored_to_their_element(tmp_path: Path) -> None:
    path = tmp_path / "catalog.xml"
    path.write_text(XML)
    doc = parse_file(path)
    assert doc.parser == "xml"
    got = [(s.line_start, s.line_end, s.heading_path, s.kind) for s in doc.sections]
    assert got == [
        (1, 2, ("catalog",), "code"),
        (3, 11, ("catalog", "book bk101"), "code"),
        (12, 14, ("catalog",), "code"),  # small records are packed under the container
    ]
    assert_source_slices(doc, XML)


def test_xml_entities_are_never_expanded_and_broken_xml_is_still_text(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.xml"
    lol = "".join(f'<!ENTITY lol{n} "{f"&lol{n - 1};" * 10}">' for n in range(1, 10))
    bomb.write_text(
        f'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol0 "lol">{lol}'
        '<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n<lolz>&lol9;&xxe;</lolz>\n'
    )
    doc = parse_file(bomb)
    assert sum(len(s.text) for s in doc.sections) < 2000
    assert "root:" not in " ".join(s.text for s in doc.sections)
    broken = tmp_path / "broken.xml"
    broken.write_text("<a><b>unclosed kestrel</a>\n")
    doc = parse_file(broken)
    assert doc.sections[0].text == "<a><b>unclosed kestrel</a>"
    assert doc.warnings[0].startswith("not well-formed XML")


# ------------------------------------------------------------------------ legacy .doc/.xls/.ppt


def make_ole(path: Path, streams: dict[str, bytes]) -> Path:
    """A real OLE compound file with the given streams (msgforge's CFB writer, dev only)."""
    from msgforge._builder import _OleWriter

    writer = _OleWriter()
    for name, data in streams.items():
        writer.add_stream(writer.root, name, data)
    path.write_bytes(writer.build())
    return path


def word_fib(*, encrypted: bool = False) -> bytes:
    """The first bytes of a Word 97 FIB: wIdent 0xA5EC, nFib 0xC1, flags (bit 8 = fEncrypted)."""
    flags = 0x0100 if encrypted else 0
    return (
        (0xA5EC).to_bytes(2, "little")
        + (0xC1).to_bytes(2, "little")
        + b"\0" * 6
        + (flags.to_bytes(2, "little") + b"\0" * 4096)
    )


def xls_workbook(*, encrypted: bool = False) -> bytes:
    """BIFF8 records: BOF, FILEPASS when encrypted, EOF."""
    bof = (0x0809).to_bytes(2, "little") + (16).to_bytes(2, "little") + b"\0" * 16
    filepass = (0x002F).to_bytes(2, "little") + (6).to_bytes(2, "little") + b"\1\0\1\0\1\0"
    eof = (0x000A).to_bytes(2, "little") + b"\0\0"
    return bof + (filepass if encrypted else b"") + eof + b"\0" * 4096


@pytest.fixture
def no_soffice(monkeypatch: pytest.MonkeyPatch) -> None:
    from indexer.ingest.parsing import legacy

    monkeypatch.setattr(legacy, "find_soffice", lambda: None)


@pytest.mark.usefixtures("no_soffice")
@pytest.mark.parametrize(
    ("name", "streams"),
    [
        ("report.doc", {"WordDocument": word_fib()}),
        ("figures.xls", {"Workbook": xls_workbook()}),
        ("deck.ppt", {"PowerPoint Document": b"\0" * 4096}),
    ],
)
def test_legacy_office_without_libreoffice_says_to_install_it(
    tmp_path: Path, name: str, streams: dict[str, bytes]
) -> None:
    error = fails(make_ole(tmp_path / name, streams))
    ext = Path(name).suffix
    assert (
        error.message == f"LibreOffice is not installed: install LibreOffice to index {ext} files"
    )
    assert "LibreOffice" in (error.hint or "")


@pytest.mark.usefixtures("no_soffice")
@pytest.mark.parametrize(
    ("name", "streams"),
    [
        ("locked.doc", {"WordDocument": word_fib(encrypted=True)}),
        ("locked.xls", {"Workbook": xls_workbook(encrypted=True)}),
        ("locked.ppt", {"PowerPoint Document": b"\0" * 4096, "EncryptedSummary": b"\0" * 64}),
    ],
)
def test_encrypted_legacy_office_is_reported_without_libreoffice(
    tmp_path: Path, name: str, streams: dict[str, bytes]
) -> None:
    assert fails(make_ole(tmp_path / name, streams)).message == ENCRYPTED


@pytest.mark.usefixtures("no_soffice")
def test_legacy_impostors_and_damage(tmp_path: Path) -> None:
    as_rtf = tmp_path / "saved-as-rtf.doc"
    as_rtf.write_text(RTF, encoding="ascii")
    assert parse_file(as_rtf).parser == "rtf"
    import docx

    modern = docx.Document()
    modern.add_paragraph("a docx with an old extension")
    modern.save(str(tmp_path / "modern.doc"))
    assert parse_file(tmp_path / "modern.doc").sections[0].text == "a docx with an old extension"
    damaged = tmp_path / "damaged.doc"
    damaged.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + os.urandom(600))
    assert fails(damaged).message == "corrupt or truncated DOC file: not a valid OLE compound file"
    text = tmp_path / "notes.xls"
    text.write_text("a,b\n1,2\n")
    assert fails(text).message.startswith("not an Office 97–2003 .xls file")


FAKE_SOFFICE = """\
#!{python}
# Stands in for LibreOffice: writes the .docx that `--convert-to docx` would.
import sys, time
from pathlib import Path
args = sys.argv[1:]
mode = {mode!r}
if mode == "hang":
    time.sleep(60)
if mode == "fail":
    print("Error: source file could not be loaded")
    sys.exit(1)
outdir = Path(args[args.index("--outdir") + 1])
source = Path(args[-1])
assert args[args.index("--convert-to") + 1] == "docx" and "--headless" in args
assert any(a.startswith("-env:UserInstallation=file://") for a in args)
import docx
document = docx.Document()
document.add_heading("Converted", level=1)
document.add_paragraph("Text that LibreOffice read from " + source.name)
document.save(str(outdir / (source.stem + ".docx")))
"""


def fake_soffice(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: str) -> None:
    folder = tmp_path / "bin"
    folder.mkdir()
    script = folder / "soffice"
    script.write_text(FAKE_SOFFICE.format(python=sys.executable, mode=mode))
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ.get('PATH', '')}")


def test_doc_conversion_through_soffice(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_soffice(tmp_path, monkeypatch, "ok")
    doc = parse_file(make_ole(tmp_path / "odd 'name'.doc", {"WordDocument": word_fib()}))
    assert doc.parser == "doc (LibreOffice → docx)"
    assert [(s.heading_path, s.text) for s in doc.sections] == [
        (("Converted",), "Text that LibreOffice read from document.doc")
    ]


def test_doc_conversion_failure_and_timeout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from indexer.ingest.parsing import legacy

    fake_soffice(tmp_path, monkeypatch, "fail")
    path = make_ole(tmp_path / "bad.doc", {"WordDocument": word_fib()})
    error = fails(path)
    assert error.message.startswith("LibreOffice could not convert it")
    assert "could not be loaded" in error.message

    (tmp_path / "bin" / "soffice").write_text(
        FAKE_SOFFICE.format(python=sys.executable, mode="hang")
    )
    monkeypatch.setattr(legacy, "CONVERT_TIMEOUT_S", 1)
    assert fails(path).message == "LibreOffice took longer than 1 s to convert it"


def _modern_original(folder: Path, ext: str) -> Path:
    """A .docx/.xlsx/.pptx with known anchors, for LibreOffice to save in the legacy format."""
    if ext in (".doc", ".odt", ".rtf"):
        import docx

        document = docx.Document()
        document.add_heading("Kestrel survey", level=1)
        document.add_paragraph("Nests were counted on the north ridge.")
        document.save(str(folder / "survey.docx"))
        return folder / "survey.docx"
    if ext in (".xls", ".ods"):
        from openpyxl import Workbook

        workbook = Workbook()
        workbook.active.title = "Nests"
        workbook.active.append(["Ridge", "Nests"])
        workbook.active.append(["north ridge", 12])
        workbook.save(str(folder / "survey.xlsx"))
        return folder / "survey.xlsx"
    from pptx import Presentation

    deck = Presentation()
    slide = deck.slides.add_slide(deck.slide_layouts[1])
    slide.shapes.title.text = "Kestrel survey"
    slide.placeholders[1].text_frame.text = "Nests were counted on the north ridge."
    deck.save(str(folder / "survey.pptx"))
    return folder / "survey.pptx"


def _libreoffice_saves(tmp_path: Path, ext: str) -> Path:
    """The modern twin saved by LibreOffice as `ext` (skips when LibreOffice is absent)."""
    import subprocess

    from indexer.ingest.parsing.legacy import find_soffice

    soffice = find_soffice()
    if soffice is None:
        pytest.skip("LibreOffice (soffice) is not installed; the conversion path is covered "
                    "by test_doc_conversion_through_soffice")  # fmt: skip
    original = _modern_original(tmp_path, ext)
    profile = (tmp_path / "profile").as_uri()
    subprocess.run(
        [soffice, f"-env:UserInstallation={profile}", "--headless", "--convert-to", ext[1:],
         "--outdir", str(tmp_path / "out"), str(original)],
        check=True, capture_output=True, timeout=180,
    )  # fmt: skip
    return tmp_path / "out" / f"survey{ext}"


@pytest.mark.parametrize("ext", [".doc", ".xls", ".ppt"])
def test_real_libreoffice_round_trip(tmp_path: Path, ext: str) -> None:
    """With LibreOffice installed: a file LibreOffice saved as .doc/.xls/.ppt reads back with
    the anchors of its modern twin (heading; sheet + rows; slide + title)."""
    doc = parse_file(_libreoffice_saves(tmp_path, ext))
    assert doc.parser.startswith(f"{ext[1:]} (LibreOffice")
    hit = next(s for s in doc.sections if "north ridge" in s.text)
    if ext == ".doc":
        assert hit.heading_path == ("Kestrel survey",)
    elif ext == ".xls":
        assert (hit.page, hit.heading_path, hit.line_start) == (1, ("Nests",), 2)
        assert hit.text.splitlines()[0] == "Ridge | Nests"
    else:
        assert (hit.page, hit.heading_path) == (1, ("Kestrel survey",))


@pytest.mark.parametrize("ext", [".odt", ".ods", ".odp", ".rtf"])
def test_files_written_by_libreoffice_itself(tmp_path: Path, ext: str) -> None:
    """odfpy and hand-written RTF are not the only writers: LibreOffice's own ODF (header rows,
    1024 repeated columns, its styles) and RTF (its stylesheet) keep their anchors."""
    doc = parse_file(_libreoffice_saves(tmp_path, ext))
    hit = next(s for s in doc.sections if "north ridge" in s.text)
    if ext == ".ods":
        assert (hit.page, hit.heading_path, hit.line_start) == (1, ("Nests",), 2)
        assert hit.text.splitlines()[:2] == ["Ridge | Nests", "north ridge | 12"]
    elif ext == ".odp":
        assert (hit.page, hit.heading_path) == (1, ("Kestrel survey",))
    else:
        assert hit.heading_path == ("Kestrel survey",)
        assert doc.title == "Kestrel survey"
