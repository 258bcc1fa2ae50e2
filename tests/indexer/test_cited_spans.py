"""The cited sentences (`indexer/answer/cited_spans.py`) and `Citation.spans` from the answer flow.

What is pinned: a citation carries the offsets, in the document, of the passage sentences that
the answer's sentences citing it say — not the whole passage, not the words of the question —
so the viewers can highlight exactly them; a claim the passage does not say gets no span (the
viewer falls back to the whole passage's place); quote-first answers use their verified quotes.
"""

from __future__ import annotations

from dataclasses import replace

from indexer.answer.answering import make_citations
from indexer.answer.cited_spans import (
    claims_by_passage,
    loose_find,
    passage_sentences,
    supporting_spans,
)
from indexer.answer.quotes import Quote
from indexer.records import Anchor
from tests.indexer.test_answering import Harness, make_hit

# As a PDF page is extracted: every printed line ends in a newline, mid-sentence.
PAGE = (
    "Harbour annual report, part 4\n"
    "This section describes routine operations at the harbour during the\n"
    "reporting year. The harbour renovation budget was fixed at 7.3 million\n"
    "euros. Staff followed the usual maintenance schedule for cranes.\n"
    "\n"
    "- Gates were painted in spring.\n"
    "- Mooring posts were replaced."
)
BUDGET = "The harbour renovation budget was fixed at 7.3 million\neuros."


def texts(passage: str, spans) -> list[str]:
    return [passage[s:e] for s, e in spans]


def test_passage_sentences_end_at_full_stops_not_at_printed_line_breaks() -> None:
    got = texts(PAGE, passage_sentences(PAGE))
    assert BUDGET in got
    assert "Staff followed the usual maintenance schedule for cranes." in got
    assert "- Gates were painted in spring." in got and "- Mooring posts were replaced." in got


def test_the_sentence_that_says_the_claim_is_the_span() -> None:
    spans = supporting_spans(PAGE, ["The renovation budget was 7.3 million euros."],
                             question="What was the renovation budget?")
    assert texts(PAGE, spans) == [BUDGET]


def test_two_claims_citing_one_passage_give_two_spans_and_adjacent_ones_merge() -> None:
    apart = supporting_spans(PAGE, ["The budget was 7.3 million euros.", "Gates were painted."])
    assert texts(PAGE, apart) == [BUDGET, "- Gates were painted in spring."]
    joined = supporting_spans(PAGE, ["The budget was 7.3 million euros.",
                                     "Staff followed the maintenance schedule for cranes."])
    assert texts(PAGE, joined) == [BUDGET + " Staff followed the usual maintenance schedule "
                                   "for cranes."]


def test_a_claim_the_passage_does_not_say_has_no_span() -> None:
    assert supporting_spans(PAGE, ["The moon is made of green cheese."]) == ()
    assert supporting_spans(PAGE, []) == ()


def test_a_verified_quote_is_its_own_evidence() -> None:
    quote = "the harbour renovation budget was fixed at 7.3 million euros"
    spans = supporting_spans(PAGE, [], quotes=[quote])
    assert texts(PAGE, spans) == [BUDGET]


def test_loose_find_ignores_case_spacing_line_ends_and_soft_hyphens() -> None:
    hay = "Intro.\r\nThe harbour renovation bud\x02get was fixed\r\nat 7.3 million euros."
    start, end = loose_find(hay, "the harbour renovation budget was fixed at 7.3 million euros.")
    assert hay[start:end] == hay[8:]
    assert loose_find(hay, "not there") is None


def test_claims_by_passage_collects_each_sentence_under_its_markers() -> None:
    claims = claims_by_passage("The budget was 7.3 million euros [1][2]. Gates were painted "
                               "[2].\nThe posts were replaced. [3]")
    assert claims == {1: ["The budget was 7.3 million euros."],
                      2: ["The budget was 7.3 million euros.", "Gates were painted."],
                      3: ["The posts were replaced."]}


def test_make_citations_gives_offsets_in_the_document() -> None:
    at = 5000  # the chunk's place in the document's extracted text
    hit = make_hit("c1", PAGE, Anchor("/docs/report.pdf", page=4, char_start=at,
                                      char_end=at + len(PAGE)))
    document = " " * at + PAGE
    (citation,) = make_citations([1], [hit], "It was 7.3 million euros [1].",
                                 question="What was the renovation budget?")
    assert [document[s:e] for s, e in citation.spans] == [BUDGET]
    assert citation.cited_texts == (BUDGET,)
    assert make_citations([1], [hit])[0].spans == (), "no answer text: no spans"
    quoted = make_citations([1], [hit], "Yes [1].", quotes=[
        Quote(1, "The harbour renovation budget was fixed at 7.3 million euros", 1)])
    assert quoted[0].cited_texts == (BUDGET,)


def test_the_answer_flow_cites_the_sentence_the_model_used() -> None:
    passage = ("The pump pressure should stay at 40 psi during normal operation. Check the gauge "
               "daily. The zephyrine valve must be closed before the pump is serviced.")
    hit = make_hit("c1", passage, Anchor("/docs/pump.txt", line_start=3, line_end=5,
                                         char_start=120, char_end=120 + len(passage)))
    other = replace(make_hit("c2", "Granite countertops need sealing once a year.",
                             Anchor("/docs/home.md")), vector=0.6)
    h = Harness([hit, other], "Close the zephyrine valve before servicing the pump [1].")
    answer = h.ask()
    assert answer.found, answer.text
    (citation,) = answer.citations
    assert citation.cited_texts == (
        "The zephyrine valve must be closed before the pump is serviced.",)
    assert citation.spans == ((120 + passage.index("The zephyrine"), 120 + len(passage)),)
