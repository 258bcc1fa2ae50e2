"""Generated scans for the OCR tests: nothing binary is checked in.

A page of text is typeset with reportlab, rasterised with pypdfium2 (as a scanner would: a grey
bitmap at `dpi`), optionally skewed or sprinkled with noise, and saved either as an image or as
an image-only PDF (Pillow writes one JPEG-in-PDF page per image: no text layer at all).
"""

from __future__ import annotations

import io
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

PUMP_MANUAL: tuple[tuple[str, ...], ...] = (
    ("Pump maintenance manual", "Chapter 1: Safety",
     "The pressure relief valve opens at 8.5 bar."),
    ("Chapter 2: Filters", "Replace the filter cartridge every 400 hours of operation."),
    ("Chapter 3: Assembly", "Torque the flange bolts to 45 Nm in a cross pattern."),
)


def text_pdf(pages: Sequence[Sequence[str]], font_size: int = 12) -> bytes:
    """A PDF with a real text layer: one line of `pages[i]` per row, A4."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    buf = io.BytesIO()
    c = canvas.Canvas(buf, pagesize=A4)
    for lines in pages:
        y = 780
        for line in lines:
            c.setFont("Helvetica", font_size)
            c.drawString(72, y, line)
            y -= int(font_size * 1.7)
        c.showPage()
    c.save()
    return buf.getvalue()


def raster_pages(pdf_bytes: bytes, dpi: int = 200, skew: float = 0.0,
                 noise: float = 0.0, seed: int = 7) -> list[Any]:
    """Each page as a greyscale PIL image, as a scanner would produce it."""
    import pypdfium2 as pdfium
    from PIL import Image

    pdf = pdfium.PdfDocument(pdf_bytes)
    images = []
    try:
        for i in range(len(pdf)):
            page = pdf[i]
            img = page.render(scale=dpi / 72).to_pil().convert("L")
            page.close()
            if skew:
                img = img.rotate(skew, resample=Image.BICUBIC, expand=True, fillcolor=255)
            if noise:
                rng = random.Random(seed + i)
                px = img.load()
                w, h = img.size
                for _ in range(int(w * h * noise)):
                    x, y = rng.randrange(w), rng.randrange(h)
                    px[x, y] = 0 if px[x, y] > 128 else 255
            images.append(img)
    finally:
        pdf.close()
    return images


def scanned_pdf(path: Path, pages: Sequence[Sequence[str]] = PUMP_MANUAL, dpi: int = 200,
                **kw: Any) -> Path:
    """An image-only PDF of `pages` (no text layer): what a scanner or a phone app saves."""
    images = raster_pages(text_pdf(pages), dpi=dpi, **kw)
    images[0].save(path, save_all=True, append_images=images[1:], resolution=dpi)
    return path


def scanned_image(path: Path, lines: Sequence[str], dpi: int = 200) -> Path:
    """One page of `lines` as an image file (format from the suffix: .png, .jpg, .tif, .webp…)."""
    raster_pages(text_pdf([lines]), dpi=dpi)[0].save(path)
    return path


def scanned_tiff(path: Path, pages: Sequence[Sequence[str]], dpi: int = 200) -> Path:
    """A multi-page TIFF, one frame per page (fax-style archives)."""
    images = raster_pages(text_pdf(pages), dpi=dpi)
    images[0].save(path, save_all=True, append_images=images[1:], compression="tiff_deflate")
    return path
