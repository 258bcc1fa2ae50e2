"""The cited sentences: which sentences of a passage an answer's sentences rest on.

A citation names a passage; a passage is a few hundred words. To show *what* was cited, each
answer sentence citing `[n]` is traced to the sentences of passage n that say it (or to its
verified quote, in quote-first answers), and those are kept as offsets so a viewer can
highlight exactly them in the file. Pure functions, no models, no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from indexer.answer.citations import (
    claim_words,
    content_words,
    find_markers,
    has_words,
    split_sentences,
    sub_markers,
)

# A passage sentence ends at ., ! or ? before a capital (or digit, quote, bracket), at a blank
# line, or before a line that opens a list item, heading, quote or table row. A single newline
# is not an end: PDF text breaks every printed line, mid-sentence.
_PASSAGE_END_RE = re.compile(
    r"[.!?][\"'”’)\]]*(?=\s+[\"'“‘(\[]?[A-Z0-9`])"
    r"|\n[ \t]*\n"
    r"|\n(?=[ \t]*(?:[-*•#>|]|\d{1,3}[.)])\s)"
)
_LONG_SENTENCE = 300  # a longer "sentence" (code, a table) is split at its lines
_LOOSE_DROP = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\u00ad\ufffe\uffff]")  # PDFium's soft hyphens
_LOOSE_FOLD = str.maketrans({"“": '"', "”": '"', "‘": "'", "’": "'", "\u00a0": " "})


def _trimmed(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def passage_sentences(text: str) -> list[tuple[int, int]]:
    """(start, end) offsets of the sentences of a passage, trimmed of surrounding whitespace.

    Offsets, not strings, because a citation must point back into the file: the chunker keeps
    a passage's text an exact slice of its document, so an offset here plus the passage's
    `char_start` is an offset in the document.
    """
    spans: list[tuple[int, int]] = []

    def add(start: int, end: int) -> None:
        start, end = _trimmed(text, start, end)
        if end - start > _LONG_SENTENCE and "\n" in text[start:end]:
            line_start = start
            for line in text[start:end].split("\n"):
                add_one(line_start, line_start + len(line))
                line_start += len(line) + 1
        else:
            add_one(start, end)

    def add_one(start: int, end: int) -> None:
        start, end = _trimmed(text, start, end)
        if has_words(text[start:end]):
            spans.append((start, end))

    start = 0
    for match in _PASSAGE_END_RE.finditer(text):
        end = match.end() if match.group()[0] in ".!?" else match.start()
        add(start, end)
        start = match.end()
    add(start, len(text))
    return spans


def _loose(text: str) -> tuple[str, list[int]]:
    """`text` lower-cased, with whitespace runs as one space and control characters dropped,
    and for every character of that the offset of its source character in `text`."""
    out: list[str] = []
    where: list[int] = []
    space = True  # drop leading whitespace
    for i, ch in enumerate(text.translate(_LOOSE_FOLD)):
        if _LOOSE_DROP.match(ch):
            continue
        if ch.isspace():
            if not space:
                out.append(" ")
                where.append(i)
            space = True
            continue
        out.append(ch.lower())
        where.append(i)
        space = False
    if out and out[-1] == " ":
        out.pop()
        where.pop()
    return "".join(out), where


def loose_find(haystack: str, needle: str, start: int = 0) -> tuple[int, int] | None:
    """(start, end) in `haystack` of `needle`, ignoring case, spacing and line breaks.

    Text extracted from the same file twice can differ in exactly these (a PDF viewer keeps
    "\\r\\n" and soft hyphens the index dropped; a quote's spacing is the model's). `start` is
    an offset in `haystack` to search from.
    """
    hay, where = _loose(haystack)
    want, _ = _loose(needle)
    if not want:
        return None
    from_at = next((i for i, w in enumerate(where) if w >= start), len(hay))
    at = hay.find(want, from_at)
    if at < 0:
        return None
    return where[at], where[at + len(want) - 1] + 1


def claims_by_passage(answer: str) -> dict[int, list[str]]:
    """The answer's sentences (markers removed) under each passage number they cite.

    A marker standing alone after a sentence ("… in 2029. [3]") belongs to that sentence.
    """
    claims: dict[int, list[str]] = {}
    previous = ""
    for sentence in split_sentences(answer):
        numbers = [int(n) for g in find_markers(sentence) for n in re.split(r"\s*[,;]\s*", g)]
        claim = re.sub(r"\s+([.,;:!?])", r"\1", sub_markers("", sentence)).strip()
        if not has_words(claim):
            claim = previous
        for n in dict.fromkeys(numbers):
            if claim and claim not in claims.setdefault(n, []):
                claims[n].append(claim)
        previous = claim or previous
    return claims


def supporting_spans(
    passage: str,
    claims: Sequence[str],
    *,
    question: str = "",
    quotes: Sequence[str] = (),
    max_sentences: int = 3,
    min_share: float = 0.34,
) -> tuple[tuple[int, int], ...]:
    """(start, end) offsets in `passage` of the sentences that say what `claims` say.

    A verified quote (quote-first answers) is its own evidence: the sentences it lies in. For
    each other claim, the passage sentence holding most of its claim words (the words it adds
    to the `question`, as in the grounding check) is taken if it holds at least `min_share` of
    them, then up to `max_sentences - 1` more while each adds a word the chosen ones lack. So
    "the budget was 7.3 million euros, approved in May" finds both sentences it joins, and a
    claim the passage does not say finds none. Adjacent chosen sentences become one span.
    """
    sentences = passage_sentences(passage)
    if not sentences:
        return ()
    chosen: set[int] = set()
    for quote in quotes:
        found = loose_find(passage, quote.strip(" .\"'“”"))
        if found is not None:
            chosen |= {i for i, (s, e) in enumerate(sentences) if s < found[1] and found[0] < e}
    for claim in claims:
        words = claim_words(claim, question)
        if not words:
            continue
        covers = []
        for s, e in sentences:
            text = passage[s:e]
            pool, lower = content_words(text), text.lower()
            covers.append({w for w in words if w in pool or (len(w) > 3 and w in lower)})
        got: set[str] = set()
        for _ in range(max_sentences):
            best = max(range(len(covers)), key=lambda i: (len(covers[i] - got), -i))
            gain = covers[best] - got
            if not gain or (not got and len(gain) < min_share * len(words)):
                break
            chosen.add(best)
            got |= gain
    spans: list[list[int]] = []
    for i in sorted(chosen):
        start, end = sentences[i]
        if spans and spans[-1][2] == i - 1:
            spans[-1][1:] = [end, i]
        else:
            spans.append([start, end, i])
    return tuple((s, e) for s, e, _ in spans)
