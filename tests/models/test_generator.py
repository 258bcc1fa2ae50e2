"""Generators: the fake's contract always; the real 0.5B Qwen through llama.cpp (real_models).

Real-model tests stay short (n_ctx 1024, at most 32 new tokens) and never assert on wording.
"""

from __future__ import annotations

import contextlib
import threading
from pathlib import Path

import pytest

from models.errors import ModelError
from models.generator import (
    FakeGenerator,
    Generator,
    LlamaCppGenerator,
    gpu_offload_supported,
    parse_prompt,
    physical_cores,
)

PROMPT = (
    "Answer from the passages.\n"
    "[1] (notes/cooking.md) Pasta should boil for nine minutes. Salt the water first.\n"
    "[2] (docs/python.txt) Python lists are mutable sequences. Tuples are immutable.\n"
    "continued line of passage two about mutable lists\n"
    "Question: Are Python lists mutable sequences?"
)


def _user(text: str) -> list[dict[str, str]]:
    return [{"role": "system", "content": "Be brief."}, {"role": "user", "content": text}]


# ------------------------------------------------------------------------------------ fake


def test_parse_prompt_reads_numbered_passages_and_question() -> None:
    passages, question = parse_prompt(PROMPT)
    assert sorted(passages) == [1, 2]
    assert passages[1].startswith("Pasta should boil")  # "(source)" stripped
    assert passages[2].endswith("about mutable lists")  # continuation line kept
    assert question == "Are Python lists mutable sequences?"
    # without a "Question:" line, the last line outside the passages is the question
    _, fallback = parse_prompt("Context follows.\nWhat is it?\n[1] text")
    assert fallback == "What is it?"


def test_parse_prompt_reads_the_answering_modules_layout() -> None:
    user = (
        "Question: Are Python lists mutable?\n\n"  # asked before the passages and after them
        "Passages from my documents:\n\n"
        "[1] (source: notes (old).md › Cooking)\nPasta should boil for nine minutes.\nSalt it.\n\n"
        "[2] (source: python.txt:10-12)\nPython lists are mutable sequences.\n\n"
        "Question: Are Python lists mutable?\n"
        "Answer using only the passages above and cite them like [1]."
    )
    passages, question = parse_prompt(user)
    assert passages == {
        1: "Pasta should boil for nine minutes.\nSalt it.",
        2: "Python lists are mutable sequences.",
    }
    assert question == "Are Python lists mutable?"  # the instruction line is not the question
    answer = FakeGenerator().answer([{"role": "user", "content": user}])
    assert answer == "Python lists are mutable sequences. [2]"


def test_fake_generator_quotes_best_passage_with_marker() -> None:
    fake = FakeGenerator()
    assert isinstance(fake, Generator)
    pieces = list(fake.stream(_user(PROMPT), max_tokens=100, temperature=0.0))
    assert len(pieces) > 3  # streamed word by word
    assert "".join(pieces) == "Python lists are mutable sequences. [2]"
    stats = fake.last_stats
    assert stats is not None
    assert stats.completion_tokens == len(pieces) and stats.finish_reason == "stop"


def test_fake_generator_says_not_found_without_overlap() -> None:
    text = "[1] (a.txt) Pasta should boil for nine minutes.\nQuestion: Who won the 1998 world cup?"
    answer = "".join(FakeGenerator().stream(_user(text), max_tokens=50, temperature=0.0))
    assert answer == FakeGenerator.NOT_FOUND


def test_fake_generator_max_tokens_stop_and_cancel() -> None:
    fake = FakeGenerator()
    assert len(list(fake.stream(_user(PROMPT), max_tokens=2, temperature=0.0))) == 2
    assert fake.last_stats is not None and fake.last_stats.finish_reason == "length"
    stopped = "".join(fake.stream(_user(PROMPT), max_tokens=50, temperature=0.0, stop=["mutable"]))
    assert stopped == "Python lists are "
    cancel = threading.Event()
    got = []
    for piece in fake.stream(_user(PROMPT), max_tokens=50, temperature=0.0, cancel=cancel):
        got.append(piece)
        cancel.set()
    assert len(got) == 1
    assert fake.last_stats is not None and fake.last_stats.finish_reason == "cancelled"


def test_fake_generator_reports_shared_prefix_as_cached() -> None:
    fake = FakeGenerator()
    list(fake.stream(_user(PROMPT), max_tokens=5, temperature=0.0))
    list(fake.stream(_user(PROMPT.replace("Pasta", "Rice")), max_tokens=5, temperature=0.0))
    stats = fake.last_stats
    assert stats is not None and 0 < stats.cached_prompt_tokens < stats.prompt_tokens


def test_physical_cores_is_sane() -> None:
    assert 1 <= physical_cores() <= (__import__("os").cpu_count() or 1)
    assert isinstance(gpu_offload_supported(), bool)


# ------------------------------------------------------------------------------------ real


@pytest.fixture(scope="module")
def qwen(qwen_small_path: Path) -> LlamaCppGenerator:
    generator = LlamaCppGenerator(qwen_small_path, n_ctx=1024, model_id="qwen-small")
    yield generator  # type: ignore[misc]
    generator.close()


