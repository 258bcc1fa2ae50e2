"""Two-part questions, answered one part at a time (setting `two_part_answers`).

Why: on unseen manuals the 1.5B model often answers the first half of "what happens when X, and
how do I avoid it?" and stops (8 of the 35 failed answerable questions of the held-out SQLite
run; docs/quality.md). Asked for one part at a time it has one thing to find. Each part is a
second completion over the *same* prompt up to its last line — the full question stays at the
top and the passages are unchanged — so llama.cpp reuses the cached prefix and a part costs its
few new tokens of prefill plus its answer, not another read of the passages.

The split is deliberately narrow, so that a question that is one question is never cut:
- two question sentences ("Can I …? If not, what is the workaround?"), or
- one question with ", and" / " and" followed by a question word or an auxiliary verb that starts
  a second clause ("…by default, and how do I turn it on?"); "what do sum() and total() return?"
  is one question (no question word after "and").
Statements before the question ("My table uses X. What …") are context, kept in the full question.

`two_part_follow_up` (a second way, tried after the first lost on the dev split): the question
is answered in one call exactly as without it, then the model is asked, in the same
conversation, for the second part alone. Its reply is the continuation of the cached prompt
*and* of its own first answer, so it costs a few dozen tokens of prefill, and it knows what it
already said. Only the follow-up's sentences that the passages support and that add words the
first answer lacks are appended: the one-call answer is never changed or lost.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from indexer.answer.citations import (
    NOT_FOUND_TEXT,
    check_grounding,
    content_words,
    is_refusal,
    sentence_pieces,
)

_STARTS_CLAUSE = (
    r"(?:what|which|how|why|when|where|who|whom|whose|is|are|was|were|does|do|did|can|could|"
    r"should|will|would|may|might|has|have|must|in\s+which|at\s+what)\b"
)
_AND_CLAUSE = re.compile(rf",?\s+and\s+(?={_STARTS_CLAUSE})", re.IGNORECASE)


def _sentences(text: str) -> list[str]:
    """Sentences by end punctuation; a dot inside a token (sqlite3.connect, .import, 3.35)
    is not an end, because the regex only splits where punctuation is followed by space."""
    out: list[str] = []
    start = 0
    for m in re.finditer(r"[.?!]+(?=\s|$)", text):
        piece = text[start:m.end()].strip()
        if piece:
            out.append(piece)
        start = m.end()
    rest = text[start:].strip()
    if rest:
        out.append(rest)
    return out


def _as_question(part: str) -> str:
    part = part.strip().rstrip("?.,; ").strip()
    return part[:1].upper() + part[1:] + "?" if part else ""


def split_parts(question: str) -> list[str]:
    """The two parts of a two-part question, each as a question; [] when it is one question.

    >>> split_parts("Is memory-mapped I/O used by default, and how do I turn it on?")
    ['Is memory-mapped I/O used by default?', 'How do I turn it on?']
    >>> split_parts("Over a group with no non-NULL values, what do sum() and total() return?")
    []
    """
    sentences = _sentences(question.strip())
    asked = [s for s in sentences if s.endswith("?")]
    if len(asked) == 2 and sentences[-1] == asked[1]:
        return [_as_question(asked[0]), _as_question(asked[1])]
    if len(asked) != 1 or sentences[-1] != asked[0]:
        return []
    last = asked[0]
    pieces = _AND_CLAUSE.split(last, maxsplit=1)
    if len(pieces) != 2:
        return []
    left, right = pieces
    # The left side must itself ask something (not "I set X and how…" glued to a statement):
    # a question word or auxiliary somewhere in it, and at least three words on each side.
    if not re.search(rf"\b{_STARTS_CLAUSE}", left, re.IGNORECASE):
        return []
    if len(left.split()) < 3 or len(right.split()) < 3:
        return []
    return [_as_question(left), _as_question(right)]


def part_instruction(part: str) -> str:
    """The line that asks for one part, after the full question at the end of the prompt."""
    return f"\nAnswer only this part of the question now: {part}"


def unanswered_note(parts: list[str]) -> str:
    """The line added to an answer when the passages answered only some of its parts: the
    reader must not take a half answer for a whole one."""
    listed = " ".join(parts)
    return f"(The passages do not answer this part: {listed})"


def follow_up_turns(first_reply: str, part: str) -> list[dict[str, str]]:
    """The model's first answer and the request for the second part, after the first prompt."""
    return [
        {"role": "assistant", "content": first_reply.strip()},
        {"role": "user", "content": (
            f"Now answer only this part of my question, from the passages: {part}\n"
            "Do not repeat your answer above. Cite the passages like [1]. If the passages do "
            f"not answer this part, reply exactly: {NOT_FOUND_TEXT}")},
    ]


def follow_up_addition(
    reply: str,
    first: str,
    passages: Sequence[str],
    part: str,
    similarity: Callable[[str, Sequence[str]], list[float]] | None = None,
) -> str:
    """The sentences of the follow-up `reply` worth appending to the `first` answer.

    A sentence is kept when the passages support it (the same check as every answer sentence,
    `check_grounding`) and it adds at least two content words, or a number, that neither the
    first answer nor the part's own question holds: the 1.5B, asked for one part, restates the
    other part and writes about "the passages"; those sentences are dropped, never appended.
    "" when nothing is left (also when the model said the passages do not answer the part).
    """
    if not reply.strip() or is_refusal(reply):
        return ""
    known = content_words(first) | content_words(part)
    kept: list[str] = []
    for sentence, _sep in sentence_pieces(reply.strip()):
        text = sentence.strip()
        new = content_words(text) - known
        if not text or (len(new) < 2 and not any(w[0].isdigit() for w in new)):
            continue
        verdicts = check_grounding(text, passages, question=part, similarity=similarity)
        if verdicts and all(v.supported for v in verdicts):
            kept.append(text)
            known |= new
    return " ".join(kept)
