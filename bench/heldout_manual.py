"""A second held-out long document: an equipment manual, frozen before the change it checks.

Written at 17:30 on 2026-12-07, after the board minutes (`heldout_minutes.py`) had been looked
at while changing the summary's reduce step, so that one held-out document stays unseen: it is
run once per configuration and never tuned on. It differs from both others: numbered sections
with headings that run across pages, paragraphs of plausible technical prose (varied, each said
once), a footer with a document code, and seven planted points of other kinds (a torque, a
warning, a part number, an interval, a supplier, a temperature limit, a phone line).
"""

from __future__ import annotations

import random
from pathlib import Path

from tests.e2e.report_pdf import draw_paragraphs

#: page → (sentence planted on that page, words a summary citing it must contain)
MANUAL_POINTS: dict[int, tuple[str, str]] = {
    2: ("Tighten the pump housing bolts to exactly 48 newton metres.", "48 newton"),
    8: ("Never open the filter chamber while the pressure gauge shows above 2 bar.",
        "filter chamber"),
    13: ("The replacement impeller has part number KX-7734.", "KX-7734"),
    19: ("Replace the drive belt every 1,500 operating hours.", "1,500 operating hours"),
    24: ("Seals must be ordered only from Brandt Hydraulik in Kassel.", "Brandt Hydraulik"),
    29: ("The motor shuts down automatically above 85 degrees Celsius.", "85 degrees"),
    33: ("The service hotline is staffed on weekdays from 7:00 to 19:00.", "hotline"),
}

_SUBJECTS = ["The inlet valve", "The control panel", "The outlet hose", "The base frame",
             "The cooling fan", "The level sensor", "The cable gland", "The drain plug",
             "The mounting bracket", "The status lamp"]
_VERBS = ["should be inspected", "can be cleaned", "is usually checked", "may be adjusted",
          "should be wiped", "is normally tested"]
_WHEN = ["during the monthly walk-round", "when the unit is cold", "after heavy use",
         "before a long pause", "as part of the routine checks", "when convenient"]
_WHY = ["to keep the unit in good order", "so that wear is noticed early",
        "which helps avoid unplanned stops", "as described in the general guidance",
        "following the usual practice", "without special tools"]


def _paragraph(rng: random.Random) -> str:
    return " ".join(f"{rng.choice(_SUBJECTS)} {rng.choice(_VERBS)} {rng.choice(_WHEN)}, "
                    f"{rng.choice(_WHY)}." for _ in range(rng.randint(2, 3)))


def write_manual_pdf(path: Path, pages: int = 36, seed: int = 11) -> Path:
    """A `pages`-page manual PDF: a section heading every third page, two or three varied
    paragraphs a page, a planted point inside a paragraph, a footer with a document code."""
    from reportlab.pdfgen import canvas

    rng = random.Random(seed)
    pdf = canvas.Canvas(str(path))
    for page in range(1, pages + 1):
        y = 780
        if page % 3 == 1:
            pdf.setFont("Helvetica-Bold", 13)
            pdf.drawString(72, y, f"{page // 3 + 1}. Care of the unit, part {page // 3 + 1}")
            y -= 10
        pdf.setFont("Helvetica", 11)
        paragraphs = [_paragraph(rng) for _ in range(rng.randint(2, 3))]
        if page in MANUAL_POINTS:
            i = rng.randrange(len(paragraphs))
            paragraphs[i] = f"{paragraphs[i]} {MANUAL_POINTS[page][0]}"
        y = draw_paragraphs(pdf, paragraphs, y)
        pdf.setFont("Helvetica", 8)
        pdf.drawString(72, 40, f"PX-200 operating manual · rev. C · {page}")
        pdf.showPage()
    pdf.save()
    return path
