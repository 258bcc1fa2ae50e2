"""`cairn eval run|add`: measure retrieval and answer quality on the user's own documents.

Runs go through the same `KnowledgeBase` as everything else; what `--compare` varies, the
question sets, the runner and the reports live in `indexer.evaluation` (this module only reads
the command line and prints).
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape

from indexer.cli.collection_cmds import COLLECTION_HELP
from indexer.cli.common import console, err, get_settings, make_kb, run
from indexer.errors import UserInputError
from indexer.evaluation.configs import RunConfig, default_questions, parse_compare
from indexer.runtime import machine_record

eval_app = typer.Typer(help="Measure retrieval and answer quality.", no_args_is_help=True)


@eval_app.command("run")
def eval_run(
    questions: Path | None = typer.Argument(
        None, help="JSONL question set (default: your golden questions in the Cairn home)."),
    folder: Path | None = typer.Option(
        None, "--folder", help="Index this folder first (added to the watched folders)."),
    retrieval_only: bool = typer.Option(
        False, "--retrieval-only", help="Retrieval metrics only: no chat model, seconds."),
    compare: str | None = typer.Option(
        None, "--compare",
        help="Comma-separated configurations run side by side: retrieval modes "
             "(hybrid,bm25,vector) or, with answers, chat model ids / .gguf paths, each with "
             "optional setting overrides: --compare \"hybrid,hybrid fusion_k=5 bm25_weight=2\" "
             "or \"context_passages=4,context_passages=6\"."),
    limit: int | None = typer.Option(None, "--limit", min=1, help="First N questions only."),
    out: Path | None = typer.Option(None, "--out", help="Folder for report.md + report.json."),
    k: int = typer.Option(10, "--top-k", min=1, max=50),
    collection: str | None = typer.Option(None, "--collection", "-c", help=COLLECTION_HELP),
) -> None:
    """Run a question set and write a Markdown + JSON report (failures first)."""
    from indexer.evaluation.dataset import load_questions
    from indexer.evaluation.report import render_comparison, render_markdown
    from indexer.evaluation.runner import run_answers, run_retrieval

    def go() -> None:
        settings = get_settings()
        qpath = questions or default_questions(settings)
        if not qpath.exists():
            raise UserInputError(f"No question set at {qpath}.",
                                 hint="Pass a JSONL file or save questions: `cairn eval add`.")
        qs = load_questions(qpath)[:limit] if limit else load_questions(qpath)
        configs = parse_compare(compare)
        runs = []
        if folder is not None or not retrieval_only:
            with make_kb(settings) as kb:  # index once, before any timed run
                if folder is not None:
                    kb.add_folder(folder)
                kb.index()
        for cfg in configs:
            run_settings = _config_settings(cfg, retrieval_only)
            with make_kb(run_settings) as kb:
                kb.index()
                t0 = time.perf_counter()
                if retrieval_only:
                    mode = cfg.target or "hybrid"
                    if mode not in ("hybrid", "bm25", "vector"):
                        raise UserInputError(f"Unknown retrieval mode {mode!r}.")
                    label = f"retrieval-{cfg.label}" if cfg.overrides else None
                    run = run_retrieval(kb, qs, mode=mode, k=k,  # type: ignore[arg-type]
                                        config=label, collection=collection)
                else:
                    run = run_answers(
                        kb, qs, config=cfg.label or settings.chat_model,
                        on_result=lambda r: err.print(f"{r.id}: {'ok' if r.passed else 'FAIL'}"),
                        collection=collection,
                    )
                run.meta["seconds"] = round(time.perf_counter() - t0, 2)
                run.meta["machine"] = machine_record()
                if cfg.overrides:
                    run.meta["settings"] = dict(cfg.overrides)
                runs.append(run)
        target = out or settings.home / "evals" / time.strftime("%Y%m%d-%H%M%S")
        target.mkdir(parents=True, exist_ok=True)
        md = "\n\n".join(render_markdown(r) for r in runs)
        if len(runs) > 1:
            md = render_comparison(runs) + "\n\n" + md
        (target / "report.md").write_text(md, encoding="utf-8")
        (target / "report.json").write_text(
            json.dumps([r.to_dict() for r in runs], indent=1, ensure_ascii=False), "utf-8")
        for r in runs:
            s = r.summary
            console.print(f"[bold]{escape(r.config)}[/]: " + escape(json.dumps({
                key: getattr(s, key) for key in (
                    "hit_at_1", "hit_at_5", "mrr", "ndcg_at_10", "evidence_recall",
                    "citation_accuracy", "correct_rate", "refusal_rate_unanswerable",
                    "false_refusal_rate", "grounded_rate") if hasattr(s, key)
            })))
        console.print(f"report: {escape(str(target / 'report.md'))}")

    run(go)


def _config_settings(cfg: RunConfig, retrieval_only: bool) -> Any:
    """The settings one configuration runs with; a bad value is the user's input error."""
    from pydantic import ValidationError

    overrides: dict[str, Any] = dict(cfg.overrides)
    if cfg.target and not retrieval_only:
        overrides["chat_model"] = cfg.target
    try:
        return get_settings(**overrides)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise UserInputError(
            f"--compare {cfg.label!r}: {'.'.join(map(str, first['loc']))}: {first['msg']}."
        ) from exc


@eval_app.command("add")
def eval_add(
    question: str,
    source: str | None = typer.Option(
        None, "--source", help="File name that should answer it (omit for 'not in my docs')."),
    must: list[str] | None = typer.Option(None, "--must", help="Words a right answer has."),
    file: Path | None = typer.Option(None, "--file", help="Question set to append to."),
) -> None:
    """Save a golden question to rerun after re-indexing or a settings change."""
    from indexer.evaluation.dataset import EvalQuestion, load_questions, save_question

    def go() -> None:
        settings = get_settings()
        path = file or default_questions(settings)
        existing = load_questions(path) if path.exists() else []
        numbers = [int(q.id[7:]) for q in existing if re.fullmatch(r"golden-\d+", q.id)]
        qid = f"golden-{max(numbers, default=0) + 1:03d}"  # ids in use, not the count
        q = EvalQuestion(id=qid, question=question, answerable=source is not None,
                         source_file=Path(source).name if source else None,
                         must_contain=tuple(must or ()))
        save_question(path, q)
        console.print(f"saved {qid} to {escape(str(path))}")

    run(go)
