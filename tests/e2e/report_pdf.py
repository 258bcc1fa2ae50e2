"""Generated documents for whole-document answers: a long report PDF with key points planted
on known pages, and two versions of a spec with planted differences (tests and bench)."""

from __future__ import annotations

import textwrap
from pathlib import Path

#: page → (sentence planted on that page, words a summary citing it must contain)
KEY_POINTS: dict[int, tuple[str, str]] = {
    4: ("The harbour renovation budget was fixed at 7.3 million euros.", "7.3 million"),
    9: ("Dr. Ingrid Falkenrath was appointed chief engineer of the renovation.", "Falkenrath"),
    15: ("The north pier will close to all traffic on 14 March 2027.", "north pier"),
    22: ("Tidal sensors measured a 12 percent rise in sediment at the east basin.", "sediment"),
    28: ("The council banned diesel ferries from the harbour starting in 2029.", "diesel"),
}

_FILLER = [
    "This section describes routine operations at the harbour during the reporting year.",
    "Staff followed the usual maintenance schedule for cranes, gates and mooring posts.",
    "Visitors were welcomed at the information centre on weekdays and some weekends.",
    "The cleaning crew inspected walkways and replaced worn signs where needed.",
    "Weather conditions were typical for the season and caused no lasting delays.",
    "Meetings with local groups continued as in previous years, without major changes.",
]


def write_report_pdf(path: Path, pages: int = 30,
                     key_points: dict[int, tuple[str, str]] | None = None) -> Path:
    """A `pages`-page PDF: a heading and routine filler on every page, and each key point's
    sentence in the middle of its page."""
    from reportlab.pdfgen import canvas

    points = KEY_POINTS if key_points is None else key_points
    pdf = canvas.Canvas(str(path))
    for page in range(1, pages + 1):
        y = 760
        pdf.setFont("Helvetica-Bold", 13)
        pdf.drawString(72, y, f"Harbour annual report, part {page}")
        pdf.setFont("Helvetica", 11)
        lines = [_FILLER[(page + i) % len(_FILLER)] for i in range(3)]
        if page in points:
            lines.insert(2, points[page][0])
        y = draw_paragraphs(pdf, lines, y)
        pdf.showPage()
    pdf.save()
    return path


def draw_paragraphs(pdf: object, paragraphs: list[str], y: float) -> float:
    """Draw `paragraphs` wrapped at 85 characters, 16 pt a line, 8 pt between paragraphs, from
    `y` down (a reportlab canvas); returns the `y` below them. Shared by the generated documents
    of the tests and the bench (bench/heldout_*.py)."""
    for paragraph in paragraphs:
        for line in textwrap.wrap(paragraph, 85):
            y -= 16
            pdf.drawString(72, y, line)  # type: ignore[attr-defined]
        y -= 8
    return y


SPEC_SECTIONS = [
    ("Purpose", "This specification describes the upload service used by the field teams."),
    ("Sessions", "A session expires after 30 minutes without activity."),
    ("Uploads", "The maximum upload size is 10 MB per file."),
    ("Formats", "Accepted formats are PDF, PNG and plain text."),
    ("Retries", "A failed upload is retried three times before it is reported."),
    ("Accounts", "Guest accounts may read shared folders."),
    ("Logging", "Every upload is logged with its size, user and time."),
]
#: (section, new text or None to remove it); and the sentence only v2 adds
SPEC_CHANGES = {
    "Sessions": "A session expires after 45 minutes without activity.",
    "Uploads": "The maximum upload size is 25 MB per file.",
    "Accounts": None,
}
SPEC_ADDED = ("Passwords", "Passwords must be rotated every 90 days.")


def write_spec_versions(folder: Path) -> tuple[Path, Path]:
    """spec-v1.md and spec-v2.md: v2 changes two values, drops one section, adds one."""
    def render(sections: list[tuple[str, str]]) -> str:
        return "# Upload service specification\n\n" + "\n\n".join(
            f"## {title}\n\n{text}" for title, text in sections) + "\n"

    v2 = [(t, SPEC_CHANGES.get(t, x)) for t, x in SPEC_SECTIONS if SPEC_CHANGES.get(t, x)]
    v2.insert(5, SPEC_ADDED)
    a, b = folder / "spec-v1.md", folder / "spec-v2.md"
    a.write_text(render(SPEC_SECTIONS), encoding="utf-8")
    b.write_text(render([(t, str(x)) for t, x in v2]), encoding="utf-8")
    return a, b
