"""Answer traces (`indexer/answer/traces.py`) as `KnowledgeBase.ask` leaves them and `cairn trace` reads them.

What is pinned, and why users rely on it: a trace is how a user (or the evaluation harness) finds
out *why* Cairn answered as it did. After an ask, the newest trace holds the question, the
standalone query a follow-up was retrieved with, every retrieved chunk with its bm25 / vector /
fused scores, the passages the model saw, token counts, time per stage, the model id and the
grounding verdict of each sentence; refusals are traced too. Traces are plain JSON Lines in the
home, so they survive a restart and `cairn trace last --json` prints exactly what was stored.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from indexer.answer.answering import Answer, Turn, make_citations
from indexer.answer.traces import TraceStore, answer_to_dict
from indexer.records import Anchor, SearchHit
from indexer.service import KnowledgeBase, build_hub
from tests.indexer.builders import make_settings, open_hub_kb, write_valve_docs

pytestmark = pytest.mark.filterwarnings("ignore:Callback with id:UserWarning")

REPO = Path(__file__).resolve().parents[2]
FIRST_Q = "How do I close the zephyrine valve?"
FOLLOW_Q = "and what about closing it before servicing?"


def write_docs(docs: Path) -> None:
    write_valve_docs(docs)  # valves.md and kitchen.txt
    (docs / "pump.md").write_text(
        "# Pump\n\nThe pump pressure should stay at 40 psi. Check the gauge daily.\n",
        encoding="utf-8")


def open_kb(home: Path, docs: Path, **overrides: Any) -> KnowledgeBase:
    return open_hub_kb(make_settings(home, [docs], min_relevance=0.0, **overrides))


@pytest.fixture
def kb(tmp_path: Path, indexed_kb: Callable[..., KnowledgeBase]) -> KnowledgeBase:
    docs = tmp_path / "docs"
    write_docs(docs)
    return indexed_kb(docs, min_relevance=0.0)


def ask_follow_up(kb: KnowledgeBase) -> tuple[Answer, dict[str, Any]]:
    first = kb.ask(FIRST_Q, use_cache=False)
    answer = kb.ask(FOLLOW_Q, history=[Turn(FIRST_Q, first.text)], use_cache=False)
    (trace,) = kb.traces.last(1)
    return answer, trace


# ---------------------------------------------------------------------------- after an ask
def test_trace_records_question_query_passages_and_verdicts(kb: KnowledgeBase) -> None:
    answer, trace = ask_follow_up(kb)
    assert answer.found and answer.trace_id
    assert trace["trace_id"] == answer.trace_id
    assert trace["question"] == FOLLOW_Q
    assert trace["standalone_query"] == answer.standalone_query != FOLLOW_Q
    assert "zephyrine" in trace["standalone_query"]
    assert trace["text"] == answer.text and trace["found"] is True
    assert [p["chunk_id"] for p in trace["passages"]] == [p.chunk_id for p in answer.passages]
    for stored, hit in zip(trace["passages"], answer.passages, strict=True):
        assert (stored["fused"], stored["bm25"], stored["vector"]) == (hit.fused, hit.bm25,
                                                                        hit.vector)
        assert stored["anchor"]["path"] == hit.anchor.path
        assert stored["label"] == hit.anchor.label()
    assert [c["chunk_id"] for c in trace["citations"]] == [c.chunk_id for c in answer.citations]
    assert [(v["sentence"], v["supported"], tuple(v["cited"])) for v in trace["verdicts"]] == [
        (v.sentence, v.supported, v.cited) for v in answer.verdicts
    ]
    assert trace["verdicts"], "a found answer has at least one checked sentence"


def test_trace_records_tokens_timings_and_model(kb: KnowledgeBase) -> None:
    answer, trace = ask_follow_up(kb)
    stats = trace["stats"]
    assert stats == json.loads(json.dumps(answer.stats))
    assert isinstance(stats["prompt_tokens"], int) and stats["prompt_tokens"] > 0
    assert isinstance(stats["completion_tokens"], int) and stats["completion_tokens"] > 0
    assert stats["prompt_tokens"] > stats["completion_tokens"]
    for stage in ("search_s", "ttft_s", "generate_s"):
        assert isinstance(stats[stage], float) and stats[stage] >= 0.0, stage
    assert stats["model"] == kb.hub.chat_model_id == "fake-generator"
    assert isinstance(trace["at"], float)


def test_trace_lists_every_retrieved_chunk_with_scores(kb: KnowledgeBase) -> None:
    question = "How often do granite countertops need sealing?"
    answer = kb.ask(question, use_cache=False)
    hits = kb.search(answer.standalone_query, kb.settings.top_k)
    (trace,) = kb.traces.last(1)
    assert "retrieved" in trace, "the trace must list the retrieved chunks, not only passages"
    retrieved = trace["retrieved"]
    assert [r["chunk_id"] for r in retrieved] == [h.chunk_id for h in hits]
    for row, hit in zip(retrieved, hits, strict=True):
        assert (row["bm25"], row["vector"], row["fused"]) == (hit.bm25, hit.vector, hit.fused)
    assert {p["chunk_id"] for p in trace["passages"]} <= {r["chunk_id"] for r in retrieved}


def test_refusal_is_traced_with_its_reason(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    write_docs(docs)
    with open_kb(tmp_path / "home", docs) as kb:
        kb.index(timeout=60)
        kb.settings.min_relevance = 1.0
        answer = kb.ask("Who painted the ceiling of the chapel?")
        (trace,) = kb.traces.last(1)
    assert answer.found is False
    assert trace["found"] is False and trace["trace_id"] == answer.trace_id
    assert trace["stats"]["refused_by"] == "relevance_gate"
    assert trace["citations"] == [] and trace["passages"], "closest passages are kept"


# ---------------------------------------------------------------------------- persistence
def test_traces_survive_a_restart_and_keep_order(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    write_docs(docs)
    home = tmp_path / "home"
    with open_kb(home, docs) as kb:
        kb.index(timeout=60)
        first = kb.ask(FIRST_Q, use_cache=False)
    settings = make_settings(home)
    reopened = KnowledgeBase(settings, build_hub(settings))
    (trace,) = reopened.traces.last(1)  # readable without opening the index
    assert trace["trace_id"] == first.trace_id and trace["question"] == FIRST_Q
    with open_kb(home, docs) as kb2:
        second = kb2.ask("How often do granite countertops need sealing?", use_cache=False)
        older, newer = kb2.traces.last(2)
    assert (older["trace_id"], newer["trace_id"]) == (first.trace_id, second.trace_id)
    assert len({first.trace_id, second.trace_id}) == 2


def test_cli_trace_last_json_prints_the_stored_trace(kb: KnowledgeBase) -> None:
    answer = kb.ask(FIRST_Q, use_cache=False)
    home = kb.settings.paths.home
    proc = subprocess.run(
        [sys.executable, "-m", "indexer.cli", "--home", str(home), "trace", "last", "--json"],
        check=False, cwd=REPO, capture_output=True, text=True, timeout=120,
        env={"PATH": "/usr/bin:/bin", "HOME": str(home), "HF_HUB_OFFLINE": "1",
             "DO_NOT_TRACK": "true", "SCARF_NO_ANALYTICS": "true"},
    )
    assert proc.returncode == 0, proc.stderr
    printed = json.loads(proc.stdout)
    assert printed == kb.traces.last(1)[0]
    assert printed["trace_id"] == answer.trace_id


# ---------------------------------------------------------------------------- TraceStore alone
def sample_answer(question: str, trace_id: str = "") -> Answer:
    hit = SearchHit("c9", Anchor("/docs/é.md", heading_path=("Über", "Ventil"), line_start=3,
                                 line_end=4), "Das Ventil schließt.", "Ventil", 0.02, 1.5, 0.7)
    return Answer(question=question, text="Das Ventil schließt [1].",
                  citations=make_citations([1], [hit]), found=True, standalone_query=question,
                  passages=(hit,), trace_id=trace_id, stats={"model": "m"})


def test_trace_store_round_trip(tmp_path: Path) -> None:
    store = TraceStore(tmp_path / "traces")
    assert store.last(3) == []
    ids = [store.record(sample_answer(f"Frage {i}?")) for i in range(3)]
    assert len(set(ids)) == 3 and all(ids)
    assert [t["trace_id"] for t in store.last(2)] == ids[1:]
    assert [t["question"] for t in store.last(10)] == ["Frage 0?", "Frage 1?", "Frage 2?"]
    kept = store.record(sample_answer("Noch eine?", trace_id="fixed-id"),
                        retrieved=[{"chunk_id": "c9", "bm25": 1.5, "vector": 0.7, "fused": 0.02}])
    newest = store.last(1)[0]
    assert kept == "fixed-id" == newest["trace_id"]
    assert newest["retrieved"][0]["chunk_id"] == "c9"
    expected = json.loads(json.dumps(answer_to_dict(sample_answer("Noch eine?", "fixed-id"))))
    assert {k: v for k, v in newest.items() if k not in ("at", "retrieved")} == expected
    assert newest["citations"][0]["anchor"]["heading_path"] == ["Über", "Ventil"]
    files = list((tmp_path / "traces").glob("traces-*.jsonl"))
    assert len(files) == 1 and len(files[0].read_text(encoding="utf-8").splitlines()) == 4


def test_trace_store_last_spans_day_files(tmp_path: Path) -> None:
    directory = tmp_path / "traces"
    directory.mkdir()
    for day, ids in (("2024-01-01", ["a", "b"]), ("2024-01-02", ["c"]), ("2024-01-03", [])):
        lines = [json.dumps({"trace_id": i, "question": i}) for i in ids]
        (directory / f"traces-{day}.jsonl").write_text("\n".join(lines) + "\n\n",
                                                       encoding="utf-8")
    store = TraceStore(directory)
    assert [t["trace_id"] for t in store.last(2)] == ["b", "c"]
    assert [t["trace_id"] for t in store.last(5)] == ["a", "b", "c"]


def test_a_cached_answer_is_traced_as_cached(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "tea.md").write_text("# Tea\n\nGreen tea should be brewed at 75 degrees.\n")
    settings = make_settings(tmp_path / "home", [docs])
    with KnowledgeBase(settings, build_hub(settings)) as kb:
        kb.index(timeout=60)
        first = kb.ask("Green tea should be brewed at what degrees?")
        assert first.found, first
        again = kb.ask("Green tea should be brewed at what degrees?")
        assert again.cached and again.trace_id and again.trace_id != first.trace_id
        last = kb.traces.last()[-1]
        assert last["trace_id"] == again.trace_id and last["cached"] is True
        assert last["stats"]["cached_from"] == first.trace_id
