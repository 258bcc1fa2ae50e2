"""Sentence focus (`indexer/answer/focus.py`) and quote-first answers (`indexer/answer/quotes.py`).

What is pinned, and why users rely on it:
- focus keeps the sentence that answers and its neighbours, in document order, and cuts the
  rest: about half the passage tokens reach the model (prefill sets the wait on a CPU), every
  passage keeps at least one sentence (the `[n]` numbers stay those of the sources shown);
- quotes are checked word for word (case, spacing and curly quotes aside): an invented quote
  never becomes a citation, a quote found in another passage than the one named is re-pointed,
  and an answer with no checked quote is the "couldn't find" reply;
- while the quotes are written nothing is streamed; the answer after "Answer:" streams;
- a reply that ignores the quote-first shape is treated as a free answer, not lost;
- the Answerer with `answer_format="quotes"` / `"quotes_strict"` and `passage_focus` set, on the
  deterministic FakeGenerator and on a scripted one (the real-model runs are in docs/quality.md).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator, Sequence

import pytest

from indexer.answer.answering import Answer, Answerer, AnswerToken, build_messages
from indexer.answer.citations import NOT_FOUND_TEXT
from indexer.answer.focus import GAP, focus_texts, split_units
from indexer.answer.quotes import (
    GRAMMAR,
    SYSTEM_PROMPT_QUOTES,
    AnswerFilter,
    parse_reply,
    with_quote_citations,
)
from indexer.records import Anchor, SearchHit
from models.generator import FakeGenerator, GenerationStats

FILLER = [
    "The table below lists every pragma that changes how the journal is written.",
    "Older releases used a different layout for this file.",
    "See the section on locking for how readers and writers share the database.",
    "The rollback journal is deleted when the transaction commits.",
    "Applications rarely need to change any of these settings.",
]
ANSWER = "The default cache size is 2000 pages unless the build sets another value."
AFTER = "A negative value sets the size in kibibytes instead of pages."
QUESTION = "What is the default cache size?"


def words(text: str) -> int:
    return len(text.split())


def test_split_units_splits_sentences_paragraphs_and_list_items() -> None:
    text = ("First sentence. Second one!\nA heading\n\n  - a list item; then more; And: Next"
            "\n  - another item")
    units = [text[s:e] for s, e in split_units(text)]
    assert units == ["First sentence.", "Second one!", "A heading", "- a list item; then more;",
                     "And:", "Next", "  - another item"]


def test_a_line_wrapped_mid_sentence_stays_one_unit() -> None:
    text = ("Names listed in a nonlocal statement must refer to\npre-existing bindings in an "
            "enclosing scope.\nThe scope is searched outwards.")
    units = [text[s:e] for s, e in split_units(text)]
    assert units == ["Names listed in a nonlocal statement must refer to\npre-existing bindings "
                     "in an enclosing scope.", "The scope is searched outwards."]


def test_focus_keeps_the_answer_with_its_neighbours_and_halves_the_tokens() -> None:
    before = FILLER[:3]
    passage = " ".join([*before, ANSWER, AFTER, *FILLER[3:]])
    other = " ".join(FILLER[::-1] + FILLER)
    texts = [other, passage]
    out = focus_texts(QUESTION, texts, count_tokens=words, keep=0.45, min_tokens=10)
    assert ANSWER in out[1] and AFTER in out[1], "the answer and the sentence after it"
    assert FILLER[2] in out[1], "the sentence before it (neighbour)"
    assert out[1].index(FILLER[2]) < out[1].index(ANSWER) < out[1].index(AFTER)
    assert FILLER[0] not in out[1] and out[1].startswith("…")
    assert out[0], "every passage keeps at least its best sentence"
    total_in, total_out = sum(map(words, texts)), sum(map(words, out))
    assert total_out <= 0.55 * total_in, (total_in, total_out)


def test_focus_marks_gaps_and_leaves_short_passages_whole() -> None:
    short = [ANSWER, AFTER]
    assert focus_texts(QUESTION, short, count_tokens=words, min_tokens=160) == short
    long = " ".join([ANSWER, *FILLER, *FILLER, "The default cache size can be changed later."])
    (out,) = focus_texts(QUESTION, [long], count_tokens=words, keep=0.3, min_tokens=10,
                         neighbours=0)
    assert out.startswith(ANSWER) and GAP.strip() in out
    assert out.endswith("The default cache size can be changed later.")


def test_focus_uses_the_similarity_when_words_do_not_match() -> None:
    plain = "If you omit it, the value 2000 is used."
    text = " ".join([*FILLER, plain, *FILLER])

    def similarity(question: str, units: Sequence[str]) -> list[float]:
        return [0.9 if u == plain else 0.1 for u in units]

    (out,) = focus_texts("How many pages by default?", [text], count_tokens=words, keep=0.2,
                         min_tokens=5, neighbours=0, similarity=similarity)
    assert plain in out


PASSAGES = [
    "Vacuum rebuilds the database file. It repacks it into a minimal amount of disk space.",
    'A comma (",") is used as the separator if Y is omitted.',
]


def test_parse_reply_checks_quotes_word_for_word() -> None:
    raw = ('Quotes:\n[2] "a  COMMA (”,”) is used as the separator if Y is omitted."\n'
           '[1] "Vacuum makes queries twice as fast."\n'
           "Answer: A comma [2].")
    reply = parse_reply(raw, PASSAGES)
    assert [q.found_in for q in reply.quotes] == [2, None], "an invented quote is not found"
    assert reply.cited == (2,) and reply.answer == "A comma [2]."


def test_parse_reply_repoints_a_quote_to_the_passage_that_holds_it() -> None:
    reply = parse_reply('Quotes:\n- "It repacks it into a minimal amount of disk space." [2]\n'
                        "Answer: It repacks the file [2].", PASSAGES)
    assert [(q.claimed, q.found_in) for q in reply.quotes] == [(2, 1)]
    assert with_quote_citations(reply.answer, reply) == "It repacks the file [1]."


def test_quote_citations_are_added_when_the_answer_has_none() -> None:
    reply = parse_reply('Quotes:\n[2] "is used as the separator if Y is omitted"\n'
                        "Answer: The separator is a comma.", PASSAGES)
    assert with_quote_citations(reply.answer, reply) == "The separator is a comma [2]."


def test_a_reply_without_the_shape_is_a_free_answer() -> None:
    reply = parse_reply("The separator is a comma [2].", PASSAGES)
    assert not reply.shaped and reply.answer == "The separator is a comma [2]."


def test_answer_filter_streams_only_the_answer() -> None:
    f = AnswerFilter()
    pieces = ["Quo", "tes:\n[1] \"x", " y\"\nAns", "wer: The", " answer."]
    assert "".join(f.feed(p) for p in pieces) == "The answer."
    free = AnswerFilter()
    assert "".join(free.feed(p) for p in ["The valve ", "is closed [1]."]) == \
        "The valve is closed [1]."


def hit(n: int, text: str, vector: float = 0.8) -> SearchHit:
    return SearchHit(chunk_id=f"c{n}", anchor=Anchor(f"/docs/{n}.md"), text=text,
                     snippet=text[:30], fused=0.03, bm25=2.0, vector=vector)


class Scripted:
    model_id = "scripted"
    context_size = 4096

    def __init__(self, reply: str) -> None:
        self.reply = reply
        self.grammars: list[str | None] = []
        self.prompts: list[str] = []
        self.last_stats: GenerationStats | None = None

    def count_tokens(self, text: str) -> int:
        return words(text)

    def stream(self, messages: list[dict[str, str]], *, max_tokens: int, temperature: float,
               cancel: threading.Event | None = None, stop: list[str] | None = None,
               grammar: str | None = None) -> Iterator[str]:
        self.grammars.append(grammar)
        self.prompts.append(messages[-1]["content"])
        yield from re.findall(r"\S+\s*", self.reply)


def answerer(gen: object, hits: list[SearchHit], **kw: object) -> Answerer:
    return Answerer(lambda q, k: hits[:k], lambda: gen,  # type: ignore[arg-type,return-value]
                    top_k=8, context_passages=5, min_relevance=0.5, max_answer_tokens=256,
                    temperature=0.0, count_tokens=words, second_look=False, **kw)  # type: ignore[arg-type]


def final(items: list[object]) -> Answer:
    assert isinstance(items[-1], Answer)
    return items[-1]


@pytest.mark.parametrize("fmt", ["quotes", "quotes_strict"])
def test_quote_first_answers_cite_the_checked_quote(fmt: str) -> None:
    hits = [hit(1, PASSAGES[0]), hit(2, PASSAGES[1])]
    gen = Scripted('Quotes:\n[2] "A comma (",") is used as the separator if Y is omitted."\n'
                   "Answer: A comma is the separator when Y is omitted [2].")
    items = list(answerer(gen, hits, answer_format=fmt).stream("What separator if Y is omitted?"))
    answer = final(items)
    assert answer.found and [c.chunk_id for c in answer.citations] == ["c2"]
    streamed = "".join(i.text for i in items if isinstance(i, AnswerToken))
    assert "Quotes" not in streamed and streamed.startswith("A comma")
    assert answer.stats["quotes_verified"] == 1
    assert gen.grammars == [GRAMMAR if fmt == "quotes_strict" else None]


def test_an_answer_without_a_checked_quote_is_refused() -> None:
    hits = [hit(1, PASSAGES[0]), hit(2, PASSAGES[1])]
    gen = Scripted('Quotes:\n[1] "Vacuum doubles the speed of every query."\n'
                   "Answer: Vacuum doubles query speed [1].")
    answer = final(list(answerer(gen, hits, answer_format="quotes").stream("Is vacuum fast?")))
    assert not answer.found and answer.text == NOT_FOUND_TEXT
    assert answer.stats["refused_by"] == "no_quote" and answer.citations == ()


def test_the_fake_generator_speaks_the_quote_shape() -> None:
    hits = [hit(1, "The zephyrine valve must be closed before the pump is serviced."),
            hit(2, "Granite countertops need sealing once a year.")]
    answer = final(list(answerer(FakeGenerator(), hits, answer_format="quotes")
                        .stream("When must the zephyrine valve be closed?")))
    assert answer.found and answer.citations[0].chunk_id == "c1"
    assert answer.stats["quotes_verified"] == 1


def test_focused_passages_reach_the_prompt_and_the_stats() -> None:
    long = " ".join([*FILLER, ANSWER, AFTER, *(FILLER * 6)])
    hits = [hit(1, long), hit(2, " ".join(FILLER * 4))]
    gens = {mode: Scripted(f"{ANSWER} [1]") for mode in ("chunks", "sentences")}
    answers = {
        mode: final(list(answerer(gen, hits, passage_focus=mode, focus_keep=0.3)
                         .stream(QUESTION)))
        for mode, gen in gens.items()
    }
    assert answers["sentences"].found and answers["sentences"].citations[0].chunk_id == "c1"
    assert answers["sentences"].citations[0].text == long, "the source shown stays whole"
    assert ANSWER in gens["sentences"].prompts[0] and "…" in gens["sentences"].prompts[0]
    tokens = {m: int(a.stats["passage_tokens"] or 0) for m, a in answers.items()}
    assert tokens["sentences"] <= 0.4 * tokens["chunks"], tokens


def test_build_messages_asks_for_quotes_only_when_told() -> None:
    hits = [hit(1, PASSAGES[0])]
    plain = build_messages("q?", hits)
    quoted = build_messages("q?", hits, texts=["shown text"], quotes=True)
    assert quoted[0]["content"] == SYSTEM_PROMPT_QUOTES != plain[0]["content"]
    assert "shown text" in quoted[1]["content"] and PASSAGES[0] not in quoted[1]["content"]


def test_the_best_ranked_passage_stays_whole_when_it_fits() -> None:
    """It answers ~95 % of questions, often in words the question does not use."""
    first = " ".join(["The excess columns are ignored.", *FILLER])
    rest = [" ".join(FILLER * 3) + " " + ANSWER for _ in range(3)]
    out = focus_texts(QUESTION, [first, *rest], count_tokens=words, keep=0.35, min_tokens=10)
    assert out[0] == first
    assert all(ANSWER in o for o in out[1:]) and sum(map(words, out)) < 0.5 * sum(
        map(words, [first, *rest]))
    over = focus_texts(QUESTION, [first, *rest], count_tokens=words, keep=0.08, min_tokens=10)
    assert over[0] != first, "a first passage larger than the budget is cut like the others"


def test_worked_examples_sit_in_the_cached_prefix() -> None:
    """Between the system message and the question, identical for every question."""
    from indexer.answer.examples import EXAMPLES

    a = build_messages("First question?", [hit(1, PASSAGES[0])], examples=True)
    b = build_messages("Second question?", [hit(2, PASSAGES[1])], examples=True)
    assert a[1:-1] == b[1:-1] == list(EXAMPLES) and a[0] == b[0]
    assert [m["role"] for m in a[1:-1]] == ["user", "assistant"] * 3
    assert EXAMPLES[-1]["content"] == NOT_FOUND_TEXT, "one example shows the refusal"
    assert build_messages("q?", [hit(1, PASSAGES[0])])[1]["role"] == "user"
