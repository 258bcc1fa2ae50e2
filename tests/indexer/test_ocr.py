"""Local OCR: scanned PDF pages and images are parsed into cited, searchable text.

The OCR engine here is the real one (RapidOCR's PP-OCRv6 models on ONNX Runtime); the scans are
generated (tests/indexer/scans.py), so every expected word is known.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest

from indexer.errors import Cancelled, ParseError
from indexer.events import ProgressUpdated
from indexer.ingest.parsing import SUPPORTED_EXTENSIONS, parse_file
from indexer.ingest.parsing.ocr import OcrLine, lines_to_text, reporting_pages
from indexer.records import Anchor
from tests.indexer.builders import make_docs, make_settings, open_kb
from tests.indexer.scans import (
    PUMP_MANUAL,
    raster_pages,
    scanned_image,
    scanned_pdf,
    scanned_tiff,
    text_pdf,
)


def _words(text: str) -> str:
    return " ".join(re.findall(r"[\w.]+", text.lower()))


def _mixed_pdf(path: Path) -> Path:
    """Page 1 has a text layer; pages 2-3 are scans (image only)."""
    import pypdfium2 as pdfium

    scans = io.BytesIO()
    imgs = raster_pages(text_pdf(PUMP_MANUAL[1:]), dpi=200)
    imgs[0].save(scans, format="PDF", save_all=True, append_images=imgs[1:], resolution=200)
    out = pdfium.PdfDocument(text_pdf(PUMP_MANUAL[:1]))
    out.import_pages(pdfium.PdfDocument(scans.getvalue()))
    out.save(str(path))
    return path


def test_a_scanned_pdf_is_read_page_by_page_with_ocr(tmp_path: Path) -> None:
    doc = parse_file(_mixed_pdf(tmp_path / "manual.pdf"))
    by_page = {s.page: s for s in doc.sections}
    assert sorted(by_page) == [1, 2, 3]
    assert by_page[1].kind == "text"  # the text layer is used where there is one
    assert by_page[2].kind == "ocr" and by_page[3].kind == "ocr"
    assert "every 400 hours of operation" in _words(by_page[2].text)
    assert "torque the flange bolts to 45 nm" in _words(by_page[3].text)
    assert doc.parser == "pdf+ocr" and "2 of 3 pages read by OCR" in doc.warnings[0]


def test_images_and_multi_page_tiffs_are_read(tmp_path: Path) -> None:
    assert {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp"} <= SUPPORTED_EXTENSIONS
    png = parse_file(scanned_image(tmp_path / "note.png", PUMP_MANUAL[1]))
    assert png.sections[0].kind == "ocr" and png.sections[0].page is None
    assert "replace the filter cartridge" in _words(png.sections[0].text)
    tif = parse_file(scanned_tiff(tmp_path / "fax.tif", PUMP_MANUAL))
    frames = {s.page: _words(s.text) for s in tif.sections}
    assert sorted(frames) == [1, 2, 3]  # a frame is cited like a page
    assert "8.5 bar" in frames[1] and "45 nm" in frames[3]


def test_bad_images_fail_alone_with_a_reason(tmp_path: Path) -> None:
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00garbage" * 50)
    with pytest.raises(ParseError, match="not a readable image"):
        parse_file(broken)
    from PIL import Image

    blank = tmp_path / "blank.png"
    Image.new("L", (800, 600), 255).save(blank)
    with pytest.raises(ParseError, match="no text found"):
        parse_file(blank)
    truncated = tmp_path / "cut.jpg"
    scanned_image(tmp_path / "whole.jpg", PUMP_MANUAL[0])
    truncated.write_bytes((tmp_path / "whole.jpg").read_bytes()[:400])
    with pytest.raises(ParseError):
        parse_file(truncated)


def test_the_page_hook_sees_every_scanned_page_and_can_stop_the_file(tmp_path: Path) -> None:
    pdf = scanned_pdf(tmp_path / "scan.pdf")
    seen: list[tuple[int, int]] = []
    with reporting_pages(lambda done, total: seen.append((done, total))):
        parse_file(pdf)
    assert seen == [(0, 3), (1, 3), (2, 3)]

    def stop(done: int, total: int) -> None:
        if done == 1:
            raise Cancelled("closing")

    with reporting_pages(stop), pytest.raises(Cancelled):  # not turned into a parse failure
        parse_file(pdf)


def test_lines_come_out_in_reading_order_with_paragraph_breaks() -> None:
    lines = [
        OcrLine("second column", 0.9, (300, 10, 420, 30)),
        OcrLine("first column", 0.95, (10, 12, 120, 31)),
        OcrLine("speck", 0.2, (500, 500, 505, 505)),  # below the confidence floor
        OcrLine("next paragraph", 0.9, (10, 90, 150, 110)),
    ]
    assert lines_to_text(lines) == "first column  second column\n\nnext paragraph"


def test_ocr_citations_say_so_and_indexing_shows_the_scanned_pages(tmp_path: Path) -> None:
    assert Anchor("/d/scan.pdf", page=2, ocr=True).label() == "scan.pdf p. 2 (OCR)"
    docs = make_docs(tmp_path)
    scanned_pdf(docs / "scan.pdf")
    events: list[object] = []
    kb, _ = open_kb(make_settings(tmp_path / "home", [docs]), on_event=events.append)
    try:
        kb.index(timeout=300)
        assert kb.status().failures == ()
        hits = kb.search("filter cartridge hours", 3)
        top = hits[0]
        assert top.anchor.path.endswith("scan.pdf") and top.anchor.page == 2
        assert top.anchor.ocr and top.anchor.label() == "scan.pdf p. 2 (OCR)"
    finally:
        kb.close()
    stages = {e.stage for e in events if isinstance(e, ProgressUpdated)}
    assert any(s.startswith("reading scanned page ") and s.endswith("/3") for s in stages), stages


def test_files_with_text_are_queued_before_images(tmp_path: Path) -> None:
    from indexer.ingest.file_filter import PathFilter
    from indexer.ingest.parsing import is_supported
    from indexer.ingest.scanner import reconcile

    docs = make_docs(tmp_path)
    for name in ("a-photo.png", "b-notes.md", "c-scan.jpg", "d-readme.txt"):
        (docs / name).write_bytes(b"x")
    plan = reconcile([docs], [], lambda root: PathFilter(supported=is_supported))
    order = [Path(c.path).name for c in plan.changes]
    assert order == ["b-notes.md", "d-readme.txt", "a-photo.png", "c-scan.jpg"]


class _SlowFakeEngine:
    """The OCR seam's fake: one line per page, and a hook run when page `at` is recognised."""

    def __init__(self, at: int, on_page: object) -> None:
        self.times: list[float] = []
        self.at, self.on_page = at, on_page

    def recognize(self, image: object) -> list[OcrLine]:
        import time

        self.times.append(time.monotonic())
        if len(self.times) == self.at:
            self.on_page()  # type: ignore[operator]
        return [OcrLine(f"page text number {len(self.times)}", 0.99, (10, 10, 200, 30))]


