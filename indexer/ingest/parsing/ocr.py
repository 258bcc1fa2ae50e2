"""Local OCR: scanned PDF pages and images become searchable, citable text.

Why RapidOCR (`rapidocr` 3.x): its wheel carries the PP-OCRv6 detection and recognition models
(ONNX, ~31 MB) and runs them on ONNX Runtime, which Cairn already ships for embeddings — so OCR
needs no model hub, no torch and no system Tesseract (which an installer cannot assume).
`onnxtr`/`doctr` and `easyocr` fetch weights at run time; easyocr also needs torch (MODELS.md).
Figures: `bench/bench_ocr.py` (pages/s, character error rate at 150/300 dpi, skewed, noisy).

OCR is the slowest stage by far (seconds per page against milliseconds for a text layer), so:

* the engine is created once, on the first page that needs it, and shared (thread-safe);
* each recognised page calls the **page hook** the pipeline installs around `parse_file`
  (`reporting_pages`): it shows "reading scanned page 12/40", holds while indexing is paused,
  lets an answer being generated go first, and stops the file when Cairn is closing;
* OCR'd sections are `kind="ocr"`, so their citations say so ("scan.pdf p. 3 (OCR)").
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from indexer.errors import ParseError
from indexer.ingest.parsing.sections import SectionBuilder
from indexer.records import ParsedDocument

log = logging.getLogger(__name__)

#: Image formats read through OCR (multi-page TIFFs: one page per frame).
IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp"})

#: Resolution scanned PDF pages are rendered at for OCR: 300 dpi reads small print reliably
#: (CER in docs/performance.md); higher only costs time.
OCR_DPI = 300
#: Lines recognised with less confidence than this are dropped (noise, specks, stamps).
MIN_LINE_SCORE = 0.5
#: Bigger images are scaled down first (a 600 dpi A4 scan is ~5,000 × 7,000 px).
MAX_IMAGE_SIDE = 4000


class PageHook(Protocol):
    """Called before each page is recognised: `done` pages of `total` are finished so far."""

    def __call__(self, done: int, total: int) -> None: ...


_PAGE_HOOK: ContextVar[PageHook | None] = ContextVar("cairn_ocr_page_hook", default=None)


@contextlib.contextmanager
def reporting_pages(hook: PageHook) -> Iterator[None]:
    """Install `hook` for the OCR pages of the files parsed inside this block (this thread)."""
    token = _PAGE_HOOK.set(hook)
    try:
        yield
    finally:
        _PAGE_HOOK.reset(token)


def before_page(done: int, total: int) -> None:
    """Tell the pipeline a page is about to be recognised (may block, or raise `Cancelled`)."""
    hook = _PAGE_HOOK.get()
    if hook is not None:
        hook(done, total)


@dataclass(frozen=True, slots=True)
class OcrLine:
    """One recognised line: its text, confidence and box (x0, y0, x1, y1 in pixels)."""

    text: str
    score: float
    box: tuple[float, float, float, float]


class OcrEngine(Protocol):
    """The OCR seam: an RGB image (PIL) in, recognised lines out."""

    def recognize(self, image: Any) -> list[OcrLine]: ...


class RapidOcrEngine:
    """RapidOCR on ONNX Runtime with the models inside its wheel; one session, guarded by a lock
    (an ONNX session may run concurrently, but OCR already uses every core per page)."""

    def __init__(self) -> None:
        from rapidocr import RapidOCR

        # Its own INFO logs ("File exists and is valid", model paths) would flood the console.
        logging.getLogger("RapidOCR").setLevel(logging.WARNING)
        # The per-line 180° classifier is off: on upright generated scans it flipped about one
        # line in ten into garbage (CER 23 % with it, 0 % without, bench/bench_ocr.py).
        self._engine = RapidOCR(params={"Global.log_level": "warning", "Global.use_cls": False})
        self._lock = threading.Lock()

    def recognize(self, image: Any) -> list[OcrLine]:
        import numpy as np

        with self._lock:
            result = self._engine(np.asarray(image.convert("RGB")))
        boxes = getattr(result, "boxes", None)
        if boxes is None:
            return []
        lines = []
        for box, text, score in zip(boxes, result.txts, result.scores):
            xs = [float(p[0]) for p in box]
            ys = [float(p[1]) for p in box]
            lines.append(OcrLine(str(text), float(score), (min(xs), min(ys), max(xs), max(ys))))
        return lines


_ENGINE: OcrEngine | None = None
_ENGINE_LOCK = threading.Lock()


def engine() -> OcrEngine:
    """The shared OCR engine, created on first use (loading it takes ~0.5 s)."""
    global _ENGINE
    with _ENGINE_LOCK:
        if _ENGINE is None:
            try:
                _ENGINE = RapidOcrEngine()
            except ImportError as exc:
                raise ParseError(
                    "OCR is not available: the rapidocr package is not installed",
                    hint="install it (`uv sync`, or `pip install rapidocr`) to index scans",
                ) from exc
        return _ENGINE


def set_engine(new: OcrEngine | None) -> None:
    """Replace the shared engine (tests use a fake through this seam; None = the real one)."""
    global _ENGINE
    with _ENGINE_LOCK:
        _ENGINE = new


def lines_to_text(lines: Sequence[OcrLine], min_score: float = MIN_LINE_SCORE) -> str:
    """Lines in reading order: top to bottom, left to right within a row; a blank line where
    the vertical gap is larger than a line's height (a new paragraph)."""
    kept = sorted((ln for ln in lines if ln.score >= min_score and ln.text.strip()),
                  key=lambda ln: (ln.box[1], ln.box[0]))
    rows: list[list[OcrLine]] = []
    for line in kept:
        height = line.box[3] - line.box[1]
        if rows:
            last = rows[-1][0]
            same_row = abs(line.box[1] - last.box[1]) < 0.5 * max(height, 1.0)
            if same_row:
                rows[-1].append(line)
                continue
        rows.append([line])
    out: list[str] = []
    prev_bottom: float | None = None
    for row in rows:
        row.sort(key=lambda ln: ln.box[0])
        top = min(ln.box[1] for ln in row)
        height = max(ln.box[3] - ln.box[1] for ln in row)
        if prev_bottom is not None and top - prev_bottom > height:
            out.append("")
        out.append("  ".join(ln.text.strip() for ln in row))
        prev_bottom = max(ln.box[3] for ln in row)
    return "\n".join(out)


