"""Tables as tables: every chunk of a spreadsheet or CSV starts with its heading row, so "what is
the price of GK-220" reaches the model with the column names beside the numbers."""

from __future__ import annotations

import csv
from pathlib import Path

from tests.indexer.builders import make_docs, make_settings, open_kb, rows

HEADER = ("Part", "Description", "Price (EUR)", "Stock")
ROWS = [(f"XP-{100 + i}", f"spacer ring size {i}", f"{2 + i * 0.35:.2f}", str(10 + i)) for i in range(60)]


def test_every_table_chunk_carries_the_heading_row(tmp_path: Path) -> None:
    from openpyxl import Workbook

    docs = make_docs(tmp_path)
    wb = Workbook()
    ws = wb.active
    ws.title = "Parts"
    for row in (HEADER, *ROWS):
        ws.append(list(row))
    wb.save(docs / "parts.xlsx")
    with (docs / "parts.csv").open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows((HEADER, *ROWS))
    kb, _ = open_kb(make_settings(tmp_path / "home", [docs]))  # default chunk size (200 tokens)
    try:
        kb.index(timeout=120)
        for name in ("parts.xlsx", "parts.csv"):
            chunks = rows(kb, docs / name)
            assert len(chunks) > 3, name  # 60 rows do not fit one chunk
            for chunk in chunks:
                assert chunk["text"].startswith("Part | Description | Price (EUR) | Stock\n"), chunk
            seen = "\n".join(c["text"] for c in chunks)
            assert all(f"XP-{100 + i} |" in seen for i in range(60))  # no row lost
        xlsx = rows(kb, docs / "parts.xlsx")
        assert {c["heading"] for c in xlsx} == {"Parts"}  # the sheet is named in the citation
    finally:
        kb.close()
