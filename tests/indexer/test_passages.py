"""Passage selection: neighbouring chunks merged exactly, other places kept apart."""

from __future__ import annotations

from indexer.answer.passages import merge_neighbours, select_passages
from indexer.ingest.chunking import chunk_document
from indexer.records import Anchor, ParsedDocument, SearchHit, Section

SOURCE = (
    "Slots save memory. Declaring slots denies the creation of a dict per instance.\n"
    "Without a weakref slot, instances cannot be weakly referenced.\n"
    "If weak references are needed, add weakref to the slots declaration.\n"
    "Slots are implemented as descriptors on the class."
)


def hit(chunk_id: str, start: int, end: int, *, path: str = "/d/slots.md",
        heading: tuple[str, ...] = ("Slots",), page: int | None = None,
        text: str | None = None) -> SearchHit:
    body = SOURCE[start:end] if text is None else text
    first_line = SOURCE.count("\n", 0, start) + 1
    anchor = Anchor(path, page=page, heading_path=heading, line_start=first_line,
                    line_end=first_line + body.count("\n"), char_start=start, char_end=end)
    return SearchHit(chunk_id=chunk_id, anchor=anchor, text=body, snippet=body[:30], fused=0.03,
                     vector=0.7)


def words(text: str) -> int:
    return len(text.split())


def test_overlapping_neighbours_merge_to_the_exact_source_span() -> None:
    a, b = hit("a", 0, 150), hit("b", 100, 220)
    for first, second in ((a, b), (b, a)):  # rank order must not matter for the text
        merged = merge_neighbours(first, second)
        assert merged is not None
        assert merged.text == SOURCE[0:220]
        assert (merged.anchor.char_start, merged.anchor.char_end) == (0, 220)
        assert merged.anchor.line_start == 1
        assert merged.anchor.line_end == 1 + SOURCE[0:220].count("\n")
        assert merged.chunk_id == first.chunk_id  # the better-ranked part names the passage


def test_contained_and_touching_spans() -> None:
    outer, inner = hit("o", 0, 200), hit("i", 20, 80)
    assert merge_neighbours(outer, inner).text == SOURCE[0:200]  # type: ignore[union-attr]
    left, right = hit("l", 0, 80), hit("r", 81, 140)
    merged = merge_neighbours(left, right)
    assert merged is not None and merged.text == SOURCE[0:80] + "\n\n" + SOURCE[81:140]


def test_other_places_and_inexact_texts_stay_apart() -> None:
    a = hit("a", 0, 150)
    assert merge_neighbours(a, hit("far", 160, 220)) is None  # a gap: another place
    assert merge_neighbours(a, hit("h", 100, 220, heading=("Other",))) is None
    assert merge_neighbours(a, hit("f", 100, 220, path="/d/other.md")) is None
    assert merge_neighbours(hit("p1", 0, 150, page=1), hit("p2", 100, 220, page=2)) is None
    wrong = hit("w", 100, 220, text="x" * 120)  # offsets that do not match the text
    assert merge_neighbours(a, wrong) is None
    no_span = SearchHit(chunk_id="n", anchor=Anchor("/d/slots.md", heading_path=("Slots",)),
                        text="Slots save memory.", snippet="", fused=0.02)
    assert merge_neighbours(a, no_span) is None


def test_select_passages_merges_neighbours_and_frees_the_slot() -> None:
    other = SearchHit(chunk_id="o", anchor=Anchor("/d/other.md", line_start=1, line_end=2,
                                                  char_start=0, char_end=30),
                      text="Descriptors define attribute access.", snippet="", fused=0.02)
    third = SearchHit(chunk_id="t", anchor=Anchor("/d/third.md", line_start=1, line_end=1,
                                                  char_start=0, char_end=20),
                      text="Weak references do not keep objects alive.", snippet="", fused=0.01)
    hits = [hit("a", 0, 150), other, hit("b", 100, 220), third]
    chosen = select_passages(hits, max_passages=2, token_budget=10_000, count_tokens=words)
    assert [h.chunk_id for h in chosen] == ["a", "o"]
    assert chosen[0].text == SOURCE[0:220], "rank 3 extended rank 1 although both slots were used"
    tight = words(SOURCE[0:150]) + 16 + words(other.text) + 16
    chosen = select_passages(hits, max_passages=5, token_budget=tight, count_tokens=words)
    assert chosen[0].text == SOURCE[0:150], "a merge that breaks the budget is skipped"


def test_real_chunker_neighbours_merge_back_into_the_section() -> None:
    """The invariant merging relies on, checked against the real chunker's offsets."""
    text = " ".join(f"Sentence number {i} talks about slots and weak references." for i in range(60))
    doc = ParsedDocument(sections=(Section(text, heading_path=("Slots",), line_start=1,
                                           line_end=1),), parser="test")
    chunks = chunk_document(doc, count_tokens=words, max_tokens=60, overlap_tokens=10)
    assert len(chunks) >= 3
    hits = [SearchHit(chunk_id=str(c.ordinal), text=c.text, snippet="", fused=0.01,
                      anchor=Anchor("/d/s.md", heading_path=c.heading_path,
                                    line_start=c.line_start, line_end=c.line_end,
                                    char_start=c.char_start, char_end=c.char_end))
               for c in chunks[:3]]
    chosen = select_passages(hits, max_passages=5, token_budget=10_000, count_tokens=words)
    assert len(chosen) == 1
    assert chosen[0].text == text[chunks[0].char_start:chunks[2].char_end]
