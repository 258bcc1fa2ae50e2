"""`cairn summarize` and `cairn ask --files` with the fake models: progress on stderr, the cited
result on stdout, JSON for scripts, a clear error for a file that is not indexed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import Result

from indexer import cli
from models.offline import install_egress_guard
from tests.indexer.test_cli import cairn, make_corpus, make_home


@pytest.fixture(scope="module")
def indexed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Result]:
    root = tmp_path_factory.mktemp("cli-summarize")
    home, docs = make_home(root), make_corpus(root)
    assert cairn(home, "folders", "add", str(docs)).exit_code == 0
    result = cairn(home, "index")
    install_egress_guard(strict=True)
    return home, docs, result


@pytest.fixture(autouse=True)
def _wide(monkeypatch: pytest.MonkeyPatch) -> None:
    for console in (cli.console, cli.err):
        monkeypatch.setattr(console, "width", 250)


def test_summarize_json_reads_the_whole_file(indexed: tuple[Path, Path, Result]) -> None:
    home, _, _ = indexed
    result = cairn(home, "summarize", "guide.pdf", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["question"] == "Summarize guide.pdf" and data["stats"]["mode"] == "summarize"
    assert data["stats"]["model_calls"] >= 1


def test_ask_files_and_progress_lines(indexed: tuple[Path, Path, Result]) -> None:
    home, _, _ = indexed
    result = cairn(home, "ask", "What does the lighthouse lamp burn?", "--files", "guide.pdf")
    assert result.exit_code == 0, result.output
    assert "reading guide.pdf p. 1" in result.stderr and "step 1/" in result.stderr
    assert "paraffin" in result.stdout and "guide.pdf p. 2" in result.stdout


def test_summarize_unknown_file_is_a_user_error(indexed: tuple[Path, Path, Result]) -> None:
    home, _, _ = indexed
    result = cairn(home, "summarize", "nope.pdf")
    assert result.exit_code != 0 and "Not an indexed file" in result.stderr
