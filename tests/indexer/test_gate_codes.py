"""The relevance gate trusts a code from the question found verbatim in a best passage."""

from __future__ import annotations

import pytest

from indexer.answer.answering import NOT_FOUND_TEXT
from indexer.answer.identifiers import code_in_passages, question_codes
from indexer.records import Anchor
from tests.indexer.test_answering import Harness, make_hit

ROW = "Part | Description | Price (EUR) | Stock\nGK-220 | gasket kit for P-40 housing | 14.90 | 8"


def test_codes_are_tokens_with_a_capital_letter_and_a_digit() -> None:
    assert question_codes("What does the GK-220 kit for the P-40 cost, and is PT-4 or C2 in "
                          "stock? (UTF-8, SHA3, 2024, abc1, plain words)") == [
        "GK-220", "P-40", "PT-4", "C2", "UTF-8", "SHA3"]
    assert code_in_passages("Price of GK-220?", [ROW]) == "GK-220"
    assert code_in_passages("Price of GK-22?", [ROW]) is None  # whole words only
    assert code_in_passages("Price of gk-220?", [ROW]) is None  # not a code: no capital


@pytest.mark.parametrize("on", [True, False])
def test_a_code_in_the_best_passage_passes_the_gate_only_when_on(on: bool) -> None:
    hits = [make_hit("c1", ROW, Anchor("/d/parts.xlsx", page=1, heading_path=("Parts",)),
                     vector=0.45, bm25=6.0, fused=0.033)]
    h = Harness(hits, "The GK-220 gasket kit costs 14.90 EUR [1].", min_relevance=0.5)
    h.answerer.gate_codes = on
    answer = h.ask("What does the GK-220 gasket kit cost?")
    if on:
        assert answer.found and "14.90" in answer.text and h.loads == 1
        assert answer.stats["gate_passed_by_code"] == "GK-220"
    else:
        assert answer.text == NOT_FOUND_TEXT and h.loads == 0
        assert answer.stats["refused_by"] == "relevance_gate"


def test_a_code_absent_from_the_passages_is_still_refused() -> None:
    hits = [make_hit("c1", ROW, Anchor("/d/parts.xlsx"), vector=0.45, bm25=6.0, fused=0.03)]
    h = Harness(hits, "BR-115 costs 22.40 [1].", min_relevance=0.5)
    h.answerer.gate_codes = True
    answer = h.ask("What does the BR-115 bearing cost?")
    assert answer.text == NOT_FOUND_TEXT and h.loads == 0
