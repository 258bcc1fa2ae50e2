"""PDF text with page numbers through pypdfium2 (PDFium, the engine inside Chrome).

Why pypdfium2: it reads text-layer PDFs at 100–600 pages/s, tolerates most broken files, and
gives page numbers for free (PERFORMANCE.md); unstructured's PDF path is 10–40× slower and its
`[pdf]` extra pulls torch. PDFium is not thread-safe, so every call into it holds `_PDFIUM_LOCK`,
and every document, page and text page is closed deterministically (they own native memory).

Scanned PDFs without a text layer yield no text; Cairn has no OCR, so they fail with a reason
instead of being indexed as empty.
"""

from __future__ import annotations

import threading
from pathlib import Path

from indexer.errors import ParseError
from indexer.ingest.parsing.sections import SectionBuilder
from indexer.records import ParsedDocument

_PDFIUM_LOCK = threading.Lock()
_FPDF_ERR_PASSWORD = 4  # pdfium's FPDF_ERR_PASSWORD, exposed as PdfiumError.err_code

ENCRYPTED_MESSAGE = "encrypted: Cairn cannot read password-protected files"
ENCRYPTED_HINT = "save an unprotected copy if you want it indexed, or exclude the file"
NO_TEXT_MESSAGE = "no text could be extracted (scanned PDF without a text layer?)"
NO_TEXT_HINT = "run OCR on it (e.g. ocrmypdf) to add a text layer, then Cairn will index it"


def parse_pdf(path: Path) -> ParsedDocument:
    """One section per page (long pages split into several, same page number)."""
    import pypdfium2 as pdfium

    builder = SectionBuilder()
    empty_pages = 0
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
            page_count = len(pdf)
            title = _title(pdf)
            for number in range(1, page_count + 1):
                text = _page_text(pdf, number - 1)
                if not text.strip():
                    empty_pages += 1
                    continue
                builder.add(text, page=number)
        finally:
            pdf.close()

    if not builder.sections:
        raise ParseError(NO_TEXT_MESSAGE, hint=NO_TEXT_HINT)
    warnings: tuple[str, ...] = ()
    if empty_pages:
        warnings = (f"{empty_pages} of {page_count} pages have no text layer (scanned?)",)
    return ParsedDocument(sections=builder.sections, parser="pdf", title=title, warnings=warnings)


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
