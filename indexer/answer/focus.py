"""Sentence focus: give the model the sentences of each passage that bear on the question.

Prefill, not decoding, sets the wait for an answer on a CPU (~19–45 prompt tokens/s here), and
a small model reads noise as badly as it reads slowly: five whole 200-token chunks hold the
answer in one or two sentences. So each passage is cut down to its best-scoring sentences, each
with its neighbours (a sentence alone often loses its subject: "It defaults to 1000."), in
document order, gaps shown as "…". Every passage keeps at least its best sentence, so the
numbering the model cites stays that of the sources the user sees.

The best-ranked passage is kept whole when it fits the budget: hybrid retrieval puts the
answering passage first for ~95 % of questions (docs/quality.md), and cutting it to sentences
that share the question's words lost the one sentence that answered in other words ("the excess
columns are ignored" for "what happens to the extra fields"; dev split, dv-18). The other
passages are cut, and a unit's score is weighted by its passage's rank.

A sentence's score mixes the question's words it holds (weighted by how rare they are among the
passages' sentences, so a word every sentence repeats counts little) with, when an embedder is
given, its cosine to the question (it catches "the default" answering "if I don't pass one").
Pure functions apart from the optional similarity callable; no model is loaded here.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from indexer.answer.citations import content_words

# A unit is a sentence, a paragraph or a list item. A single newline ends a unit only after
# sentence punctuation or before a list marker: plain-text manuals (pydoc, man pages, READMEs)
# wrap lines mid-sentence, and cutting there gave the model half sentences. The boundary is
# kept in the text so kept units join with their original spacing.
_UNIT_END_RE = re.compile(
    r"(?<=[.!?:;])[ \t]+(?=[A-Z0-9`\"'(\[])"  # sentence end within a line
    r"|(?<=[.!?:;])[ \t]*\n\s*"  # sentence end at a line end
    r"|\n[ \t]*\n\s*"  # paragraph break
    r"|\n(?=[ \t]*(?:[-*•]|\d{1,2}[.)])[ \t])"  # a list item starts
)
GAP = " … "
_STEM = 5  # words sharing their first five letters match ("thresholds" ~ "threshold")
_RANK_WEIGHT = 0.85  # a unit of the n-th passage scores × 0.85^(n-1): retrieval's order counts


@dataclass(frozen=True, slots=True)
class Unit:
    """One sentence or line of a passage: where it is and how well it matches."""

    passage: int
    index: int
    start: int
    end: int
    score: float = 0.0


def split_units(text: str) -> list[tuple[int, int]]:
    """(start, end) of each non-blank sentence or line of `text`, in order."""
    spans: list[tuple[int, int]] = []
    at = 0
    for match in _UNIT_END_RE.finditer(text):
        if text[at:match.start()].strip():
            spans.append((at, match.start()))
        at = match.end()
    if text[at:].strip():
        spans.append((at, len(text)))
    return spans


def _stems(words: set[str]) -> set[str]:
    return {w[:_STEM] for w in words}


def score_units(
    question: str,
    texts: Sequence[str],
    similarity: Callable[[str, Sequence[str]], list[float]] | None = None,
) -> list[list[Unit]]:
    """Every passage's units with a relevance score in [0, 2] (lexical + semantic)."""
    spans = [split_units(t) for t in texts]
    flat = [(p, i, s, e) for p, ss in enumerate(spans) for i, (s, e) in enumerate(ss)]
    if not flat:
        return [[] for _ in texts]
    unit_texts = [texts[p][s:e] for p, _, s, e in flat]
    stems = [_stems(content_words(t)) for t in unit_texts]
    wanted = _stems(content_words(question))
    n = len(flat)
    df = {w: sum(1 for st in stems if w in st) for w in wanted}
    idf = {w: math.log(1 + n / (1 + df[w])) for w in wanted}
    lexical = [sum(idf[w] for w in wanted & st) for st in stems]
    top = max(lexical) or 1.0
    semantic = [0.0] * n
    if similarity is not None:
        semantic = [max(0.0, c) for c in similarity(question, unit_texts)]
    out: list[list[Unit]] = [[] for _ in texts]
    for k, (p, i, s, e) in enumerate(flat):
        out[p].append(Unit(p, i, s, e, lexical[k] / top + semantic[k]))
    return out


def focus_texts(
    question: str,
    texts: Sequence[str],
    *,
    count_tokens: Callable[[str], int],
    keep: float = 0.45,
    min_tokens: int = 160,
    neighbours: int = 1,
    similarity: Callable[[str, Sequence[str]], list[float]] | None = None,
    first_whole: bool = True,
) -> list[str]:
    """The passages cut to their best sentences: about `keep` of their tokens in all.

    With `first_whole`, the first (best-ranked) passage is kept whole if it fits the budget
    (`keep` × the passages' tokens, at least `min_tokens`). Then units are taken best first
    (score × rank weight), each with `neighbours` units either side, until the budget is
    spent; a passage whose best unit was not reached still gets that unit. Short sets of
    passages are left whole.
    """
    costs = [[count_tokens(t[s:e]) for s, e in split_units(t)] for t in texts]
    total = sum(sum(c) for c in costs)
    budget = max(min_tokens, int(keep * total))
    if total <= budget:
        return list(texts)
    units = score_units(question, texts, similarity)
    kept: list[set[int]] = [set() for _ in texts]
    used = 0
    if first_whole and units and units[0] and sum(costs[0]) <= budget:
        kept[0] = set(range(len(units[0])))
        used = sum(costs[0])
    ranked = sorted((u for us in units for u in us),
                    key=lambda u: -u.score * _RANK_WEIGHT ** u.passage)
    for unit in ranked:
        if used >= budget:
            break
        window = range(max(0, unit.index - neighbours),
                       min(len(units[unit.passage]), unit.index + neighbours + 1))
        new = [i for i in window if i not in kept[unit.passage]]
        cost = sum(costs[unit.passage][i] for i in new)
        if kept[unit.passage] and used + cost > budget:
            new = [unit.index] if unit.index not in kept[unit.passage] else []
            cost = sum(costs[unit.passage][i] for i in new)
            if used + cost > budget:
                continue
        kept[unit.passage].update(new)
        used += cost
    for p, us in enumerate(units):
        if us and not kept[p]:
            kept[p].add(max(us, key=lambda u: u.score).index)
    return [_join(texts[p], units[p], kept[p]) for p in range(len(texts))]


def _join(text: str, units: Sequence[Unit], kept: set[int]) -> str:
    """The kept units in document order: runs keep their own spacing, gaps become "…"."""
    if len(kept) == len(units):
        return text
    parts: list[str] = []
    previous: int | None = None
    for unit in units:
        if unit.index not in kept:
            continue
        if previous is None:
            parts.append(("… " if unit.index > 0 else "") + text[unit.start:unit.end])
        elif unit.index == previous + 1:
            parts.append(text[units[previous].end:unit.end])
        else:
            parts.append(GAP + text[unit.start:unit.end])
        previous = unit.index
    if previous is not None and previous < len(units) - 1:
        parts.append(" …")
    return "".join(parts).strip()
