"""Numbers an answer states that its passages do not: the commonest way a small model invents.

On unseen manuals the 1.5B answers a question the documents cannot answer with a plausible
number from memory ("the maximum recursion depth is 1000"); the per-sentence grounding check
marks that sentence unsupported, but a second, supported sentence around it kept the answer
(dev split, dv-20). An answer's numbers are its point, so with `strict_numbers` one number that
the passages and the question do not contain, and that one step of arithmetic on their numbers
does not give, makes the whole answer "couldn't find".

One step of arithmetic is allowed because questions ask for it ("3 files × 256 MiB each"): a
number is derived when it is a sum, difference, product or quotient of two numbers of the
passages or the question, or one of them converted by a binary size or time unit (KiB, MiB,
GiB; minutes, hours). Decimal factors (×10, ×1000) are not allowed: with them almost any round
number — the invented "1000" above all — would pass as "derived".
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from indexer.answer.citations import MARKER_RE

_NUMBER_RE = re.compile(r"(?<![\w.])-?\d[\d,]*(?:\.\d+)?(?![\w])")
_UNIT_FACTORS = (1024, 1024**2, 1024**3, 60, 3600)  # KiB/MiB/GiB, minutes, hours
_MAX_OPERANDS = 60  # pairs grow quadratically; passages rarely hold more distinct numbers


def numbers_in(text: str) -> set[float]:
    """The numeric values written in `text` ("1,000" = 1000; citation markers and list
    enumerators are not numbers; version strings like 3.35.0 are skipped)."""
    text = re.sub(r"(?m)^\s*\d+[.)]\s", " ", MARKER_RE.sub(" ", text))
    text = re.sub(r"\d+\.\d+\.\d+(?:\.\d+)*", " ", text)  # versions, dotted ids
    out: set[float] = set()
    for match in _NUMBER_RE.finditer(text):
        try:
            out.add(float(match.group().replace(",", "")))
        except ValueError:
            continue
    return out


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= 1e-6 * max(1.0, abs(a), abs(b)) or round(a, 2) == round(b, 2)


def derivable(value: float, known: Iterable[float]) -> bool:
    """True when `value` is a known number, a unit conversion of one, or one arithmetic step
    (+ − × ÷) on two of them."""
    base = sorted(set(known), key=abs)[:_MAX_OPERANDS]
    if any(_close(value, k) for k in base):
        return True
    for k in base:
        for f in _UNIT_FACTORS:
            if _close(value, k * f) or _close(value, k / f):
                return True
    for i, a in enumerate(base):
        for b in base[i:]:
            candidates = (a + b, a - b, b - a, a * b)
            if any(_close(value, c) for c in candidates):
                return True
            if (b and _close(value, a / b)) or (a and _close(value, b / a)):
                return True
    return False


def invented_numbers(answer: str, passages: Iterable[str], question: str = "") -> list[float]:
    """The answer's numbers that the passages and question neither contain nor give by one
    arithmetic step. Small counting numbers (0–10) are never flagged: "one", "2 rows" and list
    positions are too common in honest answers to prove anything."""
    known = numbers_in(question)
    for text in passages:
        known |= numbers_in(text)
    return sorted(v for v in numbers_in(answer)
                  if abs(v) > 10 and not derivable(v, known))
