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
QUESTION = "How wide should the base of a cairn be?"
ARCHIVE_NOTE = """# Old trail notes (1962)

Our old rule for cairns: the base of a cairn should be three stones wide, whatever its height.
"""


@pytest.fixture(scope="module")
def kb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KnowledgeBase]:
    root = tmp_path_factory.mktemp("collections-real")
    trail, archive, other = root / "docs" / "trail", root / "docs" / "archive", root / "docs" / "x"
    for d in (trail, archive, other):
        d.mkdir(parents=True)
    shutil.copy2(SAMPLES / "field-guide-to-cairns.md", trail)
    (archive / "old-cairn-notes.md").write_text(ARCHIVE_NOTE, encoding="utf-8")
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
    assert {"field-guide-to-cairns.md", "old-cairn-notes.md"} <= paths


def test_a_collection_scoped_ask_cites_only_its_files(kb: KnowledgeBase) -> None:
    """Both collections hold an answer to the question (different ones). Each ask reads only
    its collection's passages and cites only its files; the 0.5B model's grounding check may
    refuse one of them (it did refuse the longer field-guide passage on a loaded machine), so
    at least one must be a cited answer, and its content must be its collection's."""
    answers = {}
    for collection in ("Archive", "Trail"):
        scope = kb.collections.scope(collection)
        answer = kb.ask(QUESTION, collection=collection, use_cache=False)
        assert answer.passages, answer
        assert all(in_scope(p.anchor.path, scope) for p in answer.passages)
        assert all(in_scope(c.anchor.path, scope) for c in answer.citations)
        answers[collection] = answer
    cited = {name: a for name, a in answers.items() if a.found and a.citations}
    assert cited, {name: a.text for name, a in answers.items()}
    if "Archive" in cited:
        text = cited["Archive"].text.lower()
        assert "three" in text or "3" in text
        assert "tall" not in text
    if "Trail" in cited:
        text = cited["Trail"].text.lower()
        assert "tall" in text or "height" in text
