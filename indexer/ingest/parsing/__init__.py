"""The per-format parser seam: `parse_file(path)` turns one file into sections with anchors.

Which library reads which format, and why (all offline; none downloads anything at run time):

| Format                         | Library                         | Why |
|--------------------------------|---------------------------------|-----|
| text, code, config (.txt .py…) | stdlib + charset-normalizer     | exact line anchors; encoding detection |
| CSV / TSV                      | stdlib `csv` (sniffed dialect)  | rows with source line spans |
| Markdown                       | markdown-it-py                  | token line maps → line spans + headings |
| HTML                           | BeautifulSoup + lxml            | tolerant of real-world markup, fast |
| PDF                            | pypdfium2                       | 100–600 pages/s, page numbers, no torch |
| DOCX / PPTX / XLSX             | python-docx / -pptx / openpyxl  | what unstructured wraps, without its start-up |
| E-mail (.eml)                  | stdlib `email` (policy=default) | robust MIME + header decoding |
| EPUB                           | zipfile + lxml + the HTML path  | unstructured needs pandoc for EPUB |
| ODT / ODS / ODP                | lxml on content.xml             | .ods 10× faster than odfpy; no pandoc |
| Outlook .msg                   | python-oxmsg (+ olefile)        | what partition_msg uses; 0.1 s import vs 2.4 s (extract-msg) |
| RTF                            | striprtf + injected marks       | 28 kB, headings and page breaks kept; no pandoc |
| reStructuredText / Org         | line scanner (outline.py)       | exact line slices + headings; docutils 16× slower |
| XML                            | lxml (entities/DTD/network off) | line slices under the record element's path |
| .doc / .xls / .ppt             | LibreOffice `soffice`, if found | converted to the modern format, then its parser |
| Images (.png .jpg .tif …), scanned PDF pages | RapidOCR (PP-OCRv6 ONNX in its wheel) on ONNX Runtime | local, no hub, no torch; see `ocr.py` |

`unstructured` is deliberately not used: measured on this machine (docs/formats.md) its
partitioners need a spaCy model they download from GitHub at first use (so they fail offline),
its RTF/ODT/RST/Org/EPUB paths need pandoc (162 MB), its TSV path pandas, its PDF/image
extras torch, and importing one partitioner costs 3–4 s. Figures for every format: docs/formats.md, bench/bench_formats.py.

Contract: `parse_file` returns a `ParsedDocument` with at least one non-blank section, or raises
`ParseError` with a human reason and a hint — never another exception, so one bad file cannot
stop a run. Heavy libraries are imported by the format modules on first use, which keeps
`import indexer.ingest.parsing` cheap. Offsets: see `indexer.ingest.parsing.sections`.
"""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Callable
from pathlib import Path

from indexer.errors import Cancelled, ParseError
from indexer.ingest.parsing.ocr import IMAGE_EXTENSIONS
from indexer.ingest.parsing.text import CODE_EXTENSIONS, TABLE_EXTENSIONS, TEXT_EXTENSIONS
from indexer.records import ParsedDocument

__all__ = ["SUPPORTED_EXTENSIONS", "is_supported", "needs_ocr", "parse_file"]

log = logging.getLogger(__name__)

# extension → (module under indexer.ingest.parsing, function, format label for messages)
_REGISTRY: dict[str, tuple[str, str, str]] = {
    **{ext: ("text", "parse_text", "text") for ext in TEXT_EXTENSIONS | CODE_EXTENSIONS},
    **{ext: ("text", "parse_table", ext[1:].upper()) for ext in TABLE_EXTENSIONS},
    ".md": ("markup", "parse_markdown", "Markdown"),
    ".markdown": ("markup", "parse_markdown", "Markdown"),
    ".html": ("markup", "parse_html", "HTML"),
    ".htm": ("markup", "parse_html", "HTML"),
    ".xhtml": ("markup", "parse_html", "HTML"),
    ".pdf": ("pdf", "parse_pdf", "PDF"),
    ".docx": ("office", "parse_docx", "DOCX"),
    ".pptx": ("office", "parse_pptx", "PPTX"),
    ".xlsx": ("office", "parse_xlsx", "XLSX"),
    ".xlsm": ("office", "parse_xlsx", "XLSX"),
    ".eml": ("mail", "parse_eml", "e-mail"),
    ".epub": ("epub", "parse_epub", "EPUB"),
    ".odt": ("opendocument", "parse_opendocument", "ODT"),
    ".ods": ("opendocument", "parse_opendocument", "ODS"),
    ".odp": ("opendocument", "parse_opendocument", "ODP"),
    ".msg": ("outlook", "parse_msg", "Outlook message"),
    ".rtf": ("rtf", "parse_rtf", "RTF"),
    ".rst": ("outline", "parse_rst", "reStructuredText"),
    ".rest": ("outline", "parse_rst", "reStructuredText"),
    ".org": ("outline", "parse_org", "Org"),
    ".xml": ("xmlfile", "parse_xml", "XML"),
    ".doc": ("legacy", "parse_legacy", "Word 97–2003"),
    ".xls": ("legacy", "parse_legacy", "Excel 97–2003"),
    ".ppt": ("legacy", "parse_legacy", "PowerPoint 97–2003"),
    **{ext: ("ocr", "parse_image", "image") for ext in IMAGE_EXTENSIONS},
}

