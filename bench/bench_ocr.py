"""OCR speed and accuracy on generated scans: pages/s and character error rate (CER).

Pages of known technical text are typeset (reportlab), rasterised like a scanner (pypdfium2,
greyscale) at 150 and 300 dpi, plus a skewed (2°) and a noisy (1 % salt-and-pepper) variant at
300 dpi, then read by Cairn's OCR path (`indexer.ingest.parsing.ocr.recognize_page`). CER is the
Levenshtein distance between the recognised and the source text (whitespace collapsed) over the
source length. Prints JSON with the machine's CPU flags; never asserted on in tests.

    uv run python bench/bench_ocr.py [--pages 3] [--out docs/ocr_bench.json]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from machine_info import cpu_info

from indexer.runtime import install_egress_guard, set_offline_env
from tests.indexer.scans import raster_pages, text_pdf

WORDS = [
    "pump", "valve", "pressure", "filter", "cartridge", "flange", "bolt", "torque", "seal",
    "gasket", "bearing", "shaft", "motor", "inlet", "outlet", "coolant", "sensor", "relay", "fuse",
    "voltage", "current", "warranty", "service", "interval", "manual", "replace", "inspect",
    "tighten", "loosen", "clean", "check", "operate", "install", "remove", "adjust", "calibrate",
]


def source_pages(pages: int, lines: int = 30, seed: int = 11) -> list[list[str]]:
    """`pages` pages of `lines` lines: words, numbers with units, model numbers."""
    rng = random.Random(seed)
    out = []
    for _ in range(pages):
        page = []
        for _ in range(lines):
            words = [rng.choice(WORDS) for _ in range(rng.randint(6, 10))]
            words.insert(rng.randrange(len(words)), f"{rng.randint(2, 950)}{rng.choice(['', ' Nm', ' bar', ' mm', '%'])}")
            if rng.random() < 0.3:
                words.append(f"(part {rng.choice('ABCDEFGH')}{rng.randint(100, 999)}-{rng.randint(10, 99)})")
            page.append(" ".join(words).capitalize() + ".")
        out.append(page)
    return out


def levenshtein(a: str, b: str) -> int:
    """Edit distance (rapidfuzz when installed, else a plain DP)."""
    try:
        from rapidfuzz.distance import Levenshtein

        return int(Levenshtein.distance(a, b))
    except ImportError:
        prev = list(range(len(b) + 1))
        for i, ca in enumerate(a, 1):
            cur = [i]
            for j, cb in enumerate(b, 1):
                cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
            prev = cur
        return prev[-1]


def cer(recognised: str, truth: str) -> float:
    a, b = " ".join(recognised.split()), " ".join(truth.split())
    return levenshtein(a, b) / max(1, len(b))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--pages", type=int, default=3)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    set_offline_env()
    install_egress_guard()
    from indexer.ingest.parsing import ocr

    pages = source_pages(args.pages)
    pdf = text_pdf(pages, font_size=10)
    variants = {
        "300 dpi": {"dpi": 300},
        "150 dpi": {"dpi": 150},
        "300 dpi, skewed 2°": {"dpi": 300, "skew": 2.0},
        "300 dpi, 1 % noise": {"dpi": 300, "noise": 0.01},
    }
    t0 = time.perf_counter()
    ocr.engine()
    load_s = time.perf_counter() - t0
    results: dict[str, Any] = {}
    for name, kw in variants.items():
        images = raster_pages(pdf, **kw)
        times, cers = [], []
        for img, truth in zip(images, pages):
            t = time.perf_counter()
            text = ocr.recognize_page(img.convert("RGB"))
            times.append(time.perf_counter() - t)
            cers.append(cer(text, "\n".join(truth)))
        results[name] = {
            "pages": len(images), "image_px": list(images[0].size),
            "seconds_per_page": round(statistics.mean(times), 2),
            "pages_per_s": round(len(times) / sum(times), 3),
            "cer": round(statistics.mean(cers), 4), "cer_max": round(max(cers), 4),
        }
        print(f"{name:>22}: {results[name]['seconds_per_page']} s/page, "
              f"CER {results[name]['cer']:.2%}", file=sys.stderr)
    report = {"bench": "ocr", "engine": "rapidocr PP-OCRv6 small (onnxruntime)",
              "engine_load_s": round(load_s, 2), "chars_per_page": len(" ".join(pages[0])),
              "machine": cpu_info(), "variants": results}
    text = json.dumps(report, indent=2, ensure_ascii=False)
    print(text)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
