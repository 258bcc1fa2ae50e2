"""IndexStore against a real LanceDB in tmp_path: round trips, escaping, reuse, moves, rebuild,
maintenance and a concurrent reader. The behaviour of LanceDB itself that the store relies on
(rows added after the full-text index are still searchable) is asserted here too, so an upgrade
that changes it fails loudly."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from indexer.errors import StoreError
from indexer.events import FileStage
from indexer.records import Chunk
from indexer.storage.search_filter import SearchFilter, glob_to_regex, sql_in, sql_str
from indexer.storage.store import FileRecord, IndexStore, MaintenancePolicy, rebuild_dir_for
from indexer.storage.store_layout import REBUILD_MARKER

DIM = 8
NASTY = [
    '/docs/it\'s "x".md',
    "/docs/emoji 😀 notes.md",
    "/docs/new\nline.md",
    "/docs/back\\slash.md",
    "/docs/100%_done.md",
    "/docs/semi;colon -- drop table.md",
]


def make_chunks(texts: list[str], heading: tuple[str, ...] = ()) -> list[Chunk]:
    return [
        Chunk(text=t, ordinal=i, heading_path=heading, line_start=i + 1, line_end=i + 1)
        for i, t in enumerate(texts)
    ]


def vec(seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal(DIM).astype(np.float32)
    return v / np.linalg.norm(v)


def record(path: str, stage: FileStage = FileStage.PARSED, **kw: object) -> FileRecord:
    base: dict[str, object] = {"folder": "/docs", "ext": ".md", "size": 10, "mtime_ns": 123}
    base.update(content_hash="h" + path, **kw)
    return FileRecord(path=path, stage=stage, **base)  # type: ignore[arg-type]


def embed_all(store: IndexStore) -> int:
    pending = store.pending_embeddings(limit=None)
    ids = [cid for cid, _ in pending]
    vectors = np.stack([vec(hash(text) % 10_000) for _, text in pending]) if pending else None
    return store.set_vectors(ids, vectors) if ids else 0


@pytest.fixture
def store(tmp_path: Path) -> IndexStore:
    return IndexStore.open(tmp_path / "index", "test-model", DIM)


# ----------------------------------------------------------------------------- escaping
def test_sql_str_doubles_quotes_and_keeps_everything_else_literal() -> None:
    assert sql_str("it's") == "'it''s'"
    assert sql_str("a\\b\nc😀") == "'a\\b\nc😀'"
    assert sql_in("path", []) == "FALSE"
    with pytest.raises(ValueError):
        sql_str("nul\x00")


@pytest.mark.parametrize("path", NASTY)
def test_nasty_paths_round_trip_through_every_path_filter(store: IndexStore, path: str) -> None:
    other = "/docs/plain.md"
    for p in (path, other):
        store.replace_chunks(p, "/docs", ".md", make_chunks([f"needle text for {p}"]))
        store.upsert_files([record(p)])
    rec = store.get_file(path)
    assert rec is not None and rec.path == path
    assert [r["path"] for r in store.chunks_for_file(path)] == [path]
    store.set_stage(path, FileStage.FAILED, reason="it's broken")
    assert store.get_file(path).stage is FileStage.FAILED
    assert store.get_file(path).reason == "it's broken"
    assert store.get_file(other).stage is FileStage.PARSED
    store.remove_files([path])
    assert store.get_file(path) is None and store.chunks_for_file(path) == []
    assert store.get_file(other) is not None and len(store.chunks_for_file(other)) == 1


def test_glob_translation_agrees_between_python_and_lancedb(store: IndexStore) -> None:
    for i, p in enumerate(NASTY):
        store.replace_chunks(p, "/docs", ".md", make_chunks([f"needle {i}"]))
    for glob in ["*.md", "*it's*", "*😀*", "*new?line*", "*[!a-z]done.md", "*back\\*", "*%_*"]:
        flt = SearchFilter.create(path_glob=glob)
        assert flt is not None
        sql_side = {r["path"] for r in store.keyword_search("needle", 50, flt.where_sql())}
        py_side = {p for p in NASTY if flt.matches(p)}
        assert sql_side == py_side, (glob, glob_to_regex(glob))
        assert py_side  # every pattern above matches something


# ----------------------------------------------------------------------------- files
def test_file_round_trip_and_listing(store: IndexStore) -> None:
    a = record("/docs/a.md", size=5, mtime_ns=2**40, parser="text", chunk_count=3, updated_at=7.5)
    b = record("/other/b.txt", folder="/other", ext="TXT", stage=FileStage.EMBEDDED)
    store.upsert_files([a, b])
    assert store.get_file("/docs/a.md") == a
    assert store.get_file("/other/b.txt").ext == ".txt"  # normalised
    assert store.get_file("/other/b.txt").updated_at > 0  # stamped
    assert [f.path for f in store.list_files(folder="/docs")] == ["/docs/a.md"]
    assert [f.path for f in store.list_files(stage=FileStage.EMBEDDED)] == ["/other/b.txt"]
    assert store.counts_by_stage() == {"parsed": 1, "embedded": 1}
    store.upsert_files([record("/docs/a.md", size=99)])  # merge on path: no duplicate
    assert store.file_count() == 2
    assert store.get_file("/docs/a.md").size == 99


def test_remove_files_uses_one_delete_per_table_for_many_paths(store: IndexStore) -> None:
    paths = [f"/docs/f{i}'s.md" for i in range(40)]
    for p in paths:
        store.replace_chunks(p, "/docs", ".md", make_chunks(["x " + p]))
    store.upsert_files([record(p) for p in paths])
    versions = store.version_count()
    store.remove_files(paths[:30])
    assert store.version_count() == versions + 1  # one commit on chunks
    assert store.file_count() == 10 and store.chunk_count() == 10


# ----------------------------------------------------------------------------- chunks
def test_chunk_rows_carry_anchor_fields(store: IndexStore) -> None:
    chunks = [
        Chunk(text="page text", ordinal=0, page=3, char_start=10, char_end=19),
        Chunk(text="under heading", ordinal=1, heading_path=("Guide", "Setup"), kind="code"),
    ]
    store.replace_chunks("/docs/g.pdf", "/docs", ".pdf", chunks)
    rows = store.chunks_for_file("/docs/g.pdf")
    assert [(r["page"], r["heading"], r["line_start"]) for r in rows] == [
        (3, "", 0),
        (0, "Guide > Setup", 0),
    ]
    assert rows[0]["char_start"] == 10 and rows[0]["char_end"] == 19 and rows[1]["kind"] == "code"
    pending = dict(store.pending_embeddings())
    assert pending[rows[1]["id"]] == chunks[1].embed_text
    assert pending[rows[0]["id"]] == chunks[0].embed_text
    assert store.get_chunks([rows[1]["id"], "missing", rows[0]["id"]]) == [rows[1], rows[0]]


def test_edit_of_one_chunk_out_of_five_needs_exactly_one_embedding(store: IndexStore) -> None:
    texts = [f"paragraph {i} about topic {i}" for i in range(5)]
    first = store.replace_chunks("/docs/a.md", "/docs", ".md", make_chunks(texts))
    assert len(first) == 5
    assert embed_all(store) == 5
    before = {r["text_hash"]: r for r in store.chunks_for_file("/docs/a.md", with_vectors=True)}
    texts[2] = "paragraph 2 was rewritten"
    need = store.replace_chunks("/docs/a.md", "/docs", ".md", make_chunks(texts))
    assert len(need) == 1
    assert store.pending_count() == 1
    after = store.chunks_for_file("/docs/a.md", with_vectors=True)
    assert store.chunk_count() == 5
    for row in after:
        if row["text_hash"] in before:  # unchanged: same id, same vector, embedded
            assert row["embedded"] and row["id"] == before[row["text_hash"]]["id"]
            assert row["vector"] == before[row["text_hash"]]["vector"]
        else:
            assert not row["embedded"] and (row["id"],) == need


def test_vectors_are_reused_across_files(store: IndexStore) -> None:
    store.replace_chunks("/docs/a.md", "/docs", ".md", make_chunks(["shared text", "only a"]))
    embed_all(store)
    need = store.replace_chunks("/docs/b.md", "/docs", ".md", make_chunks(["shared text", "b"]))
    assert len(need) == 1
    rows = {r["text"]: r for r in store.chunks_for_file("/docs/b.md", with_vectors=True)}
    assert rows["shared text"]["embedded"] and not rows["b"]["embedded"]
    a_row = store.chunks_for_file("/docs/a.md", with_vectors=True)[0]
    assert rows["shared text"]["vector"] == a_row["vector"]


def test_set_vectors_skips_chunks_replaced_meanwhile(store: IndexStore) -> None:
    (old,) = store.replace_chunks("/docs/a.md", "/docs", ".md", make_chunks(["v1"]))
    store.replace_chunks("/docs/a.md", "/docs", ".md", make_chunks(["v2"]))
    assert store.set_vectors([old], vec(1)[None, :]) == 0
    with pytest.raises(ValueError):
        store.set_vectors([old], np.zeros((1, DIM + 1), np.float32))


def test_keyword_searchable_immediately_after_replace_chunks(store: IndexStore) -> None:
    store.replace_chunks("/docs/a.md", "/docs", ".md", make_chunks(["alpha beta"]))
    store.maintain(force=True)  # the FTS index now covers the first file...
    store.replace_chunks("/docs/b.md", "/docs", ".md", make_chunks(["zebra crossing guide"]))
    stats = store.tables.reader("chunks").index_stats("text_idx")
    assert stats.num_unindexed_rows == 1  # ...but not the second one (LanceDB behaviour)
    hits = store.keyword_search("zebra", 5)
    assert [h["path"] for h in hits] == ["/docs/b.md"]  # searched flat until optimize()
    store.replace_chunks("/docs/a.md", "/docs", ".md", make_chunks(["gamma delta"]))
    assert store.keyword_search("alpha", 5) == []  # deleted rows leave the index at once
    assert [h["path"] for h in store.keyword_search("gamma", 5)] == ["/docs/a.md"]


@pytest.mark.parametrize(
    "query",
    ['it\'s "x"', "foo:bar (baz", "AND", "NOT zebra", '"unterminated', "+-&&||!(){}[]^~*?:\\/",
     "title:zebra", "😀", "   ", "zebra AND OR"],
)  # fmt: skip
def test_keyword_search_never_fails_on_operator_syntax(store: IndexStore, query: str) -> None:
    store.replace_chunks("/docs/z.md", "/docs", ".md", make_chunks(["zebra crossing"]))
    hits = store.keyword_search(query, 5)
    assert [h["path"] for h in hits] == (["/docs/z.md"] if "zebra" in query else [])


# ----------------------------------------------------------------------------- moves
def test_move_file_keeps_vectors_ids_and_drops_what_was_at_dest(store: IndexStore) -> None:
    store.replace_chunks("/docs/a.md", "/docs", ".md", make_chunks(["one", "two"]))
    store.replace_chunks("/docs/b.txt", "/docs", ".txt", make_chunks(["old b"]))
    store.upsert_files([record("/docs/a.md"), record("/docs/b.txt", ext=".txt")])
    embed_all(store)
    before = store.chunks_for_file("/docs/a.md", with_vectors=True)
    assert store.move_file("/docs/a.md", "/docs/b.txt", folder="/docs2")
    assert store.chunks_for_file("/docs/a.md") == []
    after = store.chunks_for_file("/docs/b.txt", with_vectors=True)
    assert [(r["id"], r["vector"], r["embedded"]) for r in after] == [
        (r["id"], r["vector"], True) for r in before
    ]
    assert {r["ext"] for r in after} == {".txt"} and {r["folder"] for r in after} == {"/docs2"}
    assert store.get_file("/docs/b.txt").content_hash == "h/docs/a.md"
    assert store.file_count() == 1 and store.chunk_count() == 2 and store.pending_count() == 0
    assert not store.move_file("/docs/nope.md", "/docs/x.md")


def test_move_prefix_repoints_nested_unicode_paths(store: IndexStore) -> None:
    paths = ["/w/src 😀/a.md", "/w/src 😀/sub/it's.md", "/w/src 😀x/not-inside.md"]
    for p in paths:
        store.replace_chunks(p, "/w", ".md", make_chunks(["text of " + p]))
        store.upsert_files([record(p, folder="/w")])
    embed_all(store)
    vectors = {
        r["text"]: r["vector"] for p in paths for r in store.chunks_for_file(p, with_vectors=True)
    }
    mapping = store.move_prefix("/w/src 😀", "/w/dést 'q'/")
    assert mapping == {
        "/w/src 😀/a.md": "/w/dést 'q'/a.md",
        "/w/src 😀/sub/it's.md": "/w/dést 'q'/sub/it's.md",
    }
    for old, new in mapping.items():
        assert store.get_file(old) is None and store.get_file(new) is not None
        (row,) = store.chunks_for_file(new, with_vectors=True)
        assert row["vector"] == vectors["text of " + old]
    assert store.get_file(paths[2]) is not None  # a sibling with the same prefix string


# ----------------------------------------------------------------------------- rebuild
def test_model_mismatch_needs_rebuild_and_swap_replaces_directory(tmp_path: Path) -> None:
    index_dir = tmp_path / "index"
    old = IndexStore.open(index_dir, "model-a", DIM)
    old.replace_chunks("/docs/a.md", "/docs", ".md", make_chunks(["kept for keyword search"]))
    assert not old.needs_rebuild
    mismatched = IndexStore.open(index_dir, "model-b", 16)
    assert mismatched.needs_rebuild and "model-a" in (mismatched.rebuild_reason or "")
    assert len(mismatched.keyword_search("keyword", 5)) == 1  # reads still work
    with pytest.raises(StoreError):
        mismatched.replace_chunks("/docs/a.md", "/docs", ".md", make_chunks(["x"]))
    rebuild = IndexStore.open_rebuild(index_dir, "model-b", 16)
    assert rebuild.index_dir == rebuild_dir_for(index_dir)
    rebuild.replace_chunks("/docs/a.md", "/docs", ".md", make_chunks(["rebuilt"]))
    old.close()
    mismatched.close()
    live = rebuild.swap_in()
    assert live.index_dir == index_dir and not live.needs_rebuild
    assert live.meta()["embed_model_id"] == "model-b" and live.meta()["embed_dim"] == "16"
    assert [r["text"] for r in live.chunks_for_file("/docs/a.md")] == ["rebuilt"]
    assert not rebuild_dir_for(index_dir).exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["index"]


def test_rebuild_resumes_and_interrupted_swap_is_finished_on_open(tmp_path: Path) -> None:
    index_dir = tmp_path / "index"
    IndexStore.open(index_dir, "model-a", DIM).close()
    first = IndexStore.open_rebuild(index_dir, "model-b", DIM)
    first.replace_chunks("/docs/a.md", "/docs", ".md", make_chunks(["half done"]))
    first.close()
    resumed = IndexStore.open_rebuild(index_dir, "model-b", DIM)
    assert resumed.chunk_count() == 1  # resumed, not wiped
    resumed.close()
    # Simulate a crash right after the marker was written and the old index moved aside.
    (rebuild_dir_for(index_dir) / REBUILD_MARKER).write_text("model-b")
    index_dir.rename(tmp_path / "index.old")
    live = IndexStore.open(index_dir, "model-b", DIM)
    assert not live.needs_rebuild and live.chunk_count() == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["index"]


# ----------------------------------------------------------------------------- maintenance
def test_maintain_bounds_fragments_and_versions_under_churn(tmp_path: Path) -> None:
    policy = MaintenancePolicy(
        max_fragments=8,
        min_interval_s=3600.0,  # only the hard limit applies during the burst...
        hard_max_fragments=24,
        hard_min_interval_s=0.0,
        bulk_commits=0,  # maintain()'s own rules only (writes compacting: see below)
        retain_versions=timedelta(milliseconds=1),
    )
    store = IndexStore.open(tmp_path / "index", "m", DIM, policy=policy)
    for i in range(60):
        store.replace_chunks(f"/docs/f{i}.md", "/docs", ".md", make_chunks([f"base {i}"] * 3))
    store.maintain(force=True)
    assert store.fragment_count() == 1
    peak, runs = 0, 0
    for i in range(200):  # each edit adds a fragment and deletes rows from an older one
        path = f"/docs/f{i % 60}.md"
        store.replace_chunks(path, "/docs", ".md", make_chunks([f"edit {i} word{i}", "same"]))
        peak = max(peak, store.fragment_count())
        runs += bool(store.maintain())
    assert peak == policy.hard_max_fragments + 1 and runs >= 3
    assert 0 < store.fragment_count() <= policy.hard_max_fragments
    store.maintain(force=True)
    assert store.fragment_count() <= 2
    assert store.version_count() <= 3  # old versions were cleaned up, not only compacted
    assert store.chunk_count() == 120
    assert [h["path"] for h in store.keyword_search("word199", 5)] == ["/docs/f19.md"]
    assert store.keyword_search("word198", 5)[0]["path"] == "/docs/f18.md"
    assert store.keyword_search("base", 5) == []  # every file was edited


def test_reader_thread_searches_while_writer_writes_and_maintains(tmp_path: Path) -> None:
    policy = MaintenancePolicy(
        max_fragments=4, min_interval_s=0.0, retain_versions=timedelta(milliseconds=1)
    )
    store = IndexStore.open(tmp_path / "index", "m", DIM, policy=policy)
    store.replace_chunks("/docs/stable.md", "/docs", ".md", make_chunks(["stable anchor text"]))
    errors: list[BaseException] = []
    stop = threading.Event()
    reads = [0]

    def reader() -> None:
        while not stop.is_set():
            try:
                assert store.keyword_search("stable anchor", 5)[0]["path"] == "/docs/stable.md"
                store.get_file("/docs/f1.md")
                store.chunk_count()
                reads[0] += 1
            except BaseException as exc:  # noqa: BLE001 - reported by the main thread
                errors.append(exc)
                return

    threads = [threading.Thread(target=reader) for _ in range(2)]
    for t in threads:
        t.start()
    try:
        for i in range(60):
            path = f"/docs/f{i % 5}.md"
            store.replace_chunks(path, "/docs", ".md", make_chunks([f"churn {i}", "more"]))
            store.upsert_files([record(path)])
            store.maintain()
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert not errors, errors[0]
    assert reads[0] > 0
    assert store.chunk_count() == 11


# ----------------------------------------------------------------------------- scalar indexes
def _index_rows(table: object, name: str) -> tuple[int, int]:
    stats = table.index_stats(name)  # type: ignore[attr-defined]
    return stats.num_indexed_rows, stats.num_unindexed_rows


def test_scalar_indexes_cover_new_rows_after_maintain_and_lookups_stay_exact(
    tmp_path: Path,
) -> None:
    """B-tree indexes on the lookup columns exist from the start; rows written since the last
    compaction are not in them yet but are still found (LanceDB scans them flat); `maintain`
    folds them in. Lookups agree before and after, and after deletes."""
    policy = MaintenancePolicy(bulk_commits=0)  # only maintain() compacts here
    store = IndexStore.open(tmp_path / "index", "m", DIM, policy=policy)
    chunks, files = store.tables.reader("chunks"), store.tables.reader("files")
    names = {i.name for i in chunks.list_indices()}
    assert {"path_idx", "id_idx", "text_hash_idx", "text_idx"} <= names
    assert "path_idx" in {i.name for i in files.list_indices()}
    paths = [f"/docs/n{i}.md" for i in range(12)]
    for p in paths:
        store.replace_chunks(p, "/docs", ".md", make_chunks([f"text of {p}", "shared"]))
    store.upsert_files([record(p) for p in paths])

    def lookups() -> tuple[object, ...]:
        rows = store.chunks_for_file(paths[3])
        ids = [r["id"] for r in rows]
        return (
            [r["text"] for r in rows],
            [r["path"] for r in store.get_chunks(ids)],
            store.get_file(paths[3]),
            [f.path for f in store.get_files(paths[:2])],
        )

    before = lookups()
    assert _index_rows(store.tables.reader("chunks"), "path_idx") == (0, 24)  # flat until compaction
    store.maintain(force=True)
    assert _index_rows(store.tables.reader("chunks"), "path_idx") == (24, 0)
    assert _index_rows(store.tables.reader("chunks"), "text_hash_idx") == (24, 0)
    assert _index_rows(store.tables.reader("files"), "path_idx") == (12, 0)
    assert lookups() == before
    store.replace_chunks(paths[3], "/docs", ".md", make_chunks(["rewritten"]))
    store.remove_files(paths[:2])
    assert _index_rows(store.tables.reader("chunks"), "path_idx")[1] == 1  # the new row
    assert [r["text"] for r in store.chunks_for_file(paths[3])] == ["rewritten"]
    assert store.get_files(paths[:3]) == [store.get_file(paths[2])]
    store.maintain(force=True)
    assert _index_rows(store.tables.reader("chunks"), "path_idx") == (19, 0)
    assert [r["text"] for r in store.chunks_for_file(paths[3])] == ["rewritten"]
    assert store.chunks_for_file(paths[0]) == []


def test_settling_folds_new_rows_into_the_full_text_index_so_copies_score_alike(
    tmp_path: Path,
) -> None:
    """Rows outside the FTS index are searched flat and LanceDB scores them on other statistics:
    two copies of one text score differently until a compaction folds them in. An idle writer
    settles (after `min_interval_s`), a one-shot run settles at once, a reopened store with
    rows left outside settles too; a few fragments alone never trigger a compaction."""
    policy = MaintenancePolicy(bulk_commits=0, min_interval_s=0.0)
    store = IndexStore.open(tmp_path / "index", "m", DIM, policy=policy)
    for i in range(6):
        store.replace_chunks(f"/docs/n{i}.md", "/docs", ".md",
                             make_chunks([f"tide table {i} for the harbour", "filler words"]))
    store.maintain(force=True)
    store.replace_chunks("/docs/copy-a.md", "/docs", ".md", make_chunks(["lighthouse keeper log"]))
    store.replace_chunks("/docs/copy-b.md", "/docs", ".md", make_chunks(["lighthouse keeper log"]))
    assert _index_rows(store.tables.reader("chunks"), "text_idx")[1] == 2
    assert store.maintain() == []  # two fragments: not due for compaction
    store.close()

    store = IndexStore.open(tmp_path / "index", "m", DIM, policy=policy)
    assert store.maintain(settle=True) == ["chunks"]  # left outside by the last session
    assert _index_rows(store.tables.reader("chunks"), "text_idx") == (14, 0)
    scores = [r["_score"] for r in store.keyword_search("lighthouse keeper", 5)]
    assert len(scores) == 2 and scores[0] == pytest.approx(scores[1], rel=1e-9)
    store.replace_chunks("/docs/copy-c.md", "/docs", ".md", make_chunks(["lighthouse keeper log"]))
    assert store.settle() == ["chunks"]
    assert _index_rows(store.tables.reader("chunks"), "text_idx")[1] == 0
    store.close()


def test_writes_compact_on_their_own_during_a_bulk_run(tmp_path: Path) -> None:
    """A bulk run never goes idle, so writes compact after `bulk_commits` commits: fragments
    and unindexed rows stay bounded without anyone calling maintain()."""
    policy = MaintenancePolicy(bulk_commits=10, bulk_spacing=0.0)
    store = IndexStore.open(tmp_path / "index", "m", DIM, policy=policy)
    peak = 0
    for i in range(45):
        store.replace_chunks(f"/docs/b{i}.md", "/docs", ".md", make_chunks([f"bulk word{i}"]))
        peak = max(peak, store.fragment_count())
    assert peak <= 11
    indexed, unindexed = _index_rows(store.tables.reader("chunks"), "path_idx")
    assert indexed >= 40 and unindexed < 10
    assert store.chunk_count() == 45
    assert [h["path"] for h in store.keyword_search("word44", 3)] == ["/docs/b44.md"]
    assert [r["text"] for r in store.chunks_for_file("/docs/b7.md")] == ["bulk word7"]


def test_bulk_compaction_failure_does_not_fail_the_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = IndexStore.open(
        tmp_path / "index", "m", DIM, policy=MaintenancePolicy(bulk_commits=2, bulk_spacing=0.0)
    )
    calls = []

    def full(*_a: object, **_k: object) -> None:
        calls.append(1)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(store.tables.writer("chunks"), "optimize", full)
    for i in range(5):
        store.replace_chunks(f"/docs/f{i}.md", "/docs", ".md", make_chunks([f"x{i}"]))
    assert calls and store.chunk_count() == 5  # every write landed; compaction retried later


# ----------------------------------------------------------------------------- known chunk paths
def test_known_paths_skip_lookups_for_new_files_and_never_duplicate_rows(
    store: IndexStore,
) -> None:
    """The writer skips the old-row lookup for a path without chunks; every way a path gains
    or loses rows (replace, remove, move, a commit the set did not see) keeps that exact."""
    seen: list[str | None] = []
    real_select = store.tables.select

    def select(table: str, where: str | None, *a: object, **k: object) -> object:
        seen.append(where)
        return real_select(table, where, *a, **k)  # type: ignore[arg-type]

    store.tables.select = select  # type: ignore[method-assign]
    store.replace_chunks("/docs/new.md", "/docs", ".md", make_chunks(["first", "second"]))
    assert not [w for w in seen if w and "new.md" in w]  # no lookup for a new file
    store.replace_chunks("/docs/new.md", "/docs", ".md", make_chunks(["first", "third"]))
    assert [w for w in seen if w and "new.md" in w]  # an existing file is looked up
    assert sorted(r["text"] for r in store.chunks_for_file("/docs/new.md")) == ["first", "third"]

    store.remove_chunks(["/docs/new.md"])
    store.replace_chunks("/docs/new.md", "/docs", ".md", make_chunks(["again"]))
    store.move_file("/docs/new.md", "/docs/moved.md")
    store.replace_chunks("/docs/moved.md", "/docs", ".md", make_chunks(["after move"]))
    assert [r["text"] for r in store.chunks_for_file("/docs/moved.md")] == ["after move"]
    assert store.chunks_for_file("/docs/new.md") == []

    # rows added through the writer's handle behind the store's back (as a bulk loader does)
    foreign = store.tables.reader("chunks").search().where("path = '/docs/moved.md'").to_arrow()
    foreign = foreign.set_column(foreign.schema.get_field_index("path"), "path",
                                 pa.array(["/docs/foreign.md"] * foreign.num_rows))  # fmt: skip
    store.tables.writer("chunks").add(foreign)
    store.replace_chunks("/docs/foreign.md", "/docs", ".md", make_chunks(["replaced"]))
    assert [r["text"] for r in store.chunks_for_file("/docs/foreign.md")] == ["replaced"]
    store.maintain(force=True)
    store.replace_chunks("/docs/foreign.md", "/docs", ".md", make_chunks(["once more"]))
    assert [r["text"] for r in store.chunks_for_file("/docs/foreign.md")] == ["once more"]
    assert store.chunk_count() == 2


def test_known_paths_recover_from_a_write_that_raised(
    store: IndexStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.replace_chunks("/docs/a.md", "/docs", ".md", make_chunks(["one"]))
    table = store.tables.writer("chunks")
    real_add = table.add

    def add_then_fail(data: object) -> None:
        real_add(data)  # the commit lands, then the call fails
        raise OSError(5, "I/O error after commit")

    monkeypatch.setattr(table, "add", add_then_fail)
    with pytest.raises(StoreError):
        store.replace_chunks("/docs/b.md", "/docs", ".md", make_chunks(["two"]))
    monkeypatch.setattr(table, "add", real_add)
    store.replace_chunks("/docs/b.md", "/docs", ".md", make_chunks(["two again"]))
    assert [r["text"] for r in store.chunks_for_file("/docs/b.md")] == ["two again"]


def test_lancedb_caches_are_bounded_and_shared(store: IndexStore) -> None:
    from indexer.storage.store_tables import INDEX_CACHE_BYTES, METADATA_CACHE_BYTES

    for i in range(30):
        store.replace_chunks(f"/docs/c{i}.md", "/docs", ".md", make_chunks([f"cache {i}"]))
        store.keyword_search(f"cache {i}", 3)
    assert 0 < store.tables.cache_bytes() <= INDEX_CACHE_BYTES + METADATA_CACHE_BYTES
