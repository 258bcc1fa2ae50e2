"""Something useful on screen at once: the passages reach the caller before the model's first
token (on a CPU that token is tens of seconds away), in the core and in `cairn ask`."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from indexer.answer.answering import Answer, AnswerSources, AnswerStage, AnswerToken
from indexer.cli import app
from indexer.config import load_settings
from indexer.service import KnowledgeBase, build_hub

FAKE = {"embedder_backend": "fake", "generator_backend": "fake", "min_relevance": 0.25}
QUESTION = "How wide should the base of a cairn be for a stable stack?"


def _docs(tmp_path: Path) -> Path:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "cairns.md").write_text(
        "# Building\n\nThe base of a stable cairn should be twice as wide as the cairn is tall. "
        "Flat stones go at the bottom.\n", encoding="utf-8")
    (docs / "tea.md").write_text("# Tea\n\nGreen tea brews at 80 degrees for two minutes.\n",
                                 encoding="utf-8")
    return docs


def test_sources_come_before_the_model_reads_and_match_the_answer(tmp_path: Path) -> None:
    settings = load_settings(tmp_path / "home", folders=[_docs(tmp_path)], **FAKE)
    with KnowledgeBase(settings, build_hub(settings)) as kb:
        kb.index(timeout=60)
        items = list(kb.stream(QUESTION, use_cache=False))
    kinds = [type(i).__name__ for i in items]
    first_sources = kinds.index("AnswerSources")
    assert kinds.count("AnswerSources") == 1
    first_token = kinds.index("AnswerToken")
    reading = next(i for i, it in enumerate(items)
                   if isinstance(it, AnswerStage) and it.stage == "reading")
    assert first_sources < reading < first_token  # before the model is even loaded
    sources = items[first_sources]
    final = items[-1]
    assert isinstance(sources, AnswerSources) and isinstance(final, Answer) and final.found
    assert [h.chunk_id for h in sources.passages] == [h.chunk_id for h in final.passages]
    assert Path(sources.passages[0].anchor.path).name == "cairns.md"
    assert "sources_s" in final.stats  # recorded in the trace (`cairn trace last`)


def test_cached_answer_shows_its_sources_too(tmp_path: Path) -> None:
    settings = load_settings(tmp_path / "home", folders=[_docs(tmp_path)], **FAKE)
    with KnowledgeBase(settings, build_hub(settings)) as kb:
        kb.index(timeout=60)
        kb.ask(QUESTION)
        items = list(kb.stream(QUESTION))
    assert isinstance(items[0], AnswerSources) and items[0].passages
    assert isinstance(items[1], AnswerToken) and isinstance(items[-1], Answer)
    assert items[-1].cached


def test_cli_prints_the_passages_before_the_answer(tmp_path: Path) -> None:
    runner = CliRunner()
    home = tmp_path / "home"
    docs = _docs(tmp_path)
    base = ["--home", str(home), "--fake-models"]
    assert runner.invoke(app, [*base, "folders", "add", str(docs)]).exit_code == 0
    assert runner.invoke(app, [*base, "index"]).exit_code == 0
    result = runner.invoke(app, [*base, "ask", QUESTION, "--no-cache"])
    assert result.exit_code == 0, result.output
    out = result.stdout
    reading = out.index("Reading ")
    listed = out.index("cairns.md", reading)
    answer = out.index("twice as wide", listed)  # the fake model's answer, after the list
    assert reading < listed < answer
    assert out.index("Sources", answer) > answer  # the citations still follow the answer
