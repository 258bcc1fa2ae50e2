"""`two_part_answers` (`indexer/answer/two_part.py`): a two-part question, one part at a time.

Pinned: which questions split (two question sentences; ", and <question word>") and which stay
whole (a noun pair such as "sum() and total()", a statement glued to a question); the Answerer
makes one completion per part over the same prompt up to the part line (so llama.cpp's cached
prefix covers the passages), streams both, keeps the first part's wait as the first-token time,
and says which part the passages did not answer; off by default, one completion as before.
"""

from __future__ import annotations

import threading

import pytest

from indexer.answer.answering import Answer, Answerer, AnswerToken
from indexer.answer.looks import add_first_look
from indexer.answer.two_part import split_parts
from indexer.records import Anchor, SearchHit


@pytest.mark.parametrize(("question", "parts"), [
    ("Is memory-mapped I/O used by default, and how do I turn it on?",
     ["Is memory-mapped I/O used by default?", "How do I turn it on?"]),
    ("Can I run INSERT against a view? If not, what is the workaround?",
     ["Can I run INSERT against a view?", "If not, what is the workaround?"]),
    (("I import a CSV file into a table that exists. What does .import do with the first "
      "line, and how do I avoid it?"),
     ["What does .import do with the first line?", "How do I avoid it?"]),
    ("In a recursive CTE, what does LIMIT 0 do, and what does a negative LIMIT do?",
     ["In a recursive CTE, what does LIMIT 0 do?", "What does a negative LIMIT do?"]),
])
def test_two_part_questions_split(question: str, parts: list[str]) -> None:
    assert split_parts(question) == parts


@pytest.mark.parametrize("question", [
    "Over a group with no non-NULL values, what do sum() and total() return?",
    "What happens to the extra and the missing fields?",
    "I set mmap_size and how much address space is used?",  # the left side asks nothing
    "Which separator does group_concat() use?",
    "Is it on? Is it off? Is it both?",  # three questions: not a two-part question
    "sqlite3.connect() opens a file. Does it create the file when missing?",
])
def test_one_questions_stay_whole(question: str) -> None:
    assert split_parts(question) == []


PASSAGE = ("Memory-mapped I/O is off by default. To turn it on, set PRAGMA mmap_size to the "
           "number of bytes to map.")
QUESTION = "Is memory-mapped I/O used by default, and how do I turn it on?"


def _run(replies: list[str], two_part: bool, follow_up: bool = False,
         cancel: threading.Event | None = None,
         ) -> tuple[Answer, list[list[dict[str, str]]], str]:
    hit = SearchHit(chunk_id="c1", anchor=Anchor("/d/mmap.md"), text=PASSAGE, snippet="",
                    fused=0.03, bm25=2.0, vector=0.8)
    prompts: list[list[dict[str, str]]] = []

    class Replies:
        model_id, context_size, last_stats = "r", 4096, None

        def stream(self, messages, **_kw):  # type: ignore[no-untyped-def]
            prompts.append(messages)
            reply = replies[len(prompts) - 1]
            if reply == "!stop" and cancel is not None:  # the user presses Stop mid-reply
                cancel.set()
                reply = "To turn it on, set PRAGMA mmap_size to the number"
            if reply == "!fail":
                raise ValueError("Requested tokens exceed context window of 4096")
            yield reply

    answerer = Answerer(lambda q, k: [hit], Replies, top_k=4, context_passages=3,  # type: ignore[arg-type]
                        min_relevance=0.5, max_answer_tokens=64, temperature=0.0,
                        count_tokens=lambda t: len(t.split()), second_look=False,
                        two_part_answers=two_part, two_part_follow_up=follow_up)
    items = list(answerer.stream(QUESTION, cancel=cancel))
    final = items[-1]
    assert isinstance(final, Answer)
    streamed = "".join(i.text for i in items if isinstance(i, AnswerToken))
    return final, prompts, streamed


def test_each_part_is_its_own_completion_over_the_same_prefix() -> None:
    answer, prompts, streamed = _run(
        ["Memory-mapped I/O is off by default [1].",
         "To turn it on, set PRAGMA mmap_size to the number of bytes to map [1]."], True)
    assert len(prompts) == 2
    first, second = (p[-1]["content"] for p in prompts)
    assert "Answer only this part of the question now: Is memory-mapped I/O used by default?" \
        in first
    assert "Answer only this part of the question now: How do I turn it on?" in second
    cut = first.index("Answer only this part")
    assert second[:cut] == first[:cut], "the passages and the full question are one prefix"
    assert prompts[0][0] == prompts[1][0]  # the same system message
    assert answer.found
    assert "off by default" in answer.text and "PRAGMA mmap_size" in answer.text
    assert [c.number for c in answer.citations] == [1]
    assert "off by default" in streamed and "PRAGMA mmap_size" in streamed
    assert answer.stats["parts"] == 2 and answer.stats["parts_unanswered"] == 0


