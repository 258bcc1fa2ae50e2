"""Hybrid search: BM25 (LanceDB full-text) and exact cosine (in-memory) fused by reciprocal rank.

Why fuse ranks rather than scores: BM25 scores are unbounded and depend on the corpus, cosine
scores live in [-1, 1]; RRF needs no calibration and gains most when the dense model is weak
(MiniLM-class), see PERFORMANCE.md. Each `SearchHit` reports both component scores and ranks so
traces and the GUI can show why a passage was found.

Snippets: a window of about 240 characters around the densest cluster of query terms; each match
is wrapped in `«` and `»` (HIGHLIGHT_OPEN / HIGHLIGHT_CLOSE). Front ends render the markers (bold,
colour) and must not show them raw. Guillemets already in the text are shown as `‹`/`›` in the
snippet so every marker is ours. Terms match the way the full-text index matches them (same
tokenizer: lower case, stemming, ASCII folding), so "running" highlights "runs".
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Callable, Sequence
from typing import Any, Literal

import numpy as np

from indexer.errors import CairnError, UserInputError
from indexer.records import Anchor, SearchHit
from indexer.storage.search_filter import SearchFilter
from indexer.storage.store import IndexStore
from indexer.storage.store_layout import HIT_COLUMNS
from indexer.storage.vector_index import ExactVectorIndex

log = logging.getLogger(__name__)

HIGHLIGHT_OPEN = "«"
HIGHLIGHT_CLOSE = "»"
K_RRF = 60
SearchMode = Literal["hybrid", "bm25", "vector"]
_MODES = ("hybrid", "bm25", "vector")
_WORD = re.compile(r"[^\W_]+")  # the index tokenizer splits on the same characters
_SPACE = re.compile(r"\s+")
_SENTINEL = "qqcairnsepqq"
_TERM_CACHE_MAX = 50_000


def shared_ranks(scores: Sequence[float]) -> list[int]:
    """1-based ranks of best-first `scores` where equal scores share the better rank (1, 1, 3).

    Documents repeated across files (the same paragraph in two topics) get exactly the same BM25
    score, and the full-text index returns such ties in no fixed order: with positional ranks the
    same question fused them differently from one run to the next. Sharing the rank gives equal
    evidence equal credit, so the other ranking decides.
    """
    ranks: list[int] = []
    for i, score in enumerate(scores):
        tied = i > 0 and math.isclose(score, scores[i - 1], rel_tol=1e-9, abs_tol=1e-12)
        ranks.append(ranks[-1] if tied else i + 1)
    return ranks


def fuse_rrf(
    rank_lists: Sequence[Sequence[str]],
    k: int = K_RRF,
    weights: Sequence[float] | None = None,
    ranks: Sequence[Sequence[int] | None] | None = None,
    tiebreak: Callable[[str], Any] | None = None,
) -> list[tuple[str, float]]:
    """Reciprocal rank fusion: score(d) = Σ_i weights[i] / (k + rank_i(d)), ranks 1-based.

    A document missing from a list gets nothing from it; a repeated id counts at its first rank.
    A list's `ranks` (e.g. `shared_ranks` of its scores, so ties share one) replace the
    positions 1, 2, 3… Ties in the fused score go to the document with the better best rank, then to the one whose best rank
    comes from the earlier list, then by `tiebreak(id)` (default: the id itself) — so results
    are deterministic.
    """
    if weights is None:
        weights = [1.0] * len(rank_lists)
    if len(weights) != len(rank_lists):
        raise ValueError("one weight per rank list")
    list_ranks = list(ranks) if ranks is not None else [None] * len(rank_lists)
    if len(list_ranks) != len(rank_lists):
        raise ValueError("one rank list (or None) per ranking")
    fused: dict[str, float] = {}
    best: dict[str, tuple[int, int]] = {}  # id -> (best rank, list index of that rank)
    for li, (ranking, w, given) in enumerate(zip(rank_lists, weights, list_ranks)):
        positions = given if given is not None else range(1, len(ranking) + 1)
        seen: set[str] = set()
        for rank, doc in zip(positions, ranking):
            if doc in seen:
                continue
            seen.add(doc)
            fused[doc] = fused.get(doc, 0.0) + w / (k + rank)
            if doc not in best or rank < best[doc][0]:
                best[doc] = (rank, li)
    last = tiebreak or (lambda d: d)
    order = sorted(fused, key=lambda d: (-round(fused[d], 12), best[d], last(d)))
    return [(d, fused[d]) for d in order]


class Retriever:
    """Answers `search()` from a store (BM25, rows) and an in-memory vector index.

    `embed_query` turns a query into a vector (the real embedder, or a fake in tests); it is
    only called when the vector side can contribute. Safe to call from several threads.
    """

    def __init__(
        self,
        store: IndexStore,
        vectors: ExactVectorIndex,
        embed_query: Callable[[str], np.ndarray],
        *,
        k_rrf: int = K_RRF,
        weights: tuple[float, float] = (1.0, 1.0),
        snippet_chars: int = 240,
        min_candidates: int = 50,
        origin: str = "",
    ) -> None:
        self.origin = origin  # `Anchor.origin` of its hits: "" local, "shared" a team's index
        self.store = store
        self.vectors = vectors
        self.embed_query = embed_query
        self.k_rrf = k_rrf
        self.weights = weights  # (bm25, vector) in hybrid mode
        self.snippet_chars = snippet_chars
        self.min_candidates = min_candidates
        self._terms = _TermAnalyzer(store.tokenize)

    def search(
        self,
        query: str,
        k: int = 8,
        *,
        mode: SearchMode = "hybrid",
        folders: list[str] | None = None,
        exts: list[str] | None = None,
        path_glob: str | None = None,
        query_vector: np.ndarray | None = None,
        others: Sequence[Retriever] = (),
    ) -> list[SearchHit]:
        """Top-`k` hits for `query`, best first; [] for an empty query or an empty index.

        Filters (all optional, combined with AND) apply to both sides: `folders` keeps paths
        inside any of them, `exts` keeps these extensions (`.md` or `md`), `path_glob` is an
        fnmatch glob on the whole path. `query_vector` skips embedding the query.

        `others`: more indexes searched as one with this one (a team's shared index). Their
        vectors come from the same model, so the cosine rankings are merged into one; BM25
        scores depend on each corpus's statistics, so each index's keyword ranking stays a
        ranking of its own in the fusion (one index: exactly the fusion of its two rankings).
        A chunk id found in an earlier index is skipped in the later ones (the same index
        reached twice).
        """
        if mode not in _MODES:
            raise UserInputError(
                f"unknown search mode {mode!r}", hint="Use hybrid, bm25 or vector."
            )
        if k <= 0 or (not query.strip() and query_vector is None):
            return []
        flt = SearchFilter.create(folders, exts, path_glob)
        n = max(self.min_candidates, 4 * k)
        sources = [self, *others]
        qvec = query_vector
        if qvec is None and mode != "bm25" and any(len(r.vectors) for r in sources):
            qvec = self.query_vector(query, mode)
        source_of: dict[str, Retriever] = {}
        keyword_lists: list[list[dict[str, Any]]] = []
        semantic: list[tuple[str, float]] = []
        for source in sources:
            kw, sem = source._candidates(query, k, n, mode, flt, qvec)
            kw = [r for r in kw if r["id"] not in source_of]
            sem = [(cid, score) for cid, score in sem if cid not in source_of]
            for cid in [r["id"] for r in kw] + [cid for cid, _ in sem]:
                source_of.setdefault(cid, source)
            keyword_lists.append(kw)
            semantic += sem
        if others:  # one cosine ranking over all indexes (ties by id: deterministic)
            semantic.sort(key=lambda item: (-item[1], item[0]))
            semantic = semantic[:n]
        lists = [*([r["id"] for r in kw] for kw in keyword_lists), [cid for cid, _ in semantic]]
        list_ranks = [*(shared_ranks([r["_score"] for r in kw]) for kw in keyword_lists),
                      shared_ranks([score for _, score in semantic])]
        w_bm25, w_vec = self.weights if mode == "hybrid" else (1.0, 1.0)
        weights = [w_bm25] * len(keyword_lists) + [w_vec]
        ranked = fuse_rrf(lists, k=self.k_rrf, weights=weights, ranks=list_ranks)
        # Exact copies of a passage (same text in two files) tie in both rankings; chunk ids are
        # random per index, so they would fall differently after a rebuild. Ties at the cut are
        # read too and ordered by file and position: the same corpus gives the same results.
        cut = min(k, len(ranked))
        while 0 < cut < len(ranked) and math.isclose(ranked[cut][1], ranked[cut - 1][1],
                                                     rel_tol=1e-12, abs_tol=0.0):
            cut += 1
        rows = {r["id"]: r for kw in keyword_lists for r in kw if "text" in r}
        missing = [cid for cid, _ in ranked[:cut] if cid not in rows]
        for source in sources:
            mine = [cid for cid in missing if source_of.get(cid) is source]
            if mine:
                rows.update({r["id"]: r for r in source.store.get_chunks(
                    mine, columns=HIT_COLUMNS)})

        def place(cid: str) -> tuple[str, int, str]:
            row = rows.get(cid)
            return (row["path"], row["char_start"], cid) if row else ("\uffff", 0, cid)

        fused = fuse_rrf(lists, k=self.k_rrf, weights=weights, ranks=list_ranks,
                         tiebreak=place)[:k]
        bm25 = {r["id"]: (rank, r["_score"]) for kw, ranks in zip(keyword_lists, list_ranks)
                for rank, r in zip(ranks, kw)}
        cosine = {cid: (rank, score) for rank, (cid, score) in zip(list_ranks[-1], semantic)}
        query_terms = self._terms.query_terms(query)
        hits: list[SearchHit] = []
        for cid, score in fused:
            row = rows.get(cid)
            if row is None:  # removed between the vector search and the row fetch
                continue
            snippet, matched = self._snippet(row["text"], query_terms)
            b_rank, b_score = bm25.get(cid, (None, None))
            v_rank, v_score = cosine.get(cid, (None, None))
            hits.append(
                SearchHit(
                    chunk_id=cid,
                    anchor=anchor_from_row(row, source_of[cid].origin),
                    text=row["text"],
                    snippet=snippet,
                    fused=score,
                    bm25=b_score,
                    vector=v_score,
                    bm25_rank=b_rank,
                    vector_rank=v_rank,
                    matched_terms=matched,
                )
            )
        return hits

    def _candidates(
        self, query: str, k: int, n: int, mode: SearchMode, flt: SearchFilter | None,
        qvec: np.ndarray | None,
    ) -> tuple[list[dict[str, Any]], list[tuple[str, float]]]:
        """This index's keyword rows (with `_score`) and (id, cosine) pairs for one search."""
        keyword: list[dict[str, Any]] = []
        if mode != "vector" and query.strip():
            # BM25 alone needs only its top k, with their rows. Hybrid fuses the top n ids
            # and fetches rows for the k that survive fusion: reading every column of n
            # candidates was half of a hybrid search's CPU at 100k chunks.
            where = flt.where_sql() if flt else None
            if mode == "bm25":  # one row more shows whether a tie crosses the cut
                keyword = self.store.keyword_search(query, k + 1, where, columns=HIT_COLUMNS)
                if len(keyword) > k and math.isclose(
                        keyword[k]["_score"], keyword[k - 1]["_score"], rel_tol=1e-9):
                    keyword = self.store.keyword_search(query, n, where, columns=HIT_COLUMNS)
            else:
                keyword = self.store.keyword_search(query, n, where, columns=("id",))
        semantic: list[tuple[str, float]] = []
        if mode != "bm25" and len(self.vectors) and qvec is not None:
            semantic = self.vectors.search(qvec, n, mask=flt)
        return keyword, semantic

    def query_vector(self, query: str, mode: SearchMode = "hybrid") -> np.ndarray | None:
        """The query's embedding; None (keyword search only) if the embedder fails, except in
        vector mode, where the failure is raised. Computed once for several indexes."""
        try:
            return np.asarray(self.embed_query(query), dtype=np.float32)
        except CairnError as exc:
            if mode == "vector":
                raise
            log.warning("query embedding unavailable, keyword search only: %s", exc)
            return None

    def _snippet(self, text: str, query_terms: dict[str, str]) -> tuple[str, tuple[str, ...]]:
        spans: list[tuple[int, int, str]] = []
        if query_terms:
            words = list(_WORD.finditer(text))
            analysed = self._terms.analyse([m.group().lower() for m in words])
            for m, terms in zip(words, analysed):
                hit = next((t for t in terms if t in query_terms), None)
                if hit is not None:
                    spans.append((m.start(), m.end(), hit))
        found = {query_terms[t] for _, _, t in spans}
        matched = tuple(w for w in dict.fromkeys(query_terms.values()) if w in found)
        return make_snippet(text, spans, self.snippet_chars), matched


def anchor_from_row(row: dict[str, Any], origin: str = "") -> Anchor:
    """The citation anchor stored with a chunk row (0 means "none" for page and lines)."""
    return Anchor(
        path=row["path"],
        page=row["page"] or None,
        heading_path=tuple(row["heading"].split(" > ")) if row["heading"] else (),
        line_start=row["line_start"] or None,
        line_end=row["line_end"] or None,
        char_start=row["char_start"],
        char_end=row["char_end"],
        ocr=row.get("kind") == "ocr",
        origin=origin,
    )


def make_snippet(text: str, spans: Sequence[tuple[int, int, str]], width: int = 240) -> str:
    """About `width` characters of `text` around the densest cluster of `spans`, marked «…».

    `spans` are (start, end, term) of matches in `text`, in order. The window starting at the
    match that covers the most distinct terms (then the most matches) wins; it is centred on
    its matches, cut at word boundaries, and `…` marks text left out at either end.
    """
    text = text.replace(HIGHLIGHT_OPEN, "‹").replace(HIGHLIGHT_CLOSE, "›")
    if len(text) <= width:
        start, end = 0, len(text)
    elif not spans:
        start, end = 0, width
    else:
        best = (-1, -1, 0, 0)  # (distinct terms, matches, -index, index of last match)
        for i, (s0, _, _) in enumerate(spans):
            inside = [j for j in range(i, len(spans)) if spans[j][1] <= s0 + width]
            key = (len({spans[j][2] for j in inside}), len(inside), -i, inside[-1])
            best = max(best, key)
        first, last = -best[2], best[3]
        lo, hi = spans[first][0], spans[last][1]
        start = max(0, lo - (width - (hi - lo)) // 2)
        end = min(len(text), start + width)
        start = max(0, end - width)
    inside = [(s0, s1) for s0, s1, _ in spans if s0 >= start and s1 <= end]
    if start > 0 and not text[start - 1].isspace():  # do not begin inside a word...
        limit = inside[0][0] if inside else min(end, start + 30)
        gap = _SPACE.search(text, start, limit)
        start = gap.end() if gap else start
    if end < len(text) and not text[end].isspace():  # ...nor end inside one
        floor = inside[-1][1] if inside else max(start, end - 30)
        gaps = [g.start() for g in _SPACE.finditer(text, floor, end)]
        end = gaps[-1] if gaps else end
    pieces: list[str] = ["…"] if start > 0 else []
    pos = start
    for s0, s1, _ in spans:
        if s0 >= pos and s1 <= end:
            pieces += [text[pos:s0], HIGHLIGHT_OPEN, text[s0:s1], HIGHLIGHT_CLOSE]
            pos = s1
    pieces.append(text[pos:end])
    if end < len(text):
        pieces.append("…")
    return re.sub(r"\s+", " ", "".join(pieces)).strip()


class _TermAnalyzer:
    """Maps words to index terms with the full-text index's own tokenizer, cached per word.

    One tokenizer call per batch of unknown words: they are joined with a sentinel word and the
    resulting term stream is split at the sentinel's term, which keeps term order aligned with
    the words even where a word yields no term (a stop word) or several.
    """

    def __init__(self, tokenize: Callable[[str], list[str]]) -> None:
        self._tokenize = tokenize
        self._cache: dict[str, tuple[str, ...]] = {}
        self._sentinel: str | None = None

    def query_terms(self, query: str) -> dict[str, str]:
        """{index term: the query word it came from}, in query order."""
        words = [w.lower() for w in _WORD.findall(query)]
        out: dict[str, str] = {}
        for word, terms in zip(words, self.analyse(words)):
            for t in terms:
                out.setdefault(t, word)
        return out

    def analyse(self, words: Sequence[str]) -> list[tuple[str, ...]]:
        unknown = list(dict.fromkeys(w for w in words if w not in self._cache))
        if unknown:
            if len(self._cache) > _TERM_CACHE_MAX:
                self._cache.clear()
            self._cache.update(zip(unknown, self._analyse_uncached(unknown)))
        return [self._cache[w] for w in words]

    def _analyse_uncached(self, words: list[str]) -> list[tuple[str, ...]]:
        try:
            if self._sentinel is None:
                self._sentinel = "".join(self._tokenize(_SENTINEL)) or _SENTINEL
            stream = self._tokenize(f" {_SENTINEL} ".join(words))
        except CairnError as exc:  # no index to ask: fall back to plain lower-case words
            log.warning("term analysis unavailable: %s", exc)
            return [(w,) for w in words]
        groups: list[tuple[str, ...]] = []
        current: list[str] = []
        for term in stream:
            if term == self._sentinel:
                groups.append(tuple(current))
                current = []
            else:
                current.append(term)
        groups.append(tuple(current))
        if len(groups) != len(words):  # a word contained the sentinel: give up on alignment
            return [(w,) for w in words]
        return groups