#: Every extension `parse_file` accepts, lower-case with the leading dot.
SUPPORTED_EXTENSIONS: frozenset[str] = frozenset(_REGISTRY)

_NO_TEXT = "no text could be extracted"
_NO_TEXT_HINT = "the file has no readable text; exclude it if this is expected"


def needs_ocr(path: str | os.PathLike[str]) -> bool:
    """True for files read only through OCR (images): seconds a page, so they are queued after
    the files with text (scanned PDF pages are only known once opened, and read in place)."""
    return Path(path).suffix.lower() in IMAGE_EXTENSIONS


def is_supported(path: str | os.PathLike[str]) -> bool:
    """True when the file's extension (case-insensitive) has a parser."""
    return Path(path).suffix.lower() in SUPPORTED_EXTENSIONS


def _parser(module: str, function: str) -> Callable[[Path], ParsedDocument]:
    """Import a format module on first use (keeps pdfium/docx/openpyxl out of start-up)."""
    parser: Callable[[Path], ParsedDocument] = getattr(
        importlib.import_module(f"{__name__}.{module}"), function
    )
    return parser


def _os_error(path: Path, exc: OSError) -> ParseError:
    """Translate a filesystem error into the reason a user can act on."""
    if isinstance(exc, FileNotFoundError) or not path.exists():
        return ParseError(
            "file disappeared",
            hint="it was moved or deleted while Cairn was reading it; it is re-read if it returns",
        )
    if isinstance(exc, PermissionError):
        return ParseError(
            "permission denied", hint="give your user read access to the file, or exclude it"
        )
    if isinstance(exc, IsADirectoryError):
        return ParseError("is a directory, not a file")
    return ParseError(
        f"could not read the file: {exc.strerror or exc}",
        hint="check the disk or network share the file is on",
    )


def parse_file(path: Path) -> ParsedDocument:
    """Parse one file by its extension; see the module docstring for the contract."""
    path = Path(path)
    ext = path.suffix.lower()
    entry = _REGISTRY.get(ext)
    if entry is None:
        raise ParseError(
            f"unsupported file type {ext!r}" if ext else "unsupported file type (no extension)",
            hint="Cairn reads text, code, Markdown, HTML, PDF, Office and OpenDocument files, CSV, "
            "e-mail (.eml/.msg), EPUB, RTF, RST, Org, XML and images (through OCR)",
        )
    module, function, label = entry
    try:
        with path.open("rb") as handle:  # fail early and clearly on missing/unreadable files
            empty = not handle.read(1)
    except OSError as exc:
        raise _os_error(path, exc) from exc
    if empty:
        raise ParseError(
            "file is empty", hint="nothing to index; it is picked up once it has content"
        )

    try:
        document = _parser(module, function)(path)
    except (ParseError, Cancelled):  # Cancelled: closing mid-OCR (the page hook)
        raise
    except OSError as exc:
        raise _os_error(path, exc) from exc
    except MemoryError as exc:
        raise ParseError(
            "file is too large to parse in memory",
            hint="exclude it or raise the size limit carefully",
        ) from exc
    except RecursionError as exc:
        raise ParseError(f"{label} file is nested too deeply to parse") from exc
    except Exception as exc:  # the format boundary: any library failure is this file's failure
        if not path.exists():
            raise ParseError("file disappeared") from exc
        log.debug("parser %s failed on %s", function, path, exc_info=True)
        detail = str(exc).strip() or type(exc).__name__
        raise ParseError(
            f"corrupt or unreadable {label} file: {detail}"[:500],
            hint="open it in the application that made it to check it; re-save or re-download it",
        ) from exc

    sections = tuple(s for s in document.sections if s.text.strip())
    if not sections:
        raise ParseError(_NO_TEXT, hint=_NO_TEXT_HINT)
    if len(sections) != len(document.sections):
        document = ParsedDocument(
            sections=sections,
            parser=document.parser,
            title=document.title,
            warnings=document.warnings,
        )
    return document
