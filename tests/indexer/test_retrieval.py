"""Retrieval: RRF fusion by hand, the exact vector index against brute force and against the
store it follows, and hybrid search end to end on a real LanceDB with a deterministic
bag-of-words fake embedder (defined here, so ranking expectations can be reasoned about)."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import numpy as np
import pytest

from indexer.answer.retrieval import (
    HIGHLIGHT_CLOSE,
    HIGHLIGHT_OPEN,
    Retriever,
    anchor_from_row,
    fuse_rrf,
    make_snippet,
    shared_ranks,
)
from indexer.errors import ModelUnavailableError, UserInputError
from indexer.records import Chunk
from indexer.storage import vector_index
from indexer.storage.search_filter import SearchFilter
from indexer.storage.store import IndexStore
from indexer.storage.store_layout import HIT_COLUMNS
from indexer.storage.vector_index import ExactVectorIndex

DIM = 64


def fake_embed(text: str) -> np.ndarray:
    """Bag of words hashed into DIM signed buckets, L2-normalised: shared words ⇒ similar."""
    v = np.zeros(DIM, dtype=np.float32)
    for word in re.findall(r"[a-z0-9]+", text.lower()):
        h = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=8).digest(), "little")
        v[h % DIM] += 1.0 if (h >> 32) & 1 else -1.0
    n = np.linalg.norm(v)
    return v / n if n else v


def add_file(store: IndexStore, path: str, texts: list[str], embed: bool = True) -> None:
    chunks = [
        Chunk(text=t, ordinal=i, line_start=i + 1, line_end=i + 1) for i, t in enumerate(texts)
    ]
    folder = path.rsplit("/", 2)[0]
    store.replace_chunks(path, folder, "." + path.rsplit(".", 1)[-1], chunks)
    if embed:
        pending = store.pending_embeddings(limit=None)
        if pending:
            store.set_vectors(
                [i for i, _ in pending], np.stack([fake_embed(t) for _, t in pending])
            )


@pytest.fixture
def store(tmp_path: Path) -> IndexStore:
    return IndexStore.open(tmp_path / "index", "fake-bow", DIM)


@pytest.fixture
def retriever(store: IndexStore) -> Retriever:
    return Retriever(store, ExactVectorIndex.from_store(store), fake_embed)


# ----------------------------------------------------------------------------- fuse_rrf
def test_rrf_single_list_is_reciprocal_rank() -> None:
    assert fuse_rrf([["a", "b"]]) == [("a", 1 / 61), ("b", 1 / 62)]
    assert fuse_rrf([["a", "b"]], k=1) == [("a", 1 / 2), ("b", 1 / 3)]


def test_rrf_sums_lists_and_breaks_ties_deterministically() -> None:
    fused = fuse_rrf([["a", "b", "c"], ["b", "a", "d"]])
    # a and b both score 1/61 + 1/62; a's best rank (1) comes from the earlier list.
    # c and d both score 1/63 and share best rank 3; c's comes from the earlier list.
    assert [d for d, _ in fused] == ["a", "b", "c", "d"]
    assert fused[0][1] == pytest.approx(1 / 61 + 1 / 62) == fused[1][1]
    assert fused[2][1] == pytest.approx(1 / 63) == fused[3][1]
    # Equal scores and equal best ranks from the same list position: ordered by id.
    assert [d for d, _ in fuse_rrf([["y"], ["x"]], weights=[1.0, 1.0])] == ["y", "x"]
    assert [d for d, _ in fuse_rrf([["y", "q"], ["q", "y"]])] == ["y", "q"]


def test_rrf_weights_duplicates_and_edge_cases() -> None:
    fused = dict(fuse_rrf([["a", "b"], ["b", "a"]], weights=[2.0, 1.0]))
    assert fused["a"] == pytest.approx(2 / 61 + 1 / 62)
    assert fused["b"] == pytest.approx(2 / 62 + 1 / 61)
    assert fused["a"] > fused["b"]
    assert dict(fuse_rrf([["a", "a", "b"]])) == {"a": 1 / 61, "b": 1 / 63}  # rank is positional
    assert fuse_rrf([[], []]) == [] and fuse_rrf([]) == []
    # a doc found by both lists at rank 2 beats a doc ranked 1 in one list only
    assert fuse_rrf([["x", "both"], ["y", "both"]])[0][0] == "both"
    with pytest.raises(ValueError):
        fuse_rrf([["a"]], weights=[1.0, 2.0])


def test_tied_scores_share_a_rank_so_the_other_list_decides() -> None:
    assert shared_ranks([9.0, 7.5, 7.5, 7.5, 2.0]) == [1, 2, 2, 2, 5]
    assert shared_ranks([]) == [] and shared_ranks([3.0]) == [1]
    # Two copies of one paragraph tie on BM25 and come back in either order; the vector list
    # prefers "dup_b". Positional ranks let the BM25 order decide; shared ranks do not.
    for bm25_order in (["dup_a", "dup_b", "c"], ["dup_b", "dup_a", "c"]):
        fused = fuse_rrf([bm25_order, ["dup_b", "dup_a", "c"]],
                         ranks=[shared_ranks([30.1, 30.1, 12.0]), None])
        assert [d for d, _ in fused] == ["dup_b", "dup_a", "c"]
        assert fused[0][1] == pytest.approx(1 / 61 + 1 / 61)
    with pytest.raises(ValueError):
        fuse_rrf([["a"], ["b"]], ranks=[[1]])


@pytest.mark.parametrize("mode", ["hybrid", "bm25", "vector"])
def test_exact_copies_come_back_in_file_order_whatever_their_ids(
        store: IndexStore, mode: str) -> None:
    """Six files hold the same paragraph: both rankings tie them. Chunk ids are random, so ids
    in file order by chance would be 1 in 720; the order must be the files' every time."""
    names = ["d", "b", "f", "a", "e", "c"]
    for name in names:
        add_file(store, f"/w/d/{name}.md", ["lighthouse keeper log of the harbour"])
    add_file(store, "/w/d/other.md", ["tide table for the estuary"])
    r = Retriever(store, ExactVectorIndex.from_store(store), fake_embed)
    hits = r.search("lighthouse keeper log", k=4, mode=mode)  # type: ignore[arg-type]
    # The tie straddles the cut at 4: the four kept are the first four files, not four by id.
    assert [h.anchor.path for h in hits] == [f"/w/d/{n}.md" for n in "abcd"]


