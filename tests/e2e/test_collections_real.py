"""Collections with the real models (MiniLM + Qwen 0.5B): an ask in one collection reads and
cites only that collection's files, even when another collection holds a close, conflicting
passage on the same question.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from indexer.collection_sets import in_scope
from indexer.config import load_settings
from indexer.service import KnowledgeBase, build_hub

pytestmark = pytest.mark.real_models

SAMPLES = Path(__file__).resolve().parents[2] / "desktop_app" / "sample_docs"
QUESTION = "What colour is the Ridgeback trail marker painted?"
TRAIL_NOTE = """# Ridgeback trail

The Ridgeback trail marker is painted blue. It stands on the cairn at the saddle.
"""
ARCHIVE_NOTE = """# Ridgeback trail (1962 notes)

The Ridgeback trail marker is painted orange. It stands on the cairn at the saddle.
"""


@pytest.fixture(scope="module")
def kb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KnowledgeBase]:
    root = tmp_path_factory.mktemp("collections-real")
    trail, archive, other = root / "docs" / "trail", root / "docs" / "archive", root / "docs" / "x"
    for d in (trail, archive, other):
        d.mkdir(parents=True)
    shutil.copy2(SAMPLES / "field-guide-to-cairns.md", trail)
    (trail / "ridgeback.md").write_text(TRAIL_NOTE, encoding="utf-8")
    (archive / "ridgeback-1962.md").write_text(ARCHIVE_NOTE, encoding="utf-8")
    shutil.copy2(SAMPLES / "brewing-green-tea.html", other)
    settings = load_settings(root / "home", folders=[root / "docs"], n_ctx=2048,
                             chat_model="qwen2.5-coder-0.5b-instruct-q4_k_m",
                             max_answer_tokens=96)
    base = KnowledgeBase(settings, build_hub(settings)).open()
    base.index(timeout=600)
    base.collections.create("Trail", [trail])
    base.collections.create("Archive", [archive])
    yield base
    base.close()


def test_search_over_all_folders_sees_both_collections(kb: KnowledgeBase) -> None:
    paths = {Path(h.anchor.path).name for h in kb.search(QUESTION, 8)}
    assert {"ridgeback.md", "ridgeback-1962.md"} <= paths


def test_a_collection_scoped_ask_cites_only_its_files(kb: KnowledgeBase) -> None:
    """Both collections answer the question, differently (blue now, orange in 1962). Each ask
    reads only its collection's passages, cites only its files and gives its answer."""
    for collection, colour, other in (("Trail", "blue", "orange"),
                                      ("Archive", "orange", "blue")):
        scope = kb.collections.scope(collection)
        answer = kb.ask(QUESTION, collection=collection, use_cache=False)
        assert answer.passages, answer
        assert all(in_scope(p.anchor.path, scope) for p in answer.passages)
        assert answer.found, (collection, answer.text, answer.stats.get("refused_by"))
        assert answer.citations
        assert all(in_scope(c.anchor.path, scope) for c in answer.citations)
        assert colour in answer.text.lower() and other not in answer.text.lower()
