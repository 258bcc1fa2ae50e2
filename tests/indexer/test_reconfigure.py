"""`KnowledgeBase.reconfigure`: the core decides what a settings change needs and does it.

The GUI (`Controller.apply_settings`) only calls it; these tests pin the decisions the GUI used
to make itself: live keys in place, file-filter keys rescan, model keys reopen, chunking keys
reopen and re-split every file. Fake models through the real hub.
"""

from __future__ import annotations

import json
from pathlib import Path

from indexer.config import Settings
from indexer.service import KnowledgeBase, SettingsChange
from tests.indexer.builders import TIMEOUT, make_settings, open_hub_kb


def _corpus(tmp_path: Path) -> Path:
    docs = tmp_path / "docs"
    docs.mkdir()
    words = " ".join(f"word{i}" for i in range(400))
    (docs / "long.txt").write_text(f"The walrus keeps a ledger of tides. {words}\n", "utf-8")
    (docs / "notes.md").write_text("# Notes\n\nPenguins do not build igloos.\n", "utf-8")
    return docs


def _changed(kb: KnowledgeBase, **changes: object) -> Settings:
    new = kb.settings.model_copy(deep=True)
    for key, value in changes.items():
        setattr(new, key, value)
    return new


def _saved(home: Path) -> dict[str, object]:
    return json.loads((home / "settings.json").read_text("utf-8"))


def test_settings_change_decides_what_each_key_needs() -> None:
    assert not SettingsChange(frozenset({"top_k", "temperature"})).reopen
    assert not SettingsChange(frozenset({"top_k"})).rescan
    assert SettingsChange(frozenset({"exclude_globs"})).rescan
    assert not SettingsChange(frozenset({"exclude_globs"})).reopen
    assert SettingsChange(frozenset({"chat_model"})).reopen
    assert not SettingsChange(frozenset({"chat_model"})).rechunk
    assert SettingsChange(frozenset({"top_k", "chunk_tokens"})).reopen
    assert SettingsChange(frozenset({"chunk_overlap_tokens"})).rechunk
    assert not SettingsChange(frozenset()).reopen


def test_an_unchanged_setting_needs_nothing(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with open_hub_kb(make_settings(home, [_corpus(tmp_path)])) as kb:
        assert kb.reconfigure(kb.settings.model_copy(deep=True)) is kb
        assert not (home / "settings.json").exists()


def test_live_keys_change_in_place_and_are_saved(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with open_hub_kb(make_settings(home, [_corpus(tmp_path)])) as kb:
        assert kb.reconfigure(_changed(kb, top_k=3, temperature=0.5)) is kb
        assert (kb.settings.top_k, kb.settings.temperature) == (3, 0.5)
        assert kb.store is not None  # still open: no reopen for live keys
        saved = _saved(home)
        assert saved["top_k"] == 3 and saved["temperature"] == 0.5


def test_a_file_filter_change_rescans(tmp_path: Path) -> None:
    home = tmp_path / "home"
    docs = _corpus(tmp_path)
    with open_hub_kb(make_settings(home, [docs])) as kb:
        kb.index(timeout=TIMEOUT)
        assert {Path(f.path).name for f in kb.files()} == {"long.txt", "notes.md"}
        assert kb.reconfigure(_changed(kb, exclude_globs=["*.md"])) is kb
        assert kb.wait_idle(TIMEOUT)
        assert {Path(f.path).name for f in kb.files()} == {"long.txt"}
        assert _saved(home)["exclude_globs"] == ["*.md"]


def test_a_chunking_change_reopens_and_splits_every_file_again(tmp_path: Path) -> None:
    home = tmp_path / "home"
    docs = _corpus(tmp_path)
    kb = open_hub_kb(make_settings(home, [docs]))
    try:
        kb.index(timeout=TIMEOUT)
        before = kb.status().chunks
        fresh = kb.reconfigure(_changed(kb, chunk_tokens=64, chunk_overlap_tokens=0))
        assert fresh is not kb and kb.store is None  # the old instance is closed
        kb = fresh
        assert kb.settings.chunk_tokens == 64
        assert kb.wait_idle(TIMEOUT)
        assert kb.watcher is not None  # its folders are watched again
        assert kb.status().chunks > before  # smaller chunks: the long file split again
        assert _saved(home)["chunk_tokens"] == 64
    finally:
        kb.close()


def test_keys_limit_what_is_saved_and_decide_the_change(tmp_path: Path) -> None:
    """The GUI passes the keys it changed: only they are saved, and they decide (as before)."""
    home = tmp_path / "home"
    kb = open_hub_kb(make_settings(home, [_corpus(tmp_path)]))
    try:
        new = _changed(kb, top_k=4)
        assert kb.reconfigure(new, keys={"top_k"}) is kb
        assert set(_saved(home)) >= {"top_k"} and "temperature" not in _saved(home)
        fresh = kb.reconfigure(_changed(kb, n_threads=2), keys={"n_threads"})
        assert fresh is not kb
        kb = fresh
        assert kb.settings.n_threads == 2
    finally:
        kb.close()