def recognize_page(image: Any) -> str:
    """The text of one page image (scaled down first when huge)."""
    if max(image.size) > MAX_IMAGE_SIDE:
        image = image.copy()
        image.thumbnail((MAX_IMAGE_SIDE, MAX_IMAGE_SIDE))
    return lines_to_text(engine().recognize(image))


def parse_image(path: Path) -> ParsedDocument:
    """An image through OCR; a multi-page TIFF gives one section per frame (`page` = frame)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            frames = int(getattr(img, "n_frames", 1) or 1)
            builder = SectionBuilder()
            blank = 0
            for index in range(frames):
                before_page(index, frames)
                img.seek(index)
                text = recognize_page(img.convert("RGB"))
                if not text.strip():
                    blank += 1
                    continue
                builder.add(text, page=index + 1 if frames > 1 else None, kind="ocr")
    except (UnidentifiedImageError, SyntaxError, ValueError, OSError) as exc:
        if isinstance(exc, OSError) and exc.errno is not None:
            raise  # a real read error (disk, permissions): parse_file words it
        # Pillow reports a damaged file as OSError without errno ("Truncated File Read",
        # "image file is truncated"), SyntaxError (bad headers) or ValueError.
        raise ParseError(
            "not a readable image (corrupt, truncated or not really this format)",
            hint="open it in an image viewer to check; re-save or re-export it",
        ) from exc
    except Image.DecompressionBombError as exc:
        raise ParseError(
            "image is too large to read safely (over Pillow's decompression-bomb limit)",
            hint="scale it down, or exclude it",
        ) from exc
    if not builder.sections:
        raise ParseError(
            "no text found in the image (OCR recognised nothing)",
            hint="a photo or drawing without words is expected to have none; exclude it",
        )
    warnings = (f"{blank} of {frames} frames have no text",) if blank else ()
    return ParsedDocument(sections=builder.sections, parser="ocr-image", warnings=warnings)