@pytest.mark.parametrize("hold", ["pause", "answer"])
def test_ocr_pages_wait_while_paused_and_while_an_answer_is_written(tmp_path: Path,
                                                                    hold: str) -> None:
    """Between two scanned pages the writer holds for *Pause* and lets an answer go first."""
    import threading

    from indexer.ingest.parsing import ocr
    from tests.indexer.builders import pipe_of

    docs = make_docs(tmp_path)
    scanned_pdf(docs / "long-scan.pdf", [[f"Page {n}"] for n in range(1, 6)], dpi=72)
    kb, _ = open_kb(make_settings(tmp_path / "home", [docs]))
    released = threading.Event()

    def hold_then_release() -> None:
        if hold == "pause":
            kb.set_paused(True)
            threading.Timer(1.0, lambda: (released.set(), kb.set_paused(False))).start()
        else:
            held = pipe_of(kb).answering()
            held.__enter__()
            threading.Timer(1.0, lambda: (released.set(), held.__exit__(None, None, None))).start()

    engine = _SlowFakeEngine(at=2, on_page=hold_then_release)
    ocr.set_engine(engine)
    try:
        kb.index(timeout=60)
        assert len(engine.times) == 5 and released.is_set()
        # Page 3 was only read after the hold ended, about a second after page 2.
        assert engine.times[2] - engine.times[1] >= 0.9
        assert kb.status().failures == ()
    finally:
        ocr.set_engine(None)
        kb.close()
