"""Parse speed and import cost of the long-tail format parsers, against the alternatives.

Prints one JSON object (docs/formats_bench.json keeps a run). Each format gets a generated file
of realistic size (the dev-only writers odfpy and msgforge; RTF/RST/Org/XML/TSV written as
text), parsed with `parse_file` (best of `--repeat`): seconds, MB/s of file bytes, and
pages/slides/rows per second where the format has them. Alternatives are measured on the same
files when they are importable in the running environment: unstructured's partitioners (with
its analytics switched off), odfpy's reader, extract-msg and docutils (these last two are not
Cairn dependencies; run the script in a scratch venv that has them). Import time is measured
in a fresh interpreter per library (`-X importtime`, cumulative µs of the top-level import).

    uv run python bench/bench_formats.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from indexer.ingest.parsing import parse_file

QUIET_ENV = {"DO_NOT_TRACK": "1", "SCARF_NO_ANALYTICS": "true", "UNSTRUCTURED_DISABLE_NOTICE": "1"}


def make_files(folder: Path) -> dict[str, tuple[Path, str, int]]:
    """name → (path, unit, units) for each generated file."""
    from msgforge import Message
    from odf.draw import Frame, Page, TextBox
    from odf.opendocument import (
        OpenDocumentPresentation,
        OpenDocumentSpreadsheet,
        OpenDocumentText,
    )
    from odf.style import MasterPage, PageLayout
    from odf.table import Table, TableCell, TableRow
    from odf.text import H, P, SoftPageBreak

    sentence = "The kestrel survey counted {n} nests on the north ridge in spring."
    files: dict[str, tuple[Path, str, int]] = {}

    odt = OpenDocumentText()
    for chapter in range(50):
        odt.text.addElement(H(outlinelevel=1, text=f"Chapter {chapter}"))
        for n in range(40):
            odt.text.addElement(P(text=sentence.format(n=n)))
        odt.text.addElement(SoftPageBreak())
    odt.save(str(folder / "big.odt"))
    files["odt"] = (folder / "big.odt", "pages", 50)

    ods = OpenDocumentSpreadsheet()
    sheet = Table(name="Data")
    for r in range(5000):
        row = TableRow()
        for c in range(6):
            cell = TableCell(valuetype="string")
            cell.addElement(P(text=f"r{r}c{c}"))
            row.addElement(cell)
        sheet.addElement(row)
    ods.spreadsheet.addElement(sheet)
    ods.save(str(folder / "big.ods"))
    files["ods"] = (folder / "big.ods", "rows", 5000)

    odp = OpenDocumentPresentation()
    layout = PageLayout(name="L")
    odp.automaticstyles.addElement(layout)
    master = MasterPage(name="M", pagelayoutname=layout)
    odp.masterstyles.addElement(master)
    for s in range(100):
        page = Page(name=f"S{s}", masterpagename=master)
        for n in range(5):
            frame = Frame(width="20cm", height="3cm", x="1cm", y="1cm")
            box = TextBox()
            box.addElement(P(text=sentence.format(n=n)))
            frame.addElement(box)
            page.addElement(frame)
        odp.presentation.addElement(page)
    odp.save(str(folder / "big.odp"))
    files["odp"] = (folder / "big.odp", "slides", 100)

    body = "\n\n".join(sentence.format(n=n) for n in range(400))
    Message(subject="Survey", text_body=body, to=["a@example.com"], sender="b@example.com").save(
        str(folder / "big.msg")
    )
    files["msg"] = (folder / "big.msg", "messages", 1)

    rtf = [r"{\rtf1\ansi\deff0{\fonttbl{\f0 Times;}}{\stylesheet{\s1 heading 1;}}"]
    for chapter in range(50):
        rtf.append(rf"\pard\plain\s1\outlinelevel0 Chapter {chapter}\par")
        rtf.extend(rf"\pard\plain {sentence.format(n=n)}\par" for n in range(40))
        rtf.append(r"\page")
    (folder / "big.rtf").write_text("\n".join(rtf) + "}")
    files["rtf"] = (folder / "big.rtf", "pages", 50)

    rst = []
    for chapter in range(500):
        title = f"Chapter {chapter}"
        rst += [title, "=" * len(title), ""] + [sentence.format(n=n) + "\n" for n in range(8)]
    (folder / "big.rst").write_text("\n".join(rst))
    files["rst"] = (folder / "big.rst", "sections", 500)

    org = []
    for chapter in range(500):
        org += [f"* TODO Chapter {chapter} :tag:"] + [sentence.format(n=n) for n in range(8)]
    (folder / "big.org").write_text("\n".join(org))
    files["org"] = (folder / "big.org", "sections", 500)

    records = "\n".join(
        f'  <nest id="n{n}">\n    <ridge>north</ridge>\n    <count>{n}</count>\n'
        f"    <note>{sentence.format(n=n)}</note>\n    <a/>\n    <b/>\n    <c/>\n  </nest>"
        for n in range(5000)
    )
    (folder / "big.xml").write_text(f'<?xml version="1.0"?>\n<survey>\n{records}\n</survey>\n')
    files["xml"] = (folder / "big.xml", "records", 5000)

    tsv = ["site\tridge\tnests\tnote"] + [
        f"s{n}\tnorth\t{n}\t{sentence.format(n=n)}" for n in range(20000)
    ]
    (folder / "big.tsv").write_text("\n".join(tsv) + "\n")
    files["tsv"] = (folder / "big.tsv", "rows", 20000)
    _main_formats(folder, files, sentence)
    _legacy_doc(folder, files, sentence)
    return files


def _main_formats(folder: Path, files: dict[str, tuple[Path, str, int]], sentence: str) -> None:
    """The formats Cairn read before issue 16, measured the same way for docs/formats.md."""
    import docx
    from openpyxl import Workbook
    from pptx import Presentation
    from reportlab.pdfgen import canvas

    pdf = canvas.Canvas(str(folder / "big.pdf"))
    for page in range(50):
        for n in range(40):
            pdf.drawString(72, 760 - 17 * n, sentence.format(n=n + page))
        pdf.showPage()
    pdf.save()
    files["pdf"] = (folder / "big.pdf", "pages", 50)
    document = docx.Document()
    for chapter in range(50):
        document.add_heading(f"Chapter {chapter}", level=1)
        for n in range(40):
            document.add_paragraph(sentence.format(n=n))
    document.save(str(folder / "big.docx"))
    files["docx"] = (folder / "big.docx", "headings", 50)
    deck = Presentation()
    for s in range(100):
        slide = deck.slides.add_slide(deck.slide_layouts[1])
        slide.shapes.title.text = f"Slide {s}"
        slide.placeholders[1].text_frame.text = sentence.format(n=s)
    deck.save(str(folder / "big.pptx"))
    files["pptx"] = (folder / "big.pptx", "slides", 100)
    workbook = Workbook()
    for r in range(5000):
        workbook.active.append([f"r{r}c{c}" for c in range(6)])
    workbook.save(str(folder / "big.xlsx"))
    files["xlsx"] = (folder / "big.xlsx", "rows", 5000)
    markdown = []
    for chapter in range(500):
        markdown += [f"# Chapter {chapter}", ""] + [sentence.format(n=n) + "\n" for n in range(8)]
    (folder / "big.md").write_text("\n".join(markdown))
    files["md"] = (folder / "big.md", "sections", 500)
    html = "".join(
        f"<h2>Chapter {c}</h2>" + "".join(f"<p>{sentence.format(n=n)}</p>" for n in range(8))
        for c in range(500)
    )
    (folder / "big.html").write_text(f"<html><body>{html}</body></html>")
    files["html"] = (folder / "big.html", "sections", 500)
    body = "\n\n".join(sentence.format(n=n) for n in range(400))
    (folder / "big.eml").write_text(
        f"From: a@example.org\nTo: b@example.org\nSubject: Survey\n\n{body}\n"
    )
    files["eml"] = (folder / "big.eml", "messages", 1)


def _legacy_doc(folder: Path, files: dict[str, tuple[Path, str, int]], sentence: str) -> None:
    """A .doc saved by LibreOffice itself (only where it is installed)."""
    import docx

    from indexer.ingest.parsing.legacy import find_soffice

    soffice = find_soffice()
    if soffice is None:
        return
    document = docx.Document()
    for chapter in range(10):
        document.add_heading(f"Chapter {chapter}", level=1)
        for n in range(30):
            document.add_paragraph(sentence.format(n=n))
    document.save(str(folder / "legacy.docx"))
    subprocess.run(
        [soffice, f"-env:UserInstallation={(folder / 'profile').as_uri()}", "--headless",
         "--convert-to", "doc", "--outdir", str(folder), str(folder / "legacy.docx")],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    files["doc"] = (folder / "legacy.doc", "files", 1)


def best_time(function: Callable[[], Any], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - start)
    return best


def figures(seconds: float, path: Path, unit: str, units: int) -> dict[str, Any]:
    size = path.stat().st_size
    return {
        "seconds": round(seconds, 4),
        "mb_per_s": round(size / seconds / 1e6, 2),
        f"{unit}_per_s": round(units / seconds, 1),
    }


def alternatives(files: dict[str, tuple[Path, str, int]]) -> dict[str, Callable[[], Any]]:
    """Other readers of the same files, where importable here."""
    alt: dict[str, Callable[[], Any]] = {}
    try:
        from odf import teletype
        from odf.opendocument import load

        for ext in ("odt", "ods", "odp"):
            path = files[ext][0]
            alt[f"{ext}: odfpy"] = lambda p=path: [
                teletype.extractText(e) for e in load(str(p)).body.childNodes
            ]
    except ImportError:
        pass
    try:
        import extract_msg

        alt["msg: extract-msg"] = lambda: extract_msg.openMsg(str(files["msg"][0])).body
    except ImportError:
        pass
    try:
        import docutils.core

        text = files["rst"][0].read_text()
        alt["rst: docutils doctree"] = lambda: docutils.core.publish_doctree(
            text, settings_overrides={"report_level": 5}
        )
    except ImportError:
        pass
    os.environ.update(QUIET_ENV)
    for ext, module, function in (
        ("msg", "unstructured.partition.msg", "partition_msg"),
        ("xml", "unstructured.partition.xml", "partition_xml"),
        ("tsv", "unstructured.partition.tsv", "partition_tsv"),
        ("rtf", "unstructured.partition.rtf", "partition_rtf"),
        ("odt", "unstructured.partition.odt", "partition_odt"),
        ("rst", "unstructured.partition.rst", "partition_rst"),
        ("org", "unstructured.partition.org", "partition_org"),
    ):
        try:
            partition = getattr(__import__(module, fromlist=[function]), function)
        except Exception as exc:  # noqa: BLE001 - report why an alternative is unavailable
            alt[f"{ext}: unstructured {function}"] = _unavailable(exc)
            continue
        alt[f"{ext}: unstructured {function}"] = lambda f=partition, p=files[ext][0]: f(
            filename=str(p)
        )
    return alt


def _unavailable(exc: Exception) -> Callable[[], Any]:
    def fail() -> Any:
        raise exc

    return fail


def import_us(module: str) -> int | str:
    """Cumulative import time (µs) of `module` in a fresh interpreter, or why it failed."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {module}"],
        check=False,
        capture_output=True,
        text=True,
        env={**os.environ, **QUIET_ENV},
        timeout=300,
    )
    if result.returncode != 0:
        return result.stderr.strip().splitlines()[-1][:200]
    last = [ln for ln in result.stderr.splitlines() if re.search(rf"\|\s*{re.escape(module)}$", ln)]
    return int(last[-1].split("|")[1]) if last else "not found in -X importtime output"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    out: dict[str, Any] = {"python": sys.version.split()[0], "cpus": os.cpu_count()}
    with tempfile.TemporaryDirectory() as tmp:
        files = make_files(Path(tmp))
        out["files"] = {
            k: {"bytes": p.stat().st_size, unit: n} for k, (p, unit, n) in files.items()
        }
        out["cairn"] = {}
        for ext, (path, unit, units) in files.items():
            parse_file(path)  # warm: first-use imports are measured separately
            seconds = best_time(lambda p=path: parse_file(p), args.repeat)
            out["cairn"][ext] = figures(seconds, path, unit, units)
        out["alternatives"] = {}
        for name, function in alternatives(files).items():
            ext = name.split(":")[0]
            path, unit, units = files[ext]
            try:
                function()
                seconds = best_time(function, args.repeat)
                out["alternatives"][name] = figures(seconds, path, unit, units)
            except Exception as exc:  # noqa: BLE001
                out["alternatives"][name] = {"error": f"{type(exc).__name__}: {exc}"[:300]}
    out["import_us"] = {
        module: import_us(module)
        for module in (
            "indexer.ingest.parsing",
            "indexer.ingest.parsing.opendocument",
            "indexer.ingest.parsing.outlook",
            "indexer.ingest.parsing.rtf",
            "indexer.ingest.parsing.outline",
            "indexer.ingest.parsing.xmlfile",
            "indexer.ingest.parsing.legacy",
            "oxmsg",
            "striprtf.striprtf",
            "olefile",
            "lxml.etree",
            "odf.opendocument",
            "extract_msg",
            "docutils.core",
            "unstructured.partition.msg",
            "unstructured.partition.xml",
        )
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
