"""PDF text with page numbers through pypdfium2 (PDFium, the engine inside Chrome).

Why pypdfium2: it reads text-layer PDFs at 100–600 pages/s, tolerates most broken files, and
gives page numbers for free (PERFORMANCE.md); unstructured's PDF path is 10–40× slower and its
`[pdf]` extra pulls torch. PDFium is not thread-safe, so every call into it holds `_PDFIUM_LOCK`,
and every document, page and text page is closed deterministically (they own native memory).

Scanned pages — no text layer (or a few stray characters) over an image — are rendered at
`ocr.OCR_DPI` and read by local OCR (`indexer.ingest.parsing.ocr`); their sections are
`kind="ocr"` with the page number kept, so citations read "scan.pdf p. 3 (OCR)". Only the
rendering holds the PDFium lock; recognition (seconds a page) runs outside it.
"""

from __future__ import annotations

import threading
from pathlib import Path

from indexer.errors import ParseError
from indexer.ingest.parsing import ocr
from indexer.ingest.parsing.sections import SectionBuilder
from indexer.records import ParsedDocument

_PDFIUM_LOCK = threading.Lock()
_FPDF_ERR_PASSWORD = 4  # pdfium's FPDF_ERR_PASSWORD, exposed as PdfiumError.err_code

ENCRYPTED_MESSAGE = "encrypted: Cairn cannot read password-protected files"
ENCRYPTED_HINT = "save an unprotected copy if you want it indexed, or exclude the file"
NO_TEXT_MESSAGE = "no text could be extracted (no text layer, and OCR found no words)"
NO_TEXT_HINT = "if it is a scan, check that it is legible; exclude it if it has no text"
#: A page with fewer characters than this in its text layer, and an image on it, is a scan.
MIN_TEXT_LAYER_CHARS = 16


def parse_pdf(path: Path) -> ParsedDocument:
    """One section per page (long pages split into several, same page number); scanned pages
    through OCR, in page order with the others."""
    import pypdfium2 as pdfium

    with _PDFIUM_LOCK:
        try:
            pdf = pdfium.PdfDocument(str(path))
        except pdfium.PdfiumError as exc:
            if (
                getattr(exc, "err_code", None) == _FPDF_ERR_PASSWORD
                or "password" in str(exc).lower()
            ):
                raise ParseError(ENCRYPTED_MESSAGE, hint=ENCRYPTED_HINT) from exc
            raise ParseError(
                f"corrupt or truncated PDF: {exc}",
                hint="open it in a PDF viewer to check; re-save or re-download it",
            ) from exc
    try:
        with _PDFIUM_LOCK:
            page_count = len(pdf)
            title = _title(pdf)
            texts = [_page_text(pdf, i) for i in range(page_count)]
            scanned = [i for i, text in enumerate(texts)
                       if len("".join(text.split())) < MIN_TEXT_LAYER_CHARS and _has_image(pdf, i)]
        recognised: dict[int, str] = {}
        for done, index in enumerate(scanned):
            ocr.before_page(done, len(scanned))  # progress, pause, answers first, stop
            with _PDFIUM_LOCK:
                image = _render(pdf, index)
            recognised[index] = ocr.recognize_page(image)
    finally:
        with _PDFIUM_LOCK:
            pdf.close()

    builder = SectionBuilder()
    empty_pages = 0
    for index, text in enumerate(texts):
        if index in recognised:
            text = recognised[index]
        if not text.strip():
            empty_pages += 1
            continue
        builder.add(text, page=index + 1, kind="ocr" if index in recognised else "text")
    if not builder.sections:
        raise ParseError(NO_TEXT_MESSAGE, hint=NO_TEXT_HINT)
    warnings: list[str] = []
    if recognised:
        warnings.append(f"{len(recognised)} of {page_count} pages read by OCR (scanned)")
    if empty_pages:
        warnings.append(f"{empty_pages} of {page_count} pages have no text")
    parser = "pdf+ocr" if recognised else "pdf"
    return ParsedDocument(sections=builder.sections, parser=parser, title=title,
                          warnings=tuple(warnings))


def _has_image(pdf: object, index: int) -> bool:
    """Whether page `index` holds an image object (a blank page is not worth OCR)."""
    import pypdfium2.raw as pdfium_c

    page = pdf[index]  # type: ignore[index]
    try:
        return any(True for _ in page.get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_IMAGE]))
    finally:
        page.close()


def _render(pdf: object, index: int) -> object:
    """Page `index` as an RGB PIL image at `ocr.OCR_DPI`."""
    page = pdf[index]  # type: ignore[index]
    try:
        bitmap = page.render(scale=ocr.OCR_DPI / 72)
        try:
            return bitmap.to_pil().convert("RGB")
        finally:
            bitmap.close()
    finally:
        page.close()


def _page_text(pdf: object, index: int) -> str:
    """Text of one page; page and text page are closed even if extraction fails."""
    page = pdf[index]  # type: ignore[index]
    try:
        textpage = page.get_textpage()
        try:
            return str(textpage.get_text_range())
        finally:
            textpage.close()
    finally:
        page.close()


def _title(pdf: object) -> str | None:
    """The document's metadata title, unless it is empty or a generator placeholder."""
    try:
        meta = pdf.get_metadata_dict(skip_empty=True)  # type: ignore[attr-defined]
    except Exception:  # noqa: BLE001 - optional metadata must not fail the file
        return None
    title = " ".join(str(meta.get("Title", "")).split())
    return title if title and title.lower() not in {"untitled", "untitled document"} else None
