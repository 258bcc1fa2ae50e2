"""`ReadOnlyKnowledgeBase` and `IndexStore.open_read_only`: a server reads a home that another
knowledge base owns (holds the lock and writes), in either order of opening, and follows the
owner's later writes (rows, vectors, folders). Fake models, same seam as the real ones."""

from __future__ import annotations

from pathlib import Path

import pytest

from indexer.config import save_settings
from indexer.errors import IndexLockedError, StoreError
from indexer.service import KnowledgeBase, build_hub
from indexer.serving.reader import ReadOnlyKnowledgeBase
from indexer.storage.store import IndexStore
from tests.indexer.builders import TIMEOUT, make_docs, make_settings, wait_for, write_valve_docs


def _owner(tmp_path: Path) -> KnowledgeBase:
    docs = make_docs(tmp_path)
    write_valve_docs(docs)
    settings = make_settings(tmp_path / "home", [docs])
    save_settings(settings, keys={"folders"})  # what the window does when a folder is added
    kb = KnowledgeBase(settings, build_hub(settings)).open()
    kb.index(timeout=TIMEOUT)
    return kb


def _reader(tmp_path: Path) -> ReadOnlyKnowledgeBase:
    settings = make_settings(tmp_path / "home")
    reader = ReadOnlyKnowledgeBase(settings, build_hub(settings))
    reader.reload_after_s = 0.0
    return reader


def test_reader_serves_while_the_owner_holds_the_lock_and_follows_its_writes(
        tmp_path: Path) -> None:
    owner = _owner(tmp_path)
    reader = _reader(tmp_path)
    try:
        with pytest.raises(IndexLockedError):  # the home is owned...
            KnowledgeBase(reader.settings, reader.hub).open()
        reader.open()  # ...and the reader opens it anyway, without the lock
        hits = reader.search("zephyrine valve", 3)
        assert hits and hits[0].anchor.path.endswith("valves.md")
        assert reader.search("zephyrine valve", 3, mode="vector")
        assert reader.status().files_by_stage["embedded"] == 2

        docs = Path(owner.folders()[0])
        (docs / "pumps.md").write_text("# Pumps\n\nThe brindlewort pump primes in ten "
                                       "seconds.\n", encoding="utf-8")
        owner.index(timeout=TIMEOUT)
        hits = reader.search("brindlewort pump", 3, mode="bm25")
        assert hits and hits[0].anchor.path.endswith("pumps.md")
        vec = reader.search("brindlewort pump primes", 1, mode="vector")
        assert vec and vec[0].anchor.path.endswith("pumps.md")  # the vectors were reloaded

        (docs / "valves.md").unlink()
        owner.index(timeout=TIMEOUT)
        assert not [h for h in reader.search("zephyrine valve", 5)
                    if h.anchor.path.endswith("valves.md")]

        with pytest.raises(StoreError):
            reader.scan()
        assert reader.store is not None
        with pytest.raises(StoreError):
            reader.store.set_stages([str(docs / "pumps.md")], "failed")  # type: ignore[arg-type]
    finally:
        reader.close()
        owner.close()


def test_the_owner_can_open_after_the_reader(tmp_path: Path) -> None:
    _owner(tmp_path).close()
    reader = _reader(tmp_path).open()
    try:
        assert reader.search("granite countertops", 2)
        owner = KnowledgeBase(reader.settings, reader.hub).open()  # no lock held by the reader
        owner.close()
        assert reader.search("granite countertops", 2)
    finally:
        reader.close()


def test_reader_follows_folders_the_owner_adds(tmp_path: Path) -> None:
    owner = _owner(tmp_path)
    reader = _reader(tmp_path).open()
    try:
        extra = (tmp_path / "extra").resolve()
        extra.mkdir()
        (extra / "note.txt").write_text("Heliotrope gaskets last a decade.\n", encoding="utf-8")
        owner.add_folder(extra)
        owner.wait_idle(TIMEOUT)
        wait_for(lambda: extra in reader.folders())
        assert reader.search("heliotrope gaskets", 2, folders=[str(extra)])
    finally:
        reader.close()
        owner.close()


def test_no_index_yet_is_a_clear_error_and_creates_nothing(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="no index"):
        IndexStore.open_read_only(tmp_path / "index", "fake", 8)
    assert not (tmp_path / "index").exists()
    reader = _reader(tmp_path)
    with pytest.raises(StoreError, match="no index"):
        reader.open()


def test_reader_vectors_follow_a_move_without_rereading_every_vector(tmp_path: Path) -> None:
    owner = _owner(tmp_path)
    reader = _reader(tmp_path).open()
    try:
        assert reader.vectors is not None
        before = len(reader.vectors)
        docs = Path(owner.folders()[0])
        (docs / "sub").mkdir()
        (docs / "valves.md").rename(docs / "sub" / "valves.md")
        owner.index(timeout=TIMEOUT)
        hits = reader.search("zephyrine valve quarter turn", 1, mode="vector",
                             path_glob="**/sub/*")
        assert hits and hits[0].anchor.path == str(docs / "sub" / "valves.md")
        assert len(reader.vectors) == before
        assert reader.store is not None
        assert reader.vectors.sync(reader.store) == (0, 0)  # caught up: nothing left to read
    finally:
        reader.close()
        owner.close()
