"""Which viewer a cited source opens in: binary formats whose anchors carry row numbers (XLSX,
ODS, legacy XLS) must show the passage, never the file's bytes as text."""

from __future__ import annotations

import pytest

from desktop_app.history import Source
from desktop_app.sources_view import view_kind
from indexer.records import Anchor


def source(path: str, line_start: int | None = 2, page: int | None = None) -> Source:
    anchor = Anchor(path=path, page=page, line_start=line_start, line_end=line_start)
    return Source(number=1, anchor=anchor, text="t", snippet="t")


@pytest.mark.parametrize("name", ["book.xlsx", "book.ods", "old.xls", "deck.odp", "mail.msg"])
def test_row_anchored_binary_formats_show_the_passage(name: str) -> None:
    assert view_kind(source(name, page=1)) == "passage"


@pytest.mark.parametrize("name", ["notes.md", "guide.rst", "log.org", "catalog.xml", "t.tsv"])
def test_line_anchored_text_formats_open_at_the_line(name: str) -> None:
    assert view_kind(source(name)) == "text"
