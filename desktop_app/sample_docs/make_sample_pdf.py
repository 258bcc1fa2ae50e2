"""Generate `observing-the-night-sky.pdf`, the bundled sample PDF (run once; the PDF is committed).

    .venv/bin/python desktop_app/sample_docs/make_sample_pdf.py

reportlab is a dev dependency only: the app never imports this script.
"""

from __future__ import annotations

from pathlib import Path

PAGES: list[tuple[str, list[str]]] = [
    (
        "Observing the Night Sky",
        [
            (
                "You do not need a telescope to start observing. On a clear, moonless night far from "
                "city lights, the unaided eye can see about 4,500 stars, the band of the Milky Way "
                "and several planets."
            ),
            (
                "Dark adaptation: the eye takes 20 to 30 minutes to adapt fully to darkness. A single "
                "glance at a white phone screen undoes it. Use a red torch, because red light "
                "preserves night vision far better than white light."
            ),
            (
                "Plan around the Moon. The week around new moon gives the darkest skies; a full moon "
                "washes out faint galaxies and nebulae but is a fine time to study the Moon itself."
            ),
        ],
    ),
    (
        "Finding Your Way: Constellations",
        [
            (
                "In the northern hemisphere, start from the Plough (the Big Dipper). Follow the two "
                "pointer stars at the end of its bowl upward about five times their separation and "
                "you reach Polaris, the Pole Star, which marks true north within one degree."
            ),
            (
                "In the southern hemisphere, the Southern Cross and the two Pointers (Alpha and Beta "
                "Centauri) lead to the south celestial pole, which has no bright star of its own."
            ),
            (
                "Orion is visible from both hemispheres in December to March. The three stars of "
                "Orion's Belt point down-left to Sirius, the brightest star in the night sky."
            ),
        ],
    ),
    (
        "Choosing Binoculars and Telescopes",
        [
            (
                "Binoculars are the best first instrument. A 7x50 or 10x50 pair gathers about fifty "
                "times more light than the eye, shows the moons of Jupiter and many star clusters, "
                "and can be held by hand."
            ),
            (
                "For a first telescope, aperture matters more than magnification. A 150 mm Dobsonian "
                "reflector is a popular choice: it is simple to set up and shows Saturn's rings, the "
                "cloud belts of Jupiter and hundreds of deep-sky objects."
            ),
            (
                "Let a telescope cool to the outside temperature for about 30 minutes before "
                "observing, otherwise warm air inside the tube blurs the view."
            ),
        ],
    ),
]


def build(dest: Path) -> Path:
    from reportlab.lib.pagesizes import A5
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.platypus import PageBreak, Paragraph, SimpleDocTemplate, Spacer

    styles = getSampleStyleSheet()
    story: list[object] = []
    for i, (title, paragraphs) in enumerate(PAGES):
        story.append(Paragraph(title, styles["Heading1"]))
        for text in paragraphs:
            story.append(Paragraph(text, styles["BodyText"]))
            story.append(Spacer(1, 8))
        if i < len(PAGES) - 1:
            story.append(PageBreak())
    doc = SimpleDocTemplate(
        str(dest), pagesize=A5, title="Observing the Night Sky", author="Cairn sample documents",
        invariant=1,  # reproducible bytes: no timestamps or random ids
    )
    doc.build(story)
    return dest


if __name__ == "__main__":
    out = build(Path(__file__).with_name("observing-the-night-sky.pdf"))
    print(f"wrote {out} ({out.stat().st_size} bytes)")
