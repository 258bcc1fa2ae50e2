"""What the servers offer, independent of the protocol: search, read, list files, status, ask.

Why one module: the MCP tools and the HTTP API must check arguments the same way (a `top_k`
bound, filters that name watched folders, paths inside them) and give the same shapes, so an
agent that learnt one learns the other. Each operation validates its input and raises
`UserInputError` with a message that says what to send instead; the transports turn that into
their own error form and keep serving.

The results are pydantic models: the MCP SDK publishes their JSON schemas as the tools' output
schemas, and the HTTP API returns their `model_dump()`.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field

from indexer.answer.answering import Answer, AnswerToken, Turn
from indexer.errors import UserInputError

if TYPE_CHECKING:
    from indexer.records import SearchHit
    from indexer.serving.reader import ReadOnlyKnowledgeBase

MAX_TOP_K = 50
MAX_QUERY_CHARS = 4000
MAX_NEIGHBOURS = 5
MAX_SECTION_CHUNKS = 40
MAX_FILES = 1000
Mode = Literal["hybrid", "bm25", "vector"]


class Passage(BaseModel):
    """One indexed passage and where it is: file, page, heading path, lines."""

    chunk_id: str = Field(description="Pass to `read` to get this passage with its neighbours.")
    path: str
    label: str = Field(description="Short human form, e.g. 'guide.pdf p. 3' or 'notes.md:12'.")
    page: int | None = None
    heading_path: list[str] = Field(default_factory=list)
    line_start: int | None = None
    line_end: int | None = None
    text: str
    score: float | None = Field(None, description="Fused rank score (higher is better).")


class SearchResult(BaseModel):
    query: str
    hits: list[Passage]


class ReadResult(BaseModel):
    path: str
    passages: list[Passage] = Field(description="In document order.")
    focus: str | None = Field(None, description="The chunk_id asked for, if any.")


class FileInfo(BaseModel):
    path: str
    folder: str
    stage: str = Field(description="queued, parsed (keyword-searchable), embedded, failed…")
    reason: str = ""
    size: int
    chunks: int


class FileList(BaseModel):
    files: list[FileInfo]
    total: int


class StatusResult(BaseModel):
    folders: list[str]
    files_by_stage: dict[str, int]
    chunks: int
    chunks_pending: int
    failures: list[dict[str, str]]
    idle: bool
    read_only: bool = Field(description="The server only reads the index; the Cairn window "
                            "(or `cairn watch`) keeps it up to date.")


class CitationInfo(BaseModel):
    number: int = Field(description="The n of the [n] marker in the answer text.")
    chunk_id: str
    path: str
    label: str
    page: int | None = None
    heading_path: list[str] = Field(default_factory=list)
    line_start: int | None = None
    line_end: int | None = None
    snippet: str


class AskResult(BaseModel):
    question: str
    text: str = Field(description="The answer, citing passages as [n].")
    found: bool = Field(description="False when the documents do not support an answer.")
    citations: list[CitationInfo]
    model: str | None = None


def passage_of(hit: SearchHit) -> Passage:
    a = hit.anchor
    return Passage(chunk_id=hit.chunk_id, path=a.path, label=a.label(), page=a.page,
                   heading_path=list(a.heading_path), line_start=a.line_start,
                   line_end=a.line_end, text=hit.text, score=hit.fused)


def _passage_of_row(row: dict[str, Any]) -> Passage:
    from indexer.answer.retrieval import anchor_from_row

    a = anchor_from_row(row)
    return Passage(chunk_id=row["id"], path=a.path, label=a.label(), page=a.page,
                   heading_path=list(a.heading_path), line_start=a.line_start,
                   line_end=a.line_end, text=row["text"])


def ask_result(answer: Answer, model: str | None = None) -> AskResult:
    return AskResult(
        question=answer.question, text=answer.text, found=answer.found, model=model,
        citations=[CitationInfo(
            number=c.number, chunk_id=c.chunk_id, path=c.anchor.path, label=c.label,
            page=c.anchor.page, heading_path=list(c.anchor.heading_path),
            line_start=c.anchor.line_start, line_end=c.anchor.line_end,
            snippet=c.snippet.replace("«", "").replace("»", ""),
        ) for c in answer.citations],
    )


class Operations:
    """The operations over one read-only knowledge base; thread-safe.

    Answers are serialised (`_answer_lock`): one local model answers one question at a time,
    and a second caller waits rather than slowing both down.
    """

    def __init__(self, kb: ReadOnlyKnowledgeBase) -> None:
        self.kb = kb
        self._answer_lock = threading.Lock()

    # ------------------------------------------------------------------ checks
    def _query(self, text: object, what: str = "query") -> str:
        if not isinstance(text, str) or not text.strip():
            raise UserInputError(f"The {what} is empty.", hint=f"Send a non-empty {what} string.")
        if len(text) > MAX_QUERY_CHARS:
            raise UserInputError(f"The {what} is {len(text)} characters long; at most "
                                 f"{MAX_QUERY_CHARS} are accepted.")
        return text

    def _top_k(self, top_k: object) -> int:
        if isinstance(top_k, bool) or not isinstance(top_k, int):
            raise UserInputError(f"top_k must be an integer, got {type(top_k).__name__}.")
        if not 1 <= top_k <= MAX_TOP_K:
            raise UserInputError(f"top_k must be between 1 and {MAX_TOP_K}, got {top_k}.",
                                 hint="Ask for fewer passages, or refine the query.")
        return top_k

    def _roots(self) -> list[Path]:
        return [Path(f) for f in self.kb.folders()]

    def _inside(self, path: str) -> str:
        """`path` resolved, if it lies inside a watched folder; `UserInputError` otherwise."""
        if not isinstance(path, str) or not path or "\x00" in path:
            raise UserInputError("path must be a non-empty string.")
        resolved = Path(os.path.realpath(os.path.expanduser(path)))
        roots = self._roots()
        for root in roots:
            real_root = Path(os.path.realpath(root))
            if resolved == real_root or real_root in resolved.parents:
                return str(root / resolved.relative_to(real_root))
        raise UserInputError(
            f"{path} is not inside a watched folder.",
            hint="Watched folders: " + (", ".join(map(str, roots)) or "none yet") + ".")

    def _folders(self, folders: Sequence[str] | None) -> list[str] | None:
        if not folders:
            return None
        return [self._inside(f) for f in folders]

    @staticmethod
    def _exts(extensions: Sequence[str] | None) -> list[str] | None:
        if not extensions:
            return None
        out = []
        for e in extensions:
            if not isinstance(e, str) or not e.strip(". ") or "/" in e:
                raise UserInputError(f"Not a file extension: {e!r} (send e.g. 'pdf' or '.md').")
            out.append(e if e.startswith(".") else f".{e}")
        return out

    # ------------------------------------------------------------------ operations
    def search(
        self,
        query: str,
        top_k: int = 8,
        folders: Sequence[str] | None = None,
        extensions: Sequence[str] | None = None,
        mode: Mode = "hybrid",
    ) -> SearchResult:
        query, k = self._query(query), self._top_k(top_k)
        if mode not in ("hybrid", "bm25", "vector"):
            raise UserInputError(f"Unknown mode {mode!r}: use hybrid, bm25 or vector.")
        hits = self.kb.search(query, k, mode=mode, folders=self._folders(folders),
                              exts=self._exts(extensions))
        return SearchResult(query=query, hits=[passage_of(h) for h in hits])

    def read(
        self,
        chunk_id: str | None = None,
        path: str | None = None,
        page: int | None = None,
        line: int | None = None,
        heading: str | None = None,
        neighbours: int = 1,
    ) -> ReadResult:
        """A passage (`chunk_id`) with `neighbours` passages either side, or the section of
        `path` at a page, a line or under a heading (the whole indexed text if none)."""
        if isinstance(neighbours, bool) or not isinstance(neighbours, int) \
                or not 0 <= neighbours <= MAX_NEIGHBOURS:
            raise UserInputError(f"neighbours must be between 0 and {MAX_NEIGHBOURS}.")
        if chunk_id:
            rows = self.kb.chunks([chunk_id])
            if not rows:
                raise UserInputError(f"No passage with chunk_id {chunk_id!r}.",
                                     hint="Use a chunk_id from a recent `search` result.")
            self._inside(rows[0]["path"])  # the folder may have been removed since
            chunks = self.kb.chunks_for_file(rows[0]["path"])
            at = next(i for i, r in enumerate(chunks) if r["id"] == chunk_id)
            window = chunks[max(0, at - neighbours): at + neighbours + 1]
            return ReadResult(path=rows[0]["path"], focus=chunk_id,
                              passages=[_passage_of_row(r) for r in window])
        if not path:
            raise UserInputError("Give a chunk_id (from search) or a path.")
        inside = self._inside(path)
        chunks = self.kb.chunks_for_file(inside)
        if not chunks:
            raise UserInputError(f"{path} is not in the index (yet).",
                                 hint="Check `list_files` for its stage.")
        picked = [r for r in chunks if _matches(r, page, line, heading)]
        if not picked:
            raise UserInputError(f"Nothing in {path} at that place (page={page}, line={line}, "
                                 f"heading={heading!r}).")
        return ReadResult(path=inside, passages=[_passage_of_row(r)
                                                 for r in picked[:MAX_SECTION_CHUNKS]])

    def list_files(self, folder: str | None = None, stage: str | None = None,
                   limit: int = 200) -> FileList:
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_FILES:
            raise UserInputError(f"limit must be between 1 and {MAX_FILES}.")
        records = self.kb.files(self._inside(folder) if folder else None)
        if stage:
            records = [r for r in records if str(r.stage) == stage]
        return FileList(total=len(records), files=[
            FileInfo(path=r.path, folder=r.folder, stage=str(r.stage), reason=r.reason,
                     size=r.size, chunks=r.chunk_count) for r in records[:limit]])

    def status(self) -> StatusResult:
        st = self.kb.status()
        return StatusResult(
            folders=list(st.folders), files_by_stage=st.files_by_stage, chunks=st.chunks,
            chunks_pending=st.chunks_pending, idle=st.idle, read_only=True,
            failures=[{"path": p, "reason": r} for p, r in st.failures])

    def check_question(self, question: object) -> str:
        """`question` if it can be asked; `UserInputError` otherwise (before any streaming)."""
        return self._query(question, "question")

    def stream_answer(self, question: str, top_k: int | None = None,
                      cancel: threading.Event | None = None,
                      history: Sequence[Turn] = ()) -> Iterator[str | Answer]:
        """Answer tokens (str), then the final `Answer`; one answer at a time. Arguments are
        checked here, before the first item is asked for."""
        question = self.check_question(question)
        k = self._top_k(top_k) if top_k is not None else None
        return self._stream(question, k, cancel, history)

    def _stream(self, question: str, k: int | None, cancel: threading.Event | None,
                history: Sequence[Turn]) -> Iterator[str | Answer]:
        with self._answer_lock:
            for item in self.kb.stream(question, history, cancel=cancel, top_k=k,
                                       use_cache=False):
                if isinstance(item, AnswerToken):
                    yield item.text
                elif isinstance(item, Answer):
                    yield item

    def ask(self, question: str, top_k: int | None = None) -> AskResult:
        final: Answer | None = None
        for item in self.stream_answer(question, top_k):
            if isinstance(item, Answer):
                final = item
        assert final is not None
        return ask_result(final, self.model_id())

    def model_id(self) -> str | None:
        return self.kb.hub.chat_model_id

    def embed_with_usage(self, texts: Sequence[str]) -> tuple[Any, int]:
        """Vectors of the index's embedding model for `texts`, and the tokens they took."""
        return self.kb.embed(texts), sum(self.kb.count_tokens(t) for t in texts)

    def embedder_id(self) -> str:
        return self.kb.embedder_id()


def _matches(row: dict[str, Any], page: int | None, line: int | None,
             heading: str | None) -> bool:
    """Whether a chunk row lies at that page, covers that line, or sits under that heading."""
    if page is not None and (row.get("page") or None) != page:
        return False
    if line is not None:
        start, end = row.get("line_start") or None, row.get("line_end") or None
        if start is None or not start <= line <= (end or start):
            return False
    if heading:
        headings = [h.strip().lower() for h in (row.get("heading") or "").split(" > ")]
        if not any(heading.strip().lower() in h for h in headings if h):
            return False
    return True
