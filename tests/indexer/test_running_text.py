"""What a whole-document answer reads: running headers/footers off, repeats once, anchors kept."""

from __future__ import annotations

from indexer.answer.running_text import read_once, readable, running_lines, strip_running_lines
from indexer.records import Anchor, SearchHit


def page(n: int, text: str, path: str = "/docs/report.pdf", paged: bool = True) -> SearchHit:
    start = n * 1000
    anchor = Anchor(path, page=n if paged else None, line_start=None if paged else n,
                    char_start=start, char_end=start + len(text))
    return SearchHit(f"c{n}", anchor, text, text[:50], 0.0)


def report(pages: int = 6) -> list[SearchHit]:
    return [page(n, f"Harbour annual report, part {n}\nThe fact of page {n} is item{n}x.\n"
                    f"Internal · page {n} of {pages}") for n in range(1, pages + 1)]


def test_headers_and_footers_that_differ_only_in_the_page_number_are_found() -> None:
    assert running_lines(report()) == {"harbour annual report part #", "internal page # of #"}


def test_stripping_them_keeps_each_page_text_and_anchor() -> None:
    kept = strip_running_lines(report())
    assert [h.text for h in kept] == [f"The fact of page {n} is item{n}x." for n in range(1, 7)]
    assert [h.anchor for h in kept] == [h.anchor for h in report()]


def test_a_page_that_is_only_furniture_is_dropped() -> None:
    doc = report(5)
    doc[2] = page(3, "Harbour annual report, part 3\nInternal · page 3 of 5")
    assert [h.anchor.page for h in strip_running_lines(doc)] == [1, 2, 4, 5]


def test_the_same_words_inside_a_page_are_text_not_furniture() -> None:
    doc = report(4)
    doc[1] = page(2, "The fact of page 2 is item2x.\nHarbour annual report, part 2\nMore text.\n"
                     "Internal · page 2 of 4")
    kept = strip_running_lines(doc)
    assert "Harbour annual report, part 2" in kept[1].text


def test_lines_on_few_pages_or_long_sentences_stay() -> None:
    # Two pages of twenty start alike: a coincidence, not a header.
    doc = [page(n, f"Body text number {n} says item{n}x.") for n in range(1, 21)]
    doc[0] = page(1, "Section 1\nBody text one.")
    doc[1] = page(2, "Section 2\nBody text two.")
    assert running_lines(doc) == set()
    # A long first sentence repeated with other numbers is prose (a table, a log), not furniture.
    long = [page(n, f"On day {n} the committee met in room {n} and approved budget line {n} "
                    f"after a long discussion.\nItem{n}x.") for n in range(1, 6)]
    assert running_lines(long) == set()


def test_files_without_pages_have_no_running_lines() -> None:
    doc = [page(n, f"Title {n}\nText {n}.", paged=False) for n in range(1, 6)]
    assert running_lines(doc) == set() and strip_running_lines(doc) == doc


def test_read_once_keeps_what_it_keeps_as_written() -> None:
    doc = [page(1, "Routine work went on. Staff were trained."),
           page(2, "Routine work went on. Dr. Ingrid Falkenrath was appointed.")]
    kept = read_once(doc)
    # The sentence splitter breaks after "Dr."; what is kept is not torn apart there.
    assert kept[1].text == "Dr. Ingrid Falkenrath was appointed."


def test_readable_removes_furniture_before_repeats() -> None:
    doc = report(4)
    kept = readable(doc)
    assert all("Harbour" not in h.text and "Internal" not in h.text for h in kept)
    assert len(kept) == 4
