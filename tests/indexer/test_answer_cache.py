"""The answer cache (`indexer/answer/answer_cache.py`) alone and behind `KnowledgeBase.ask`.

What is pinned, and why users rely on it:
- asking the same question again, or a near-identical one (case, punctuation), over unchanged
  files answers instantly from the cache: the model is not called (seconds to minutes on a CPU);
- editing (or deleting) a file the answer cited or read invalidates the entry for good, so a
  cached answer never quotes text that is no longer in the documents;
- a different question, a follow-up (with history), `use_cache=False`, a cancelled answer or a
  refusal never return or leave a cached answer.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from indexer.answer.answer_cache import AnswerCache
from indexer.answer.answering import Answer, AnswerToken, Turn, make_citations
from indexer.records import Anchor, SearchHit
from indexer.service import KnowledgeBase
from models.embedder import FakeEmbedder
from models.generator import FakeGenerator
from tests.indexer.builders import write_valve_docs

pytestmark = pytest.mark.filterwarnings("ignore:Callback with id:UserWarning")

VALVE_Q = "How do I close the zephyrine valve?"


# ---------------------------------------------------------------------------- unit level
def make_answer(question: str, cited: str = "/docs/a.md", read: str = "/docs/b.md",
                cancelled: bool = False) -> Answer:
    passages = (
        SearchHit("c1", Anchor(cited, line_start=1, line_end=2), "Close the zephyrine valve.",
                  "Close", 0.03, 2.0, 0.8),
        SearchHit("c2", Anchor(read, page=2), "Granite needs sealing.", "Granite", 0.02, 1.0, 0.4),
    )
    return Answer(question=question, text="Close the zephyrine valve [1].",
                  citations=make_citations([1], passages), found=True, standalone_query=question,
                  passages=passages, stats={"cancelled": cancelled})


class Hashes(dict[str, str]):
    def current(self, path: str) -> str | None:
        return self.get(path)


def make_cache(**kw: Any) -> tuple[AnswerCache, Hashes]:
    hashes = Hashes({"/docs/a.md": "h-a", "/docs/b.md": "h-b", "/docs/c.md": "h-c"})
    return AnswerCache(FakeEmbedder().embed_query, hashes.current, **kw), hashes


def test_same_and_near_identical_question_hit() -> None:
    cache, _ = make_cache()
    answer = make_answer(VALVE_Q)
    cache.store(VALVE_Q, answer)
    for q in (VALVE_Q, "how do I close the Zephyrine valve", "  HOW DO I CLOSE THE ZEPHYRINE VALVE?!"):
        hit = cache.lookup(q)
        assert hit is not None, q
        assert hit.cached is True
        assert (hit.text, hit.citations) == (answer.text, answer.citations)
    assert answer.cached is False, "the stored answer itself is not mutated"


def test_different_question_misses() -> None:
    cache, _ = make_cache()
    cache.store(VALVE_Q, make_answer(VALVE_Q))
    assert cache.lookup("How often do granite countertops need sealing?") is None
    assert cache.lookup("How do I open the zephyrine valve?") is None


@pytest.mark.parametrize("path", ["/docs/a.md", "/docs/b.md"])
def test_change_to_a_cited_or_read_file_invalidates_for_good(path: str) -> None:
    cache, hashes = make_cache()
    cache.store(VALVE_Q, make_answer(VALVE_Q))
    hashes[path] = "edited"
    assert cache.lookup(VALVE_Q) is None
    hashes[path] = "h-a" if path.endswith("a.md") else "h-b"  # reverting does not revive it
    assert cache.lookup(VALVE_Q) is None


def test_deleted_file_invalidates_and_unrelated_change_does_not() -> None:
    cache, hashes = make_cache()
    cache.store(VALVE_Q, make_answer(VALVE_Q))
    hashes["/docs/c.md"] = "edited"  # neither cited nor read
    assert cache.lookup(VALVE_Q) is not None
    del hashes["/docs/a.md"]
    assert cache.lookup(VALVE_Q) is None


def test_not_stored_when_cancelled_or_a_file_is_unknown() -> None:
    cache, _ = make_cache()
    cache.store(VALVE_Q, make_answer(VALVE_Q, cancelled=True))
    assert cache.lookup(VALVE_Q) is None
    cache.store(VALVE_Q, make_answer(VALVE_Q, read="/docs/not-indexed.md"))
    assert cache.lookup(VALVE_Q) is None


def test_capacity_evicts_oldest_and_clear_empties() -> None:
    cache, _ = make_cache(capacity=2)
    questions = [VALVE_Q, "Which sealer suits granite?", "What pressure does the pump need?"]
    for q in questions:
        cache.store(q, make_answer(q))
    assert cache.lookup(questions[0]) is None
    assert all(cache.lookup(q) is not None for q in questions[1:])
    cache.clear()
    assert all(cache.lookup(q) is None for q in questions)


# ---------------------------------------------------------------------------- through ask()
@pytest.fixture
def kb(tmp_path: Path, indexed_kb: Callable[..., KnowledgeBase]) -> KnowledgeBase:
    docs = tmp_path / "docs"
    write_valve_docs(docs)
    return indexed_kb(docs, min_relevance=0.0)


def model_calls(kb: KnowledgeBase) -> int:
    gen = kb.hub.generator()
    assert isinstance(gen, FakeGenerator)
    return gen.calls


def test_repeat_and_near_identical_ask_served_from_cache(kb: KnowledgeBase) -> None:
    first = kb.ask(VALVE_Q)
    assert first.found and not first.cached and first.citations
    calls = model_calls(kb)
    for q in (VALVE_Q, "how do I close the Zephyrine valve"):
        again = kb.ask(q)
        assert again.cached is True, q
        assert again.text == first.text and again.citations == first.citations
    assert model_calls(kb) == calls, "a cache hit must not call the model"


def test_a_change_to_an_answer_setting_empties_the_cache(kb: KnowledgeBase) -> None:
    assert kb.ask(VALVE_Q).found
    calls = model_calls(kb)
    changed = kb.settings.model_copy(update={"context_passages": 3})
    assert kb.reconfigure(changed) is kb  # a live change: no reopen
    again = kb.ask(VALVE_Q)
    assert not again.cached and model_calls(kb) == calls + 1, "answered under the new setting"


def test_different_question_and_bypasses_call_the_model(kb: KnowledgeBase) -> None:
    kb.ask(VALVE_Q)
    calls = model_calls(kb)
    other = kb.ask("How often do granite countertops need sealing?")
    assert not other.cached and model_calls(kb) == calls + 1
    assert not kb.ask(VALVE_Q, use_cache=False).cached
    assert model_calls(kb) == calls + 2
    follow = kb.ask("and how long does closing it take?", history=[Turn(VALVE_Q, "x")])
    assert not follow.cached
    # The fake model finds no closing time and refuses; with the valve passage ranked first by
    # both searches the refusal gets its second look, so the follow-up may call the model twice.
    assert model_calls(kb) - (calls + 2) >= 1


def test_editing_the_cited_file_invalidates(kb: KnowledgeBase, tmp_path: Path) -> None:
    first = kb.ask(VALVE_Q)
    assert "quarter turn" in first.text
    cited = {c.anchor.path for c in first.citations}
    valves = tmp_path / "docs" / "valves.md"
    assert str(valves) in cited
    valves.write_text(
        "# Maintenance\n\nThe zephyrine valve closes with a full turn clockwise. "
        "Close the zephyrine valve before servicing the pump.\n", encoding="utf-8")
    kb.index(timeout=60)
    calls = model_calls(kb)
    second = kb.ask(VALVE_Q)
    assert second.cached is False and model_calls(kb) == calls + 1
    assert "full turn clockwise" in second.text and "quarter" not in second.text
    assert kb.ask(VALVE_Q).cached is True, "the fresh answer is cached in turn"


def test_refusals_and_cancelled_answers_are_not_cached(kb: KnowledgeBase) -> None:
    kb.settings.min_relevance = 1.0  # nothing passes the gate
    refused = kb.ask(VALVE_Q)
    assert refused.found is False
    kb.settings.min_relevance = 0.0
    assert kb.ask(VALVE_Q).cached is False
    granite = "How often do granite countertops need sealing?"
    cancel = threading.Event()
    stopped: Answer | None = None
    tokens = 0
    for item in kb.stream(granite, cancel=cancel):
        if isinstance(item, AnswerToken):
            tokens += 1
            if tokens == 5:
                cancel.set()
        elif isinstance(item, Answer):
            stopped = item
    assert stopped is not None and stopped.stats["cancelled"] is True
    assert stopped.found, "a cut-short answer that is still grounded is shown"
    calls = model_calls(kb)
    assert kb.ask(granite).cached is False, "a cut-short answer must not be cached"
    assert model_calls(kb) == calls + 1
