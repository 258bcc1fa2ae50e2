"""Collections: named sets of folders over the one index (indexer/collection_sets.py).

What the issue asks, checked with the fake models: search, ask and status limited to one
collection; a folder in two collections parsed and embedded once; deleting a collection (or
taking a folder out) never deletes a file and keeps the folder indexed; names persist.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from indexer.collection_sets import check_name, in_scope, scoped_folders
from indexer.config import load_settings
from indexer.errors import UserInputError
from tests.indexer.builders import TIMEOUT, make_settings, open_kb


def _corpus(root: Path) -> tuple[Path, Path, Path]:
    """Three sibling folders; each file names its folder, all share the word 'cairn'."""
    folders = []
    for name in ("alpine", "coastal", "desert"):
        d = root / name
        d.mkdir(parents=True)
        (d / f"{name}.md").write_text(
            f"# {name} cairns\n\nA {name} cairn marks the trail over the {name} ground.\n",
            encoding="utf-8",
        )
        (d / f"{name}-notes.txt").write_text(
            f"Notes on building a cairn in {name} country: stack flat stones.\n",
            encoding="utf-8",
        )
        folders.append(d)
    return folders[0], folders[1], folders[2]


def test_scoped_folders_intersects_subtrees() -> None:
    assert scoped_folders(["/a", "/b"], None) == ["/a", "/b"]
    assert scoped_folders(["/a"], ["/a/x"]) == ["/a/x"]  # narrower request wins
    assert scoped_folders(["/a/x"], ["/a"]) == ["/a/x"]  # narrower collection wins
    assert scoped_folders(["/a"], ["/ab"]) == []  # a sibling with a common prefix is outside
    assert in_scope("/a/b.md", ["/a"]) and not in_scope("/ab/b.md", ["/a"])
    assert in_scope("/x", None)


def test_names_are_checked() -> None:
    assert check_name("  Field   notes ") == "Field notes"
    for bad in ("", "   ", "All", "a\x07b", "x" * 65):
        with pytest.raises(UserInputError):
            check_name(bad)


def test_search_ask_and_status_keep_to_a_collection(tmp_path: Path) -> None:
    alpine, coastal, desert = _corpus(tmp_path / "docs")
    kb, _ = open_kb(make_settings(tmp_path / "home", [alpine, coastal, desert]))
    try:
        kb.index(timeout=TIMEOUT)
        kb.collections.create("Mountains", [alpine])
        kb.collections.create("Sea and sand", [coastal, desert])

        everywhere = {Path(h.anchor.path).parent for h in kb.search("cairn stones trail", 20)}
        assert everywhere == {alpine, coastal, desert}
        hits = kb.search("cairn stones trail", 20, collection="Mountains")
        assert hits and {Path(h.anchor.path).parent for h in hits} == {alpine}
        hits = kb.search("cairn", 20, collection="sea and sand")  # names match case-blind
        assert {Path(h.anchor.path).parent for h in hits} == {coastal, desert}
        # a folder filter outside the collection finds nothing (not everything)
        assert kb.search("cairn", 20, folders=[str(alpine)], collection="Sea and sand") == []
        assert kb.search("cairn", 20, collection="all")  # "all" means every folder

        answer = kb.ask("How do you build a cairn?", collection="Mountains")
        assert answer.passages
        assert {Path(p.anchor.path).parent for p in answer.passages} == {alpine}
        assert all(Path(c.anchor.path).parent == alpine for c in answer.citations)

        st = kb.status("Mountains")
        assert st.folders == (str(alpine),)
        assert sum(st.files_by_stage.values()) == 2
        assert st.chunks == sum(f.chunk_count for f in kb.files() if in_scope(f.path,
                                                                              [str(alpine)]))
        assert sum(kb.status().files_by_stage.values()) == 6

        with pytest.raises(UserInputError):
            kb.search("cairn", collection="Nowhere")
    finally:
        kb.close()


def test_a_folder_in_two_collections_is_indexed_once(tmp_path: Path) -> None:
    alpine, coastal, _ = _corpus(tmp_path / "docs")
    settings = make_settings(tmp_path / "home", [alpine])
    kb, emb = open_kb(settings)
    try:
        # coastal is not watched yet: putting it in a collection starts watching it
        kb.collections.create("A", [alpine, coastal])
        kb.collections.create("B", [coastal])
        assert coastal in kb.folders()
        kb.index(timeout=TIMEOUT)
        coastal_texts = [t for t in emb.texts if "coastal" in t]
        assert coastal_texts and len(coastal_texts) == len(set(coastal_texts))
        rows = [f for f in kb.files() if in_scope(f.path, [str(coastal)])]
        assert len(rows) == 2  # one row per file, whatever the number of collections
        assert kb.collections.of_folder(coastal / "coastal.md") == ["A", "B"]
    finally:
        kb.close()


def test_delete_and_remove_forget_names_never_files(tmp_path: Path) -> None:
    alpine, coastal, _ = _corpus(tmp_path / "docs")
    home = tmp_path / "home"
    kb, _ = open_kb(make_settings(home, [alpine, coastal]))
    try:
        kb.index(timeout=TIMEOUT)
        kb.collections.create("Both", [alpine, coastal])
        kb.collections.create("Coast", [coastal])
        kb.collections.remove("Both", coastal)
        assert kb.collections.folders("Both") == [alpine]
        assert kb.collections.delete("Coast") == [coastal]
        assert kb.collections.rename("Both", "Peaks") == "Peaks"
        with pytest.raises(UserInputError):
            kb.collections.create("peaks")  # names are unique case-blind
        kb.wait_idle(TIMEOUT)
        # every file is still on disk and in the index, both folders still watched
        assert all(p.exists() for p in (*alpine.iterdir(), *coastal.iterdir()))
        assert set(kb.folders()) == {alpine, coastal}
        assert len(kb.files()) == 4
        assert kb.search("coastal cairn", 5)
    finally:
        kb.close()
    saved = load_settings(home)  # the names and folders are in settings.json
    assert saved.collections == {"Peaks": [alpine]}


def test_a_collection_folder_may_sit_inside_a_watched_folder(tmp_path: Path) -> None:
    _, coastal, _ = _corpus(tmp_path / "docs")
    kb, _ = open_kb(make_settings(tmp_path / "home", [tmp_path / "docs"]))
    try:
        kb.index(timeout=TIMEOUT)
        kb.collections.create("Coast", [coastal])
        assert kb.folders() == [tmp_path / "docs"]  # no second watched folder
        hits = kb.search("cairn", 20, collection="Coast")
        assert hits and all(Path(h.anchor.path).parent == coastal for h in hits)
        with pytest.raises(UserInputError):
            kb.collections.add("Coast", coastal / "coastal.md")  # a file is not a folder
    finally:
        kb.close()
