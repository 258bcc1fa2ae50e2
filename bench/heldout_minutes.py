"""A held-out long document for whole-document answers: board minutes nobody tuned on.

`tests/e2e/report_pdf.py`'s report is what the summary code was developed against (running
header on every page, the same six routine sentences). This one differs on purpose: a header
without a page number and a "Page N of M" footer, filler that never repeats exactly (names,
numbers and verbs vary, so `read_once` removes nothing and every page is ~100 tokens), and six
planted points of other kinds (a lease, a fee, an auditor, a vote, an energy figure, a date).
Written once, before it was first run; not to be tuned on (`bench/bench_summarize.py --doc
minutes` reports it beside the report).
"""

from __future__ import annotations

import random
from pathlib import Path

from tests.e2e.report_pdf import draw_paragraphs

#: page → (sentence planted on that page, words a summary citing it must contain)
MINUTES_POINTS: dict[int, tuple[str, str]] = {
    3: ("The cooperative signed a lease for the Lindholm warehouse at 4,200 euros per month.",
        "Lindholm"),
    11: ("Membership fees will rise to 85 euros from 1 July 2027.", "85 euros"),
    17: ("Auditor Marguerite Osei found two unpaid invoices from the bakery supplier.", "Osei"),
    24: ("The board voted 5 to 2 to close the Eastgate shop in September.", "Eastgate"),
    31: ("Solar panels on the depot roof produced 38 megawatt hours last year.", "38 megawatt"),
    38: ("The next general assembly is set for 12 May 2027 in the town library.", "12 May 2027"),
}

_NAMES = ["Ana Petrov", "Jonas Berg", "Leila Haddad", "Tomas Novak", "Priya Raman", "Elias Moen"]
_TEAMS = ["logistics", "volunteer", "shop", "member services", "maintenance", "events"]
_DONE = ["reviewed", "updated", "discussed", "checked", "went through", "summarised"]
_THINGS = ["the weekly rota", "the cleaning checklist", "the notice board", "the delivery log",
           "the key register", "the meeting calendar", "the newsletter draft"]
_NOTES = ["No decision was needed.", "Questions from members were answered.",
          "The item will come back at a later meeting.", "Everyone agreed to keep it as is.",
          "A short note will go out to members.", "Minor wording changes were suggested."]


def _filler(rng: random.Random, page: int) -> list[str]:
    out = []
    for _ in range(rng.randint(3, 4)):
        out.append(f"{rng.choice(_NAMES)} said the {rng.choice(_TEAMS)} team "
                   f"{rng.choice(_DONE)} {rng.choice(_THINGS)} for week {rng.randint(1, 52)}. "
                   f"{rng.choice(_NOTES)}")
    out.insert(0, f"Item {page}: routine reports.")
    return out


def write_minutes_pdf(path: Path, pages: int = 40, seed: int = 7) -> Path:
    """A `pages`-page minutes PDF: header, varied filler, a planted point mid-page, footer."""
    from reportlab.pdfgen import canvas

    rng = random.Random(seed)
    pdf = canvas.Canvas(str(path))
    for page in range(1, pages + 1):
        pdf.setFont("Helvetica-Oblique", 9)
        pdf.drawString(72, 800, "Northwind Cooperative - minutes of the board, 2026")
        pdf.setFont("Helvetica", 11)
        lines = _filler(rng, page)
        if page in MINUTES_POINTS:
            lines.insert(len(lines) // 2 + 1, MINUTES_POINTS[page][0])
        y = 770
        y = draw_paragraphs(pdf, lines, y)
        pdf.setFont("Helvetica", 9)
        pdf.drawString(280, 40, f"Page {page} of {pages}")
        pdf.showPage()
    pdf.save()
    return path