# ----------------------------------------------------------------------------- vector index
@pytest.mark.parametrize("block_rows", [None, 64])
def test_exact_index_agrees_with_brute_force_after_churn(
    block_rows: int | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Also with tiny storage blocks, so scans, gathers and overwrites cross block borders."""
    if block_rows:
        monkeypatch.setattr(vector_index, "_BLOCK_ROWS", block_rows)
    rng = np.random.default_rng(7)
    index = ExactVectorIndex(DIM)
    truth: dict[str, tuple[np.ndarray, str]] = {}
    for step in range(6):
        ids = [f"c{step}-{i}" for i in range(400)]
        vecs = rng.standard_normal((400, DIM)).astype(np.float32)
        paths = [
            f"/d/{'sub' if i % 3 else 'top'}/f{i % 37}.{'md' if i % 2 else 'txt'}"
            for i in range(400)
        ]
        index.upsert(ids, vecs, paths)
        truth.update({i: (v / np.linalg.norm(v), p) for i, v, p in zip(ids, vecs, paths)})
        gone = ids[::5]
        index.remove_ids(gone)
        for g in gone:
            truth.pop(g)
        over = [f"c0-{i}" for i in range(1, 50, 7) if f"c0-{i}" in truth]  # overwrite in place
        new = rng.standard_normal((len(over), DIM)).astype(np.float32)
        index.upsert(over, new, [truth[o][1] for o in over])
        truth.update({o: (v / np.linalg.norm(v), truth[o][1]) for o, v in zip(over, new)})
    assert len(index) == len(truth)
    keys = list(truth)
    matrix = np.stack([truth[k][0] for k in keys])
    flt = SearchFilter.create(folders=["/d/sub"], exts=["md"])
    assert flt is not None
    allowed = np.array([flt.matches(truth[k][1]) for k in keys])
    for _ in range(5):
        q = rng.standard_normal(DIM).astype(np.float32)
        scores = matrix @ (q / np.linalg.norm(q))
        expect = [keys[i] for i in np.argsort(-scores)[:10]]
        got = index.search(q, 10)
        assert [cid for cid, _ in got] == expect
        assert [s for _, s in got] == pytest.approx(sorted(scores, reverse=True)[:10], abs=1e-5)
        masked = np.where(allowed, scores, -np.inf)
        expect_f = [keys[i] for i in np.argsort(-masked)[:10]]
        assert [cid for cid, _ in index.search(q, 10, mask=flt)] == expect_f
        assert [cid for cid, _ in index.search(q, 10, mask=index.mask_for(flt))] == expect_f
    assert index.search(np.zeros(DIM), 5) == [] and index.search(q, 0) == []
    assert index.nbytes <= (len(truth) + len(index._free) + 2 * vector_index._BLOCK_ROWS) * DIM * 4


def test_exact_index_paths_remove_and_rename() -> None:
    index = ExactVectorIndex(4)
    eye = np.eye(4, dtype=np.float32)
    index.upsert(["a", "b", "c"], eye[:3], ["/x/1.md", "/x/2.md", "/y/3.md"])
    index.rename_paths({"/x/1.md": "/y/3.md"})  # moved over an existing file
    assert len(index) == 2
    only_y = SearchFilter.create(folders=["/y"])
    assert index.search(eye[0], 5, mask=only_y) == [("a", pytest.approx(1.0))]
    index.remove_paths(["/y/3.md"])
    assert [cid for cid, _ in index.search(eye[1], 5)] == ["b"]
    with pytest.raises(ValueError):
        index.search(eye[1], 5, mask=np.ones(99, dtype=bool))


def test_vector_index_follows_every_store_change(store: IndexStore) -> None:
    index = ExactVectorIndex.from_store(store)
    add_file(store, "/w/a/one.md", ["alpha apple", "beta banana", "shared line"])
    add_file(store, "/w/a/two.md", ["gamma grape", "shared line"])
    add_file(store, "/w/b/three.txt", ["delta date"])
    store.replace_chunks("/w/a/one.md", "/w", ".md", [Chunk(text="shared line", ordinal=0)])
    store.move_file("/w/b/three.txt", "/w/b/four.txt")
    store.move_prefix("/w/a", "/w/c")
    store.remove_files(["/w/c/two.md"])
    fresh = ExactVectorIndex.from_store(store)
    q = fake_embed("shared line delta")
    assert len(index) == len(fresh) == store.chunk_count() - store.pending_count() == 2
    got, want = index.search(q, 10), fresh.search(q, 10)
    assert [c for c, _ in got] == [c for c, _ in want]
    assert [s for _, s in got] == pytest.approx([s for _, s in want])
    only_c = SearchFilter.create(folders=["/w/c"])
    assert [cid for cid, _ in index.search(q, 10, mask=only_c)] == [
        cid for cid, _ in fresh.search(q, 10, mask=only_c)
    ]
    index.detach()
    fresh.detach()


# ----------------------------------------------------------------------------- retrieval
def test_empty_index_and_empty_query_return_nothing(
    retriever: Retriever, store: IndexStore
) -> None:
    assert retriever.search("anything") == []
    add_file(store, "/w/d/a.md", ["some text"])
    assert retriever.search("") == [] and retriever.search("   ") == []
    assert retriever.search("some", k=0) == []
    with pytest.raises(UserInputError):
        retriever.search("some", mode="fuzzy")  # type: ignore[arg-type]


def test_hybrid_ranks_keyword_and_semantic_match_first(store: IndexStore) -> None:
    add_file(store, "/w/d/router.md", ["reset the router password from the admin page"])
    add_file(store, "/w/d/policy.md", ["password password policy rules for password length"])
    add_file(store, "/w/d/admin.md", ["the admin page of the router shows the reset button"])
    add_file(store, "/w/d/other.md", ["cooking pasta with tomato sauce"])
    retriever = Retriever(store, ExactVectorIndex.from_store(store), fake_embed)
    hits = retriever.search("reset router password", k=3)
    assert hits[0].anchor.path == "/w/d/router.md"
    top = hits[0]
    assert top.bm25_rank == 1 and top.vector_rank == 1 and top.bm25 and top.vector
    assert top.fused == pytest.approx(2 / 61)
    assert set(top.matched_terms) == {"reset", "router", "password"}
    assert (
        top.snippet.count(HIGHLIGHT_OPEN) == 3
        and f"{HIGHLIGHT_OPEN}router{HIGHLIGHT_CLOSE}" in top.snippet
    )
    assert all(h.anchor.path != "/w/d/other.md" for h in hits[:2])


def test_fusion_beats_each_single_mode(store: IndexStore) -> None:
    """BM25 prefers `keyword`, vectors prefer `semantic`; only `both` is good on both sides."""
    add_file(store, "/w/d/keyword.md", ["zebra zebra zebra zebra crossing"], embed=False)
    add_file(store, "/w/d/both.md", ["a zebra grazing near the river"], embed=False)
    add_file(store, "/w/d/semantic.md", ["striped horse on the savanna"], embed=False)
    for i in range(6):
        add_file(store, f"/w/d/noise{i}.md", [f"unrelated filler number {i}"], embed=False)
    q = np.zeros(DIM, dtype=np.float32)
    q[0] = 1.0
    wanted = {"semantic": 0.95, "both": 0.9, "keyword": -0.5}
    pending = store.pending_embeddings(limit=None)
    vecs = []
    for cid, _ in pending:
        (row,) = store.get_chunks([cid])
        name = Path(row["path"]).stem
        cos = wanted.get(name, 0.5 - 0.05 * int(name[-1]) if name.startswith("noise") else 0.0)
        v = np.zeros(DIM, dtype=np.float32)
        v[0], v[1] = cos, np.sqrt(1 - cos**2)
        vecs.append(v)
    store.set_vectors([cid for cid, _ in pending], np.stack(vecs))
    r = Retriever(store, ExactVectorIndex.from_store(store), fake_embed)
    stem = lambda hits: [Path(h.anchor.path).stem for h in hits]
    assert stem(r.search("zebra", 3, mode="bm25", query_vector=q))[0] == "keyword"
    assert stem(r.search("zebra", 3, mode="vector", query_vector=q))[0] == "semantic"
    hybrid = r.search("zebra", 3, query_vector=q)
    assert stem(hybrid)[0] == "both"
    assert (hybrid[0].bm25_rank, hybrid[0].vector_rank) == (2, 2)
    keyword_only = Retriever(store, r.vectors, fake_embed, weights=(1.0, 0.0))
    assert stem(keyword_only.search("zebra", 3, query_vector=q))[0] == "keyword"


@pytest.mark.parametrize("mode", ["hybrid", "bm25", "vector"])
def test_filters_apply_to_both_sides(store: IndexStore, mode: str) -> None:
    for folder in ("notes", "code", "notes/deep"):
        for ext in ("md", "py"):
            add_file(store, f"/w/{folder}/doc it's.{ext}", [f"budget report for {folder} {ext}"])
    r = Retriever(store, ExactVectorIndex.from_store(store), fake_embed)
    cases = [
        ({"folders": ["/w/notes"]}, lambda p: p.startswith("/w/notes/")),
        ({"exts": ["MD"]}, lambda p: p.endswith(".md")),
        ({"path_glob": "*/deep/*"}, lambda p: "/deep/" in p),
        (
            {"folders": ["/w/notes"], "exts": [".py"]},
            lambda p: p.startswith("/w/notes/") and p.endswith(".py"),
        ),
        ({"folders": ["/w/note"]}, lambda p: False),  # a prefix string is not a folder
    ]
    for kwargs, ok in cases:
        hits = r.search("budget report", 10, mode=mode, **kwargs)  # type: ignore[arg-type]
        expected = sum(
            ok(f"/w/{f}/doc it's.{e}")
            for f in ("notes", "code", "notes/deep")
            for e in ("md", "py")
        )
        assert len(hits) == expected, kwargs
        assert all(ok(h.anchor.path) for h in hits), kwargs


@pytest.mark.parametrize(
    "query",
    [
        '"budget',
        "budget:(report)",
        "budget AND report",
        "NOT budget",
        "report)) OR ((",
        "😀 budget",
    ],
)
def test_special_characters_never_crash(
    retriever: Retriever, store: IndexStore, query: str
) -> None:
    add_file(store, "/w/d/a.md", ["budget report"])
    hits = retriever.search(query, mode="bm25")
    assert [h.anchor.path for h in hits] == ["/w/d/a.md"]
    assert retriever.search(query)  # hybrid too


def test_hybrid_falls_back_to_keywords_when_query_embedding_fails(store: IndexStore) -> None:
    add_file(store, "/w/d/a.md", ["budget report"])

    def broken(_: str) -> np.ndarray:
        raise ModelUnavailableError("embedder missing")

    r = Retriever(store, ExactVectorIndex.from_store(store), broken)
    (hit,) = r.search("budget")
    assert hit.bm25_rank == 1 and hit.vector_rank is None
    with pytest.raises(ModelUnavailableError):
        r.search("budget", mode="vector")


def test_snippet_highlights_stems_and_densest_cluster(
    retriever: Retriever, store: IndexStore
) -> None:
    filler = "Lorem ipsum dolor sit amet consectetur. " * 6
    text = filler + "The dogs were running fast; a dog runs daily. " + filler
    add_file(store, "/w/d/dogs.md", [text])
    (hit,) = retriever.search("running dog", mode="bm25")
    assert hit.snippet.startswith("…") and hit.snippet.endswith("…")
    assert len(hit.snippet.replace(HIGHLIGHT_OPEN, "").replace(HIGHLIGHT_CLOSE, "")) <= 240 + 2
    assert f"{HIGHLIGHT_OPEN}dogs{HIGHLIGHT_CLOSE}" in hit.snippet
    assert f"{HIGHLIGHT_OPEN}runs{HIGHLIGHT_CLOSE}" in hit.snippet  # stemmed like the index
    assert hit.snippet.count(HIGHLIGHT_OPEN) == 4
    assert hit.matched_terms == ("running", "dog")
    assert make_snippet("a «quoted» word", []) == "a ‹quoted› word"


def test_anchor_from_row_maps_zero_to_none() -> None:
    row = {"path": "/p.pdf", "page": 0, "heading": "A > B", "line_start": 0, "line_end": 0,
           "char_start": 5, "char_end": 9}  # fmt: skip
    a = anchor_from_row(row)
    assert (a.page, a.heading_path, a.line_start, a.line_end) == (None, ("A", "B"), None, None)
    b = anchor_from_row({**row, "page": 3, "heading": "", "line_start": 4, "line_end": 6})
    assert (b.page, b.heading_path, b.line_start, b.line_end) == (3, (), 4, 6)
    assert b.label() == "p.pdf p. 3"


@pytest.mark.parametrize("mode", ["bm25", "hybrid", "vector"])
def test_hits_carry_text_and_anchor_read_from_the_hit_columns_only(
    store: IndexStore, mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Search reads the few columns a hit shows (cheaper at scale); bm25 mode keeps the BM25
    order, and every hit still has its text, scores and citation anchor."""
    for i in range(12):
        add_file(store, f"/w/d/n{i:02d}.md", [f"lighthouse keeper log {i}", f"tide table {i}"])
    r = Retriever(store, ExactVectorIndex.from_store(store), fake_embed)
    asked: list[tuple[str, ...]] = []
    real_keyword, real_get = store.keyword_search, store.get_chunks

    def keyword(*a: object, columns: tuple[str, ...] = (), **k: object) -> object:
        asked.append(tuple(columns))
        return real_keyword(*a, columns=columns, **k)  # type: ignore[arg-type]

    def get(ids: list[str], columns: tuple[str, ...] = (), **k: object) -> object:
        asked.append(tuple(columns))
        return real_get(ids, columns=columns, **k)  # type: ignore[arg-type]

    monkeypatch.setattr(store, "keyword_search", keyword)
    monkeypatch.setattr(store, "get_chunks", get)
    hits = r.search("lighthouse keeper 7", k=4, mode=mode)  # type: ignore[arg-type]
    assert len(hits) == 4 and asked
    assert all(set(cols) <= set(HIT_COLUMNS) for cols in asked)
    for h in hits:
        assert h.text.startswith(("lighthouse", "tide")) and h.anchor.line_start in (1, 2)
        assert h.anchor.path.startswith("/w/d/n") and h.snippet
    if mode == "bm25":
        expect = real_keyword("lighthouse keeper 7", 4)
        scores = [row["_score"] for row in expect]
        assert [h.bm25 for h in hits] == pytest.approx(scores)  # the BM25 order
        assert hits[0].chunk_id == expect[0]["id"] and "7" in hits[0].text
        # The other logs tie on "lighthouse keeper": they share one rank.
        assert [h.bm25_rank for h in hits] == shared_ranks(scores) == [1, 2, 3, 3]
