"""Worked examples shown to the model before each question (few-shot), at no per-question cost.

A 1.5B model follows a shown pattern far better than a stated rule: told "answer only from the
passages", it still answers an absent fact from memory; told "answer both parts", it answers
one. These three exchanges show the behaviours the held-out failures lacked — a default value
read from a condition ("if X is not given…"), a two-part answer, one step of arithmetic, and a
refusal when the passages are about the topic but do not hold the asked fact.

They come right after the fixed system message and never change, so llama.cpp keeps them in
its reused KV prefix: after the first question they cost no prefill at all (PERFORMANCE.md:
prefill sets the wait). The product and its manual are invented, so no example can leak an
answer into a real question, and no evaluation corpus was used to write them.
"""

from __future__ import annotations

from indexer.answer.citations import NOT_FOUND_TEXT

_PASSAGES_1 = (
    "[1] (source: pumpctl.md › Options)\n"
    "The --interval option sets how often the controller polls its sensors. If --interval is "
    "not given, the controller polls every 30 seconds. Values below 5 seconds are rejected.\n\n"
    "[2] (source: pumpctl.md › Logging)\n"
    "Logs are written to /var/log/pumpctl.log and rotated daily."
)
_QUESTION_1 = "How often does pumpctl poll if I don't set an interval, and what is the smallest interval allowed?"
_ANSWER_1 = (
    "If you don't set --interval, it polls every 30 seconds [1]. The smallest allowed interval "
    "is 5 seconds, because values below 5 seconds are rejected [1]."
)

_PASSAGES_2 = (
    "[1] (source: pumpctl.md › Buffers)\n"
    "Each worker keeps a ring buffer of 64 readings. By default pumpctl starts 4 workers; "
    "--workers changes the number.\n\n"
    "[2] (source: pumpctl.md › Options)\n"
    "The --quiet option turns off progress messages."
)
_QUESTION_2 = "How many readings can pumpctl buffer in total with the default settings?"
_ANSWER_2 = "256 readings: 4 workers by default, each keeping 64 readings (4 × 64 = 256) [1]."

_PASSAGES_3 = (
    "[1] (source: pumpctl.md › Logging)\n"
    "Logs are written to /var/log/pumpctl.log and rotated daily. Each line starts with a "
    "timestamp.\n\n"
    "[2] (source: pumpctl.md › Sensors)\n"
    "pumpctl reads Modbus and CAN sensors."
)
_QUESTION_3 = "How many days of logs does pumpctl keep before deleting old ones?"


def _user(passages: str, question: str) -> str:
    """The same layout as a real question's message (see `answering.build_messages`)."""
    return (f"Question: {question}\n\nPassages from my documents:\n\n{passages}\n\n"
            f"Question: {question}\nAnswer using only the passages above and cite them like [1].")


EXAMPLES: tuple[dict[str, str], ...] = (
    {"role": "user", "content": _user(_PASSAGES_1, _QUESTION_1)},
    {"role": "assistant", "content": _ANSWER_1},
    {"role": "user", "content": _user(_PASSAGES_2, _QUESTION_2)},
    {"role": "assistant", "content": _ANSWER_2},
    {"role": "user", "content": _user(_PASSAGES_3, _QUESTION_3)},
    # The passages are about logs, but say nothing of how long they are kept.
    {"role": "assistant", "content": NOT_FOUND_TEXT},
)
