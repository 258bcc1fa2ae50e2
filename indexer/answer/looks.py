"""One answer, several model calls: a second look after a refusal, a two-part question's second
part. The reader waits for all of them, so their timings and token counts add up into the
answer's stats (first-token time stays the first call's when its words were already shown);
a call whose words are not shown is run to its end quietly.
"""

from __future__ import annotations

from collections.abc import Generator

from indexer.answer.answer_types import StreamItem


def drain(completion: Generator[StreamItem, None, str]) -> str:
    """Run a completion to its end without passing on its tokens or stages; return its text."""
    while True:
        try:
            next(completion)
        except StopIteration as done:
            return done.value


def add_first_look(stats: dict[str, float | int | str | None],
                   first: dict[str, float | int | str | None]) -> None:
    """Make a second look's timings and token counts cover both looks, as the user waited."""
    def number(value: float | str | None) -> float:
        return float(value) if isinstance(value, (int, float)) else 0.0

    waited = number(first.get("generate_s"))
    stats["ttft_s"] = round(waited + number(stats.get("ttft_s")), 3)
    stats["generate_s"] = round(waited + number(stats.get("generate_s")), 3)
    for name in ("prompt_tokens", "cached_prompt_tokens", "completion_tokens"):
        if first.get(name) is not None or stats.get(name) is not None:
            stats[name] = int(number(first.get(name)) + number(stats.get(name)))
    for name in ("prefill_seconds", "generate_seconds"):
        if first.get(name) is not None or stats.get(name) is not None:
            stats[name] = number(first.get(name)) + number(stats.get(name))
