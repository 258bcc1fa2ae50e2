"""`strict_numbers` (`indexer/answer/numbers.py`): a number from memory is not an answer.

Pinned: an answer whose number the passages do not hold is refused, but numbers the passages
hold (in any thousands format), one arithmetic step on them (the questions ask for it), binary
size and time unit conversions, version strings, citation markers and small counts are not
"invented"; and the Answerer refuses with `refused_by == "invented_number"` only when asked.
"""

from __future__ import annotations

from indexer.answer.answering import Answer, Answerer
from indexer.answer.citations import NOT_FOUND_TEXT
from indexer.answer.numbers import derivable, invented_numbers, numbers_in
from indexer.records import Anchor, SearchHit

PASSAGE = ("The default cache size is 2,000 pages. Each page is 4096 bytes. "
           "The limit was raised in version 3.35.0.")


def test_numbers_in_reads_values_not_markers_versions_or_enumerators() -> None:
    assert numbers_in("1. First [2] item: 2,000 pages, 0.5 s, version 3.35.0") == {2000, 0.5}


def test_one_arithmetic_step_and_unit_conversions_are_derived() -> None:
    known = numbers_in(PASSAGE)
    assert derivable(8192000, known)  # 2000 × 4096
    assert derivable(4, known)  # 4096 bytes = 4 KiB
    assert not derivable(1000, known) and not derivable(999999, known)


def test_an_invented_number_is_flagged_and_an_honest_one_is_not() -> None:
    assert invented_numbers("The default is 1000 pages [1].", [PASSAGE]) == [1000]
    assert invented_numbers("The default is 2000 pages, 8192000 bytes in all [1].", [PASSAGE]) == []
    assert invented_numbers("It was raised in 3.35.0, for 3 tables [1].", [PASSAGE]) == []
    assert invented_numbers("Use 50 pages.", [PASSAGE], question="Can I use 50 pages?") == []


def _answer(reply: str, strict: bool) -> Answer:
    hit = SearchHit(chunk_id="c1", anchor=Anchor("/d/cache.md"), text=PASSAGE, snippet="",
                    fused=0.03, bm25=2.0, vector=0.8)

    class Reply:
        model_id, context_size, last_stats = "r", 4096, None

        def count_tokens(self, text: str) -> int:
            return len(text.split())

        def stream(self, messages, **_kw):  # type: ignore[no-untyped-def]
            yield reply

    answerer = Answerer(lambda q, k: [hit], Reply, top_k=4, context_passages=3,  # type: ignore[arg-type]
                        min_relevance=0.5, max_answer_tokens=64, temperature=0.0,
                        count_tokens=lambda t: len(t.split()), strict_numbers=strict)
    *_, final = answerer.stream("What is the default cache size in pages?")
    assert isinstance(final, Answer)
    return final


def test_the_answerer_refuses_an_invented_number_only_when_strict() -> None:
    reply = "The default cache size is 1000 pages [1]. Each page is 4096 bytes [1]."
    loose, strict = _answer(reply, False), _answer(reply, True)
    assert loose.found, "one unsupported sentence of two: kept without strict_numbers"
    assert not strict.found and strict.text == NOT_FOUND_TEXT
    assert strict.stats["refused_by"] == "invented_number" and strict.stats["invented"] == "1000"
    assert _answer("The default cache size is 2,000 pages [1].", True).found
