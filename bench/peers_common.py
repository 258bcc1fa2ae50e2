"""What every row of bench_peers.py shares: offline set-up, corpora, model files, and the shims
that let Cairn's own evaluation runner score a peer.

Why shims: `indexer.evaluation.runner.run_retrieval` / `run_answers` take any object with
`search(question, k, mode=...)` returning hits that have `.anchor.path` and `.text`, and
`ask(question, use_cache=False)` returning an answer with `.text`, `.citations`, `.found`,
`.standalone_query`, `.unsupported` and `.stats`. A peer wrapped in `PeerKB` is scored by exactly
the code that scores `cairn eval`, so hit@k, MRR, nDCG, correct, citation accuracy and refusal
mean the same on every row.
"""

from __future__ import annotations

import importlib.util
import os
import re
import resource
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from indexer.records import Anchor

EVAL_DIR = ROOT / "tests/data/eval"
PYDOC_QA = EVAL_DIR / "pydoc_qa.jsonl"


# ----------------------------------------------------------------------------- offline
def go_offline(work: Path) -> dict[str, Any]:
    """Cairn's opt-outs and egress guard, then LlamaIndex's data pointed at local copies.

    Must run before llama_index is imported. LlamaIndex fetches two things at first use when they
    are missing: NLTK's `stopwords` and `punkt_tab` (SentenceSplitter / SentenceWindow parsing)
    and tiktoken's `cl100k_base` BPE file (its default token counter). llama-index-core ships
    both in `llama_index/core/_static/`. tiktoken reads its copy through `TIKTOKEN_CACHE_DIR`.
    NLTK (3.10) refuses to open a file with more than one hard link ("multiply-linked file",
    CWE-59), and uv installs packages as hard links into its cache, so the NLTK data is copied
    once into `work/nltk_data` and `NLTK_DATA` points there. The strict guard turns any
    attempt still made into an error and a count in the JSON.
    """
    from indexer.runtime import install_egress_guard, set_offline_env

    set_offline_env()
    install_egress_guard(strict=True)
    spec = importlib.util.find_spec("llama_index.core")
    if spec is None or not spec.submodule_search_locations:
        return {}
    static = Path(next(iter(spec.submodule_search_locations))) / "_static"
    nltk_copy = work / "nltk_data"
    if not (nltk_copy / "corpora" / "stopwords").is_dir():
        shutil.rmtree(nltk_copy, ignore_errors=True)
        shutil.copytree(static / "nltk_cache", nltk_copy, copy_function=shutil.copyfile)
    os.environ["NLTK_DATA"] = str(nltk_copy)
    os.environ["TIKTOKEN_CACHE_DIR"] = str(static / "tiktoken_cache")
    return {"NLTK_DATA": os.environ["NLTK_DATA"],
            "TIKTOKEN_CACHE_DIR": os.environ["TIKTOKEN_CACHE_DIR"]}


def egress_report() -> dict[str, Any]:
    """Blocked network attempts in this process (0 is the only acceptable answer)."""
    from indexer.runtime import guard_status

    status = guard_status()
    return {"blocked": status.blocked, "violations": status.violations,
            "attempts": [f"{a.host}:{a.port} from {a.stack_summary}" for a in status.attempts]}