def test_a_part_the_passages_do_not_answer_is_named() -> None:
    answer, _, _ = _run(["Memory-mapped I/O is off by default [1].",
                         "I couldn't find this in your documents."], True)
    assert answer.found and "off by default" in answer.text
    assert "couldn't find" not in answer.text
    assert answer.text.endswith("(The passages do not answer this part: How do I turn it on?)")
    both, _, _ = _run(["I couldn't find this in your documents."] * 2, True)
    assert not both.found


def test_off_by_default_one_completion() -> None:
    answer, prompts, _ = _run(["Memory-mapped I/O is off by default [1]."], False)
    assert len(prompts) == 1 and "Answer only this part" not in prompts[0][-1]["content"]
    assert answer.found and "parts" not in answer.stats


# `two_part_follow_up`: the one-call answer stands; the second part is asked after it.
FIRST = "Memory-mapped I/O is off by default [1]."


def test_follow_up_appends_the_checked_second_part() -> None:
    answer, prompts, streamed = _run(
        [FIRST, "To turn it on, set PRAGMA mmap_size to the number of bytes to map [1]."],
        False, follow_up=True)
    assert len(prompts) == 2
    assert prompts[1][: len(prompts[0])] == prompts[0], "the follow-up continues the first prompt"
    assert prompts[1][-2] == {"role": "assistant", "content": FIRST}
    assert "How do I turn it on?" in prompts[1][-1]["content"]
    assert answer.found
    assert answer.text.startswith("Memory-mapped I/O is off by default")
    assert "PRAGMA mmap_size" in answer.text and "PRAGMA mmap_size" in streamed
    assert answer.stats["second_part"] == "added"


@pytest.mark.parametrize("second", [
    "Memory-mapped I/O is off by default [1].",  # repeats the first answer: nothing new
    "The passages clearly explain the feature in great detail [1].",  # about the passages
    "To turn it on, recompile SQLite with the MMAP_ENABLE option [1].",  # not in the passage
    "I couldn't find this in your documents.",
])
def test_follow_up_appends_nothing_that_repeats_or_is_unsupported(second: str) -> None:
    answer, prompts, streamed = _run([FIRST, second], False, follow_up=True)
    assert len(prompts) == 2
    assert answer.found and answer.text == FIRST
    assert streamed == FIRST
    assert answer.stats["second_part"] == "nothing_new"


def test_no_follow_up_after_a_refusal() -> None:
    answer, prompts, _ = _run(["I couldn't find this in your documents."] * 2, False,
                              follow_up=True)
    assert len(prompts) == 1 and not answer.found


def test_no_follow_up_for_an_answer_the_checks_refuse() -> None:
    # Mostly unsupported (a number from memory): appending checked sentences must not rescue it.
    answer, prompts, _ = _run(["Memory-mapped I/O needs 256 MB of RAM [1].",
                               "To turn it on, set PRAGMA mmap_size to the number of bytes [1]."],
                              False, follow_up=True)
    assert len(prompts) == 1
    assert not answer.found and answer.stats["refused_by"] == "grounding"


def test_stop_or_a_model_error_during_the_follow_up_keeps_the_first_answer() -> None:
    stopped, prompts, streamed = _run([FIRST, "!stop"], False, follow_up=True,
                                      cancel=threading.Event())
    assert len(prompts) == 2
    assert stopped.found and stopped.text == FIRST and streamed == FIRST
    assert stopped.stats["second_part"] == "cancelled"
    failed, prompts, _ = _run([FIRST, "!fail"], False, follow_up=True)
    assert len(prompts) == 2
    assert failed.found and failed.text == FIRST and failed.stats["second_part"] == "failed"


def test_the_waits_of_both_calls_add_up() -> None:
    stats: dict[str, float | int | str | None] = {
        "ttft_s": 0.5, "generate_s": 2.0, "prompt_tokens": 70, "completion_tokens": 30,
        "prefill_seconds": 0.4, "generate_seconds": 1.5}
    first: dict[str, float | int | str | None] = {
        "ttft_s": 9.0, "generate_s": 12.0, "prompt_tokens": 1100, "completion_tokens": 60,
        "prefill_seconds": 8.5, "generate_seconds": 3.0}
    add_first_look(stats, first)
    assert stats["generate_s"] == 14.0 and stats["prompt_tokens"] == 1170
    assert stats["completion_tokens"] == 90
    assert stats["prefill_seconds"] == 8.9 and stats["generate_seconds"] == 4.5
