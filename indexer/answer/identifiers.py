"""Codes in a question that the relevance gate can trust: `GK-220`, `PT-4`, `BR-115`, `C2`.

The gate refuses when no passage is semantically close enough (cosine < `min_relevance`). A table
row or a label is a poor match for a sentence embedding — "What does the GK-220 gasket kit cost?"
scored 0.45 against the spreadsheet row that answers it — yet a part number, sensor tag or
model code that appears verbatim in the best passage is stronger evidence of relevance than any
cosine. So a question whose code (a token with an upper-case letter and a digit) is found as a
whole word in one of the first passages passes the gate; the model still has to find the answer
there, and the grounding checks still apply. On by default (`gate_codes`); measured in
docs/quality.md (formats set, and the held-out and dev sets' questions that carry codes).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

#: A token with at least one digit and one upper-case letter, optionally joined by - _ . :
#: GK-220, PT-4, C2, SHA3, FTS5, UTF-8. Plain numbers and plain words are not codes.
_CODE = re.compile(r"(?<![\w-])(?=[\w.-]*\d)(?=[\w.-]*[A-Z])[A-Za-z0-9]+(?:[-_.][A-Za-z0-9]+)*(?![\w-])")


def question_codes(question: str) -> list[str]:
    """The codes in `question`, in order, without repeats."""
    return list(dict.fromkeys(m.group() for m in _CODE.finditer(question)))


def code_in_passages(question: str, texts: Sequence[str]) -> str | None:
    """The first code of `question` that appears as a whole word (case-sensitive) in `texts`."""
    for code in question_codes(question):
        pattern = re.compile(rf"(?<![\w-]){re.escape(code)}(?![\w-])")
        if any(pattern.search(text) for text in texts):
            return code
    return None