def peak_rss_mb() -> float:
    """This process's peak resident set size (Linux reports ru_maxrss in KiB)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


# ----------------------------------------------------------------------------- models
def model_files(work: Path, chat_model: str) -> dict[str, str]:
    """The local MiniLM ONNX folder and GGUF file every row uses, resolved once into
    `work/models` by Cairn's own provisioning (catalog id -> installed packages -> verified
    files; never a download)."""
    from indexer.config import load_settings
    from indexer.runtime import resolve_chat_model
    from models.provisioning import resolve_embedder_dir

    models_dir = work / "models"
    embedder = load_settings(work / "probe-home").embedder_model
    out = {"embedder_dir": str(resolve_embedder_dir(embedder, models_dir)), "embedder": embedder}
    if chat_model:
        out["gguf"] = str(resolve_chat_model(chat_model, models_dir))
    return out


FASTEMBED_NAME = "local/cairn-peers-minilm"


def register_fastembed(model_dir: str, dim: int = 384) -> str:
    """Register Cairn's MiniLM folder with fastembed (mean pooling + L2, as
    models/embedder.py does), so stock fastembed classes load it offline by name."""
    from fastembed import TextEmbedding
    from fastembed.common.model_description import ModelSource, PoolingType

    known = {m["model"].lower() for m in TextEmbedding.list_supported_models()}
    if FASTEMBED_NAME.lower() not in known:
        TextEmbedding.add_custom_model(
            model=FASTEMBED_NAME, pooling=PoolingType.MEAN, normalization=True,
            sources=ModelSource(hf=FASTEMBED_NAME), dim=dim, model_file="model.onnx")
    return FASTEMBED_NAME


# ----------------------------------------------------------------------------- corpora
def pydoc_corpus(work: Path, limit_docs: int, keep: Sequence[str]) -> Path:
    """The 79-topic pydoc corpus (tests/data/eval), or `limit_docs` files of it: the files the
    chosen questions need first, then the rest in name order."""
    full = work / "corpora" / "pydoc-all"
    if not (full / "assert.md").exists():
        subprocess.run([sys.executable, str(EVAL_DIR / "make_pydoc_corpus.py"), str(full),
                        "--from-json", str(EVAL_DIR / "pydoc_topics_3.11.7.json")],
                       check=True, capture_output=True)
    if not limit_docs:
        return full
    names = sorted(p.name for p in full.glob("*.md"))
    chosen = [n for n in dict.fromkeys(keep) if n in names][:limit_docs]
    chosen += [n for n in names if n not in chosen][: limit_docs - len(chosen)]
    sub = work / "corpora" / f"pydoc-{limit_docs}"
    shutil.rmtree(sub, ignore_errors=True)
    sub.mkdir(parents=True)
    for name in chosen:
        shutil.copyfile(full / name, sub / name)
    return sub


def pydoc_questions(limit: int) -> list[Any]:
    """The 40 pydoc dev questions (30 answerable, 10 not); a limit keeps the first N."""
    from indexer.evaluation.dataset import load_questions

    questions = load_questions(PYDOC_QA)
    return questions[:limit] if limit else questions


def wiki_corpus(work: Path, limit_docs: int, queries: int, seed: int) -> tuple[Path, list[Any]]:
    """The known-item corpus exactly as bench_known_item.py builds it, and its queries as
    evaluation questions (one relevant file each), so Cairn's runner scores them."""
    sys.path.insert(0, str(ROOT / "bench"))
    import json

    from bench_known_item import pick_queries, summaries_file, write_corpus

    from indexer.evaluation.dataset import EvalQuestion

    data = json.loads(summaries_file().read_text(encoding="utf-8"))
    articles = [v for v in data.values() if v.get("extract", "").strip()]
    if limit_docs:
        articles = articles[:limit_docs]
    folder = work / "corpora" / f"wiki-{limit_docs or 'all'}"
    names = write_corpus(articles, folder)
    pairs = pick_queries(articles, names, queries, seed)
    return folder, [EvalQuestion(id=f"ki-{n}", question=q, answerable=True, source_file=rel)
                    for n, (q, rel) in enumerate(pairs)]


# ----------------------------------------------------------------------------- shims
@dataclass(frozen=True, slots=True)
class PeerHit:
    """A peer's retrieved passage in the shape the runner reads (`anchor.path`, `text`)."""

    anchor: Anchor
    text: str


@dataclass(slots=True)
class PeerAnswer:
    """A peer's answer in the shape `run_answers` reads. `unsupported` stays empty: the peers
    have no grounding check (bench_peers clears the `grounded` verdict it would imply)."""

    text: str
    citations: tuple[Any, ...]
    found: bool
    standalone_query: str
    unsupported: tuple[str, ...] = ()
    stats: dict[str, Any] = field(default_factory=dict)


def hit(path: str, text: str) -> PeerHit:
    return PeerHit(Anchor(path=path), text)


def cite(path: str) -> Any:
    return SimpleNamespace(anchor=Anchor(path=path))


class PeerKB:
    """Duck-typed stand-in for `KnowledgeBase` over a peer's search and answer functions."""

    def __init__(self, search: Callable[[str, int], list[PeerHit]],
                 ask: Callable[[str], PeerAnswer] | None = None, model: str = "") -> None:
        self._search, self._ask = search, ask
        self.settings = SimpleNamespace(chat_model=model)

    def search(self, question: str, k: int, mode: str = "hybrid", **_: Any) -> list[PeerHit]:
        return self._search(question, k)

    def ask(self, question: str, use_cache: bool = False, **_: Any) -> PeerAnswer:
        if self._ask is None:
            raise RuntimeError("this row has no answer pipeline")
        return self._ask(question)


MARKER = re.compile(r"\[(\d+)\]")


def cited_numbers(text: str) -> list[int]:
    """`[n]` markers in first-use order (LlamaIndex's citation prompt asks for this form)."""
    return list(dict.fromkeys(int(m) for m in MARKER.findall(text)))


def answer_from_text(text: str, question: str, cited_paths: Sequence[str],
                     stats: dict[str, Any]) -> PeerAnswer:
    """A peer answer judged by Cairn's refusal detector (`is_refusal`, the same phrases
    Cairn's own answers are read with); a refusal cites nothing as support."""
    from indexer.answer.citations import is_refusal

    found = not is_refusal(text)
    paths = list(dict.fromkeys(cited_paths)) if found else []
    return PeerAnswer(text=text, citations=tuple(cite(p) for p in paths), found=found,
                      standalone_query=question, stats=stats)