@pytest.mark.real_models
def test_real_generator_streams_text(qwen: LlamaCppGenerator) -> None:
    assert isinstance(qwen, Generator)
    pieces = list(qwen.stream(_user(PROMPT), max_tokens=24, temperature=0.0))
    assert pieces and all(isinstance(p, str) for p in pieces)
    assert "".join(pieces).strip()
    stats = qwen.last_stats
    assert stats is not None
    assert stats.prompt_tokens > 40 and 1 <= stats.completion_tokens <= 24
    assert stats.time_to_first_token is not None and stats.time_to_first_token > 0
    assert qwen.count_tokens("Hello world") in (2, 3)


@pytest.mark.real_models
def test_real_generator_respects_max_tokens(qwen: LlamaCppGenerator) -> None:
    msgs = _user("Write a long story about a lighthouse keeper, at least 300 words.")
    list(qwen.stream(msgs, max_tokens=6, temperature=0.0))
    stats = qwen.last_stats
    assert stats is not None
    assert stats.completion_tokens == 6 and stats.finish_reason == "length"


@pytest.mark.real_models
def test_real_generator_cancel_stops_early_and_releases(qwen: LlamaCppGenerator) -> None:
    cancel = threading.Event()
    msgs = _user("Count from one to one hundred in words, separated by commas.")
    got = []
    for piece in qwen.stream(msgs, max_tokens=32, temperature=0.0, cancel=cancel):
        got.append(piece)
        cancel.set()
    assert len(got) == 1
    stats = qwen.last_stats
    assert stats is not None and stats.finish_reason == "cancelled"
    assert stats.completion_tokens <= 3
    # the lock was released: the next call runs
    assert list(qwen.stream(msgs, max_tokens=2, temperature=0.0))


class _CancelAfterLooks(threading.Event):
    """A cancel Event that turns itself on after `n` looks: cancels at a known point."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.looks_left = n

    def is_set(self) -> bool:
        self.looks_left -= 1
        return self.looks_left < 0 or super().is_set()


@pytest.mark.real_models
def test_real_generator_cancels_during_prefill_and_keeps_the_work(qwen: LlamaCppGenerator) -> None:
    long_prompt = _user(
        "Unique prefill test. "
        + " ".join(f"Fact {i}: item {i} is stored on shelf {i % 7}." for i in range(25))
    )
    cancel = _CancelAfterLooks(3)  # the start check and two prefill slices, then Stop
    assert list(qwen.stream(long_prompt, max_tokens=4, temperature=0.0, cancel=cancel)) == []
    stats = qwen.last_stats
    assert stats is not None and stats.finish_reason == "cancelled"
    assert stats.completion_tokens == 0 and stats.prompt_tokens > 3 * 128
    # what was evaluated before Stop is reused by the next call with the same prompt
    list(qwen.stream(long_prompt, max_tokens=1, temperature=0.0))
    again = qwen.last_stats
    assert again is not None and again.cached_prompt_tokens >= 2 * 128
    # a cancel set before the call starts does nothing at all
    already = threading.Event()
    already.set()
    assert list(qwen.stream(long_prompt, max_tokens=4, temperature=0.0, cancel=already)) == []
    assert qwen.last_stats is not None and qwen.last_stats.prompt_tokens == 0


@pytest.mark.real_models
def test_real_generator_reuses_the_cached_system_prefix(qwen: LlamaCppGenerator) -> None:
    system = (
        "You are Cairn's test assistant. Use only the numbered passages, cite them as [n], "
        "and say you could not find it when they do not contain the answer. " * 2
    )
    sys_tokens = qwen.count_tokens(system)
    first_msgs = [{"role": "system", "content": system}, {"role": "user", "content": PROMPT}]
    other = PROMPT.replace("nine minutes", "eleven minutes").replace("Question:", "Q:")
    second_msgs = [{"role": "system", "content": system}, {"role": "user", "content": other}]
    list(qwen.stream(first_msgs, max_tokens=4, temperature=0.0))
    first = qwen.last_stats
    list(qwen.stream(second_msgs, max_tokens=4, temperature=0.0))
    second = qwen.last_stats
    assert first is not None and second is not None
    assert first.cached_prompt_tokens < sys_tokens  # new system prompt: evaluated in full
    assert second.cached_prompt_tokens >= sys_tokens  # same prefix: reused from the KV cache
    assert second.prompt_tokens - second.cached_prompt_tokens < first.prompt_tokens - sys_tokens


@pytest.mark.real_models
def test_real_generator_rejects_prompt_longer_than_context(qwen: LlamaCppGenerator) -> None:
    huge = _user("word " * 3000)
    with (
        pytest.raises(ModelError, match="context"),
        contextlib.closing(qwen.stream(huge, max_tokens=4, temperature=0.0)) as stream,
    ):
        list(stream)
    assert list(qwen.stream(_user("Say hi."), max_tokens=2, temperature=0.0))
