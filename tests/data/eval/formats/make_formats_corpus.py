"""Build the formats corpus: scans, photos, a fax TIFF, a spreadsheet, a CSV and an e-mail.

    python tests/data/eval/formats/make_formats_corpus.py OUT_DIR [--check]

Every file is generated here (nothing binary is checked in): text pages are typeset with
reportlab and rasterised like a scanner (tests/indexer/scans.py), tables written with openpyxl
and csv, the mail with the stdlib. The facts are invented, so a model cannot answer from memory.
`--check` parses each file with Cairn's own parsers (OCR included) and verifies that every
`evidence` string of formats_qa.jsonl is in the text of the file it names.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from email.message import EmailMessage
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[3]
sys.path.insert(0, str(REPO))

from tests.indexer.scans import scanned_image, scanned_pdf, scanned_tiff

PUMP = (
    ("Northwind P-40 pump: maintenance manual", "Chapter 1: Safety",
     "The pressure relief valve opens at 8.5 bar.",
     "Never open the housing while the pump is under pressure."),
    ("Chapter 2: Filters",
     "Replace the filter cartridge every 400 hours of operation.",
     "Use only cartridges of type NW-F9."),
    ("Chapter 3: Assembly",
     "Torque the flange bolts to 45 Nm in a cross pattern.",
     "Apply thread locker to the motor mount screws."),
)
WARRANTY = (("Northwind Pumps - Warranty terms",
             "A warranty claim must be filed within 30 days of the failure.",
             "Send claims to the service desk with the serial number of the unit."),)
WHITEBOARD = ("Release planning", "Code freeze: 14 March", "Release to customers: 2 April",
              "Owner of the release notes: Dana")
RACK = ("Server rack B7", "UPS runtime at full load: 18 minutes", "Breaker rating: 32 A")
FAX = (
    ("Purchase order 5531", "Item: 12 impeller sets for pump P-40", "Payment terms: 60 days net"),
    ("Purchase order 5531, page 2", "Delivery address: Dock 4, Harbour Road",
     "Delivery window: Tuesday 07:00 to 09:00"),
)
PARTS = [
    ("Part", "Description", "Price (EUR)", "Stock"),
    *[(f"XP-{100 + i}", f"spacer ring size {i}", f"{2 + i * 0.35:.2f}", str(10 + (i * 7) % 50))
      for i in range(30)],
]
PARTS.insert(12, ("GK-220", "gasket kit for P-40 housing", "14.90", "8"))
PARTS.insert(25, ("BR-115", "bearing for motor shaft", "22.40", "37"))
CALIBRATION = [
    ("Sensor", "Measures", "Range", "Calibration interval"),
    ("PT-1", "inlet pressure", "0-10 bar", "12 months"),
    ("PT-4", "outlet pressure", "0-16 bar", "6 months"),
    ("TT-2", "coolant temperature", "-20-120 C", "24 months"),
    ("FT-3", "flow", "0-80 m3/h", "12 months"),
]
MAIL = """Hi all,

Night shift handover for Tuesday:

Compressor C2 tripped at 03:40. It was restarted after replacing fuse F12; the cause was a
loose terminal on the starter, now tightened.

Pump P-40 ran normally all night. The next filter change is due at 3,900 operating hours.

Regards,
Ilse (night shift lead)
"""


def build(out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    files = [
        scanned_pdf(out / "pump-manual-scan.pdf", PUMP),
        scanned_pdf(out / "warranty-terms-scan.pdf", WARRANTY, dpi=150),
        scanned_image(out / "whiteboard.jpg", WHITEBOARD),
        scanned_image(out / "rack-label.png", RACK),
        scanned_tiff(out / "purchase-order-fax.tif", FAX),
    ]
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = "Parts"
    for row in PARTS:
        ws.append(list(row))
    wb.save(out / "spare-parts.xlsx")
    files.append(out / "spare-parts.xlsx")
    with (out / "sensor-calibration.csv").open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows(CALIBRATION)
    files.append(out / "sensor-calibration.csv")
    msg = EmailMessage()
    msg["From"] = "Ilse Berg <ilse@plant.example>"
    msg["To"] = "maintenance@plant.example"
    msg["Subject"] = "Night shift handover"
    msg["Date"] = "Tue, 03 Nov 2026 06:05:00 +0100"
    msg.set_content(MAIL)
    (out / "shift-handover.eml").write_bytes(bytes(msg))
    files.append(out / "shift-handover.eml")
    return files


def check(out: Path) -> int:
    """Every evidence string appears in the text Cairn extracts from its file."""
    from indexer.ingest.parsing import parse_file

    texts: dict[str, str] = {}
    bad = 0
    for line in (HERE / "formats_qa.jsonl").read_text(encoding="utf-8").splitlines():
        q = json.loads(line)
        if not q["answerable"]:
            continue
        name = q["source_file"]
        if name not in texts:
            doc = parse_file(out / name)
            texts[name] = " ".join(" ".join(s.text for s in doc.sections).split())
        if " ".join(q["evidence"].split()) not in texts[name]:
            bad += 1
            print(f"{q['id']}: evidence not in {name}: {q['evidence']!r}", file=sys.stderr)
    print(f"checked {len(texts)} files: {bad} evidence strings missing")
    return 1 if bad else 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("out", type=Path)
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args()
    files = build(args.out)
    print(f"wrote {len(files)} files to {args.out}")
    return check(args.out) if args.check else 0


if __name__ == "__main__":
    sys.exit(main())
