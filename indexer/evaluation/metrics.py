"""Retrieval and answer metrics for Cairn's evaluation, as small pure functions.

Each docstring states the exact definition, because a metric whose definition drifts makes runs
incomparable. Conventions shared by all of them:

- **Sources are compared by file name.** A ranked entry is a hit path (absolute or relative, any
  separator); a relevant source is a file name such as ``assert.md`` or a short relative path
  such as ``lang/assert.md``. They match when the hit path *ends with* the relevant source's
  path components (``/docs/ref/assert.md`` matches ``assert.md``; ``/x/massert.md`` does not).
  Case-sensitive, like the file names in the QA sets.
- **Ranks are positions in the ranked list as given.** Retrieval returns chunks, so one file may
  appear several times; only its *first* occurrence counts as relevant, later ones count as
  misses that still take a position. Pass a list deduplicated by file for file-level ranks.
- **No relevant source means undefined.** Retrieval metrics return ``None`` when ``relevant`` is
  empty (unanswerable questions), and the aggregate helpers skip ``None``, so such questions
  never drag a mean towards 0 or 1.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Iterable, Sequence
from pathlib import PurePosixPath

__all__ = [
    "contains_all",
    "evidence_recall",
    "hit_at_k",
    "matches_source",
    "mean",
    "ndcg_at_k",
    "normalize_text",
    "percentile",
    "rate",
    "reciprocal_rank",
]

_WHITESPACE = re.compile(r"\s+")


def _parts(path: str) -> tuple[str, ...]:
    return PurePosixPath(path.replace("\\", "/")).parts


def matches_source(hit_path: str, source: str) -> bool:
    """True when `hit_path` ends with the path components of `source` (see module docstring)."""
    hit, want = _parts(hit_path), _parts(source)
    return bool(want) and len(hit) >= len(want) and hit[-len(want) :] == want


def _first_relevant_flags(ranked: Sequence[str], relevant: Collection[str], k: int) -> list[bool]:
    """Relevance of each of the first `k` entries, counting each relevant source once."""
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    seen: set[str] = set()
    flags: list[bool] = []
    for entry in ranked[:k]:
        match = next((r for r in relevant if matches_source(entry, r)), None)
        flags.append(match is not None and match not in seen)
        if match is not None:
            seen.add(match)
    return flags


def hit_at_k(ranked_sources: Sequence[str], relevant: Collection[str], k: int) -> float | None:
    """1.0 if any of the first `k` ranked entries is a relevant source, else 0.0.

    Also called success@k or recall@k for single-answer questions. ``None`` if `relevant` is
    empty.
    """
    if not relevant:
        return None
    return 1.0 if any(_first_relevant_flags(ranked_sources, relevant, k)) else 0.0


def reciprocal_rank(
    ranked_sources: Sequence[str], relevant: Collection[str], k: int = 10
) -> float | None:
    """1 / (1-based position of the first relevant entry within the first `k`), else 0.0.

    Its mean over questions is MRR@k. ``None`` if `relevant` is empty.
    """
    if not relevant:
        return None
    flags = _first_relevant_flags(ranked_sources, relevant, k)
    return next((1.0 / position for position, hit in enumerate(flags, 1) if hit), 0.0)


def ndcg_at_k(
    ranked_sources: Sequence[str], relevant: Collection[str], k: int = 10
) -> float | None:
    """Normalised discounted cumulative gain at `k` with binary relevance.

    DCG@k = sum over positions i = 1..k of rel_i / log2(i + 1), where rel_i is 1 for the first
    occurrence of a relevant source and 0 otherwise (repeats of a source score 0 but keep their
    position). The ideal DCG puts min(|relevant|, k) relevant entries first:
    IDCG@k = sum over i = 1..min(|relevant|, k) of 1 / log2(i + 1). nDCG = DCG / IDCG in [0, 1].

    With alternatives (a passage that exists in several files) every alternative is relevant, so
    finding just one of two scores below 1; use `hit_at_k`/`reciprocal_rank` for "any one of".
    ``None`` if `relevant` is empty.
    """
    if not relevant:
        return None
    flags = _first_relevant_flags(ranked_sources, relevant, k)
    dcg = sum(1.0 / math.log2(position + 1) for position, hit in enumerate(flags, 1) if hit)
    ideal = sum(1.0 / math.log2(position + 1) for position in range(1, min(len(relevant), k) + 1))
    return dcg / ideal


def normalize_text(text: str) -> str:
    """Casefolded, with every run of whitespace (newlines included) collapsed to one space.

    Chunking and Markdown conversion re-wrap lines, and models change capitalisation at the
    start of a sentence; neither should decide whether a passage "contains" a phrase.
    """
    return _WHITESPACE.sub(" ", text).strip().casefold()


def evidence_recall(passages: Sequence[str], evidence: str) -> bool:
    """True if one retrieved passage contains the evidence string, after `normalize_text`.

    Case-insensitive and whitespace-insensitive. The evidence must sit inside a *single*
    passage: evidence split across a chunk boundary counts as not found, because the model
    never sees it whole either.
    """
    needle = normalize_text(evidence)
    if not needle:
        raise ValueError("evidence must not be empty")
    return any(needle in normalize_text(passage) for passage in passages)


def contains_all(answer: str, must_contain: Iterable[str | Sequence[str]]) -> bool:
    """True if the answer contains every entry, compared after `normalize_text`.

    An entry that is a string must appear; an entry that is a list/tuple of strings is met by
    any one of them (e.g. ``["pre-existing", "already"]``). Substring match, so "before" also
    matches "beforehand": a necessary condition for a right answer, not proof of one. An empty
    `must_contain` is vacuously met.
    """
    haystack = normalize_text(answer)
    for entry in must_contain:
        options = (entry,) if isinstance(entry, str) else tuple(entry)
        if not any(normalize_text(option) in haystack for option in options):
            return False
    return True


def percentile(values: Iterable[float], p: float) -> float | None:
    """The p-th percentile (0 <= p <= 100) by linear interpolation between closest ranks.

    Same as numpy's default ("linear") and ``statistics.quantiles(method="inclusive")``: for
    sorted x of length n, position h = (n - 1) * p / 100 and the result interpolates between
    x[floor(h)] and x[ceil(h)]. Chosen over nearest-rank because eval sets are small (tens of
    questions) and nearest-rank p95 would just be the maximum. ``None`` for no values.
    """
    if not 0 <= p <= 100:
        raise ValueError(f"p must be within [0, 100], got {p}")
    ordered = sorted(values)
    if not ordered:
        return None
    h = (len(ordered) - 1) * p / 100
    low, high = math.floor(h), math.ceil(h)
    return ordered[low] + (ordered[high] - ordered[low]) * (h - low)


def mean(values: Iterable[float | None]) -> float | None:
    """Arithmetic mean of the values that are not ``None``; ``None`` if there are none."""
    present = [v for v in values if v is not None]
    return sum(present) / len(present) if present else None


def rate(flags: Iterable[bool | None]) -> float | None:
    """Fraction of True among the flags that are not ``None``; ``None`` if there are none."""
    present = [f for f in flags if f is not None]
    return sum(1 for f in present if f) / len(present) if present else None
