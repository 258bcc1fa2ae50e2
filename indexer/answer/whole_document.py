"""Whole-document answers: summarize, list, compare or ask over EVERY chunk of chosen files.

A top-k search cannot summarize: the answer is spread over the whole file. So the file's chunks
are read in document order and map-reduced with the local model:

- map: consecutive passages are grouped into windows that fit the model's context (prompt and
  reply included, counted with the chat model's own tokenizer); each window becomes a few short
  notes, each citing the passage it comes from (`document_notes.parse_notes` fixes and checks
  the markers as answers do, and drops a note no passage supports);
- reduce: notes over the final prompt's budget are cut down to the most distinctive ones, as
  written and cited (`select_notes`; or, optionally, merged by the model in groups that fit the
  context, hierarchically, every merged note keeping the chunks of the notes it merges);
- write: an overview (summarize), the answer (ask) or the differences (compare) from the notes,
  then the notes as key points; citations are renumbered once, at the end.

Prompts are short and extractive: a 0.5B/1.5B model copes with "write the points of these
passages" far better than with "summarize this book". Prefill dominates on a CPU
(PERFORMANCE.md), so windows are as large as the model reads well (`window_tokens`) and each
passage is read once. Progress (`DocumentProgress`: stage, step i/n, ETA from the measured time
per model call) streams between calls; `cancel` is checked between calls and, by the
generator, inside each call. The stream ends with the same `Answer` an ask ends with, so the
CLI, the GUI's answer view and the conversation history show and keep it unchanged.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from indexer.answer.answering import Answer, AnswerToken, make_citations
from indexer.answer.citations import content_words
from indexer.answer.document_notes import (
    DocumentProgress,
    Note,
    Rarity,
    dedupe,
    fit_groups,
    format_numbered,
    glean,
    note_items,
    one_point_each,
    parse_merged,
    parse_notes,
    passage_items,
    prose_sentences,
    render,
    same_point,
    select_notes,
)
from indexer.answer.passages import merge_neighbours
from indexer.answer.retrieval import anchor_from_row
from indexer.answer.running_text import readable
from indexer.errors import UserInputError
from indexer.records import SearchHit

if TYPE_CHECKING:
    from models.generator import Generator as ChatModel

DocumentMode = Literal["summarize", "list", "compare", "ask"]
Messages = list[dict[str, str]]

SYSTEM_NOTES = (
    "You take notes on the user's documents. Use only the numbered passages or notes given. "
    "Write each note on its own line starting with \"- \" and end it with the number of the "
    "passage it comes from, like [2]. Copy names, numbers and dates exactly. "
    "Never add anything the passages do not say."
)
_PROMPT_OVERHEAD = 120  # tokens of chat template, labels and separators beyond what is counted
_MAX_MERGE_ROUNDS = 4


@dataclass(frozen=True, slots=True)
class DocumentRequest:
    """What to do over which files. `instruction`: the user's question (ask), what to list
    (list), or an extra wish for a summary; `question` is the title the answer is kept under."""

    paths: tuple[str, ...]
    mode: DocumentMode = "summarize"
    instruction: str = ""

    @property
    def question(self) -> str:
        names = ", ".join(os.path.basename(p) for p in self.paths)
        if self.mode == "ask":
            return f"{self.instruction} (in {names})"
        if self.mode == "list":
            return f"List {self.instruction or 'the action items'} in {names}"
        if self.mode == "compare":
            return f"Compare {' and '.join(os.path.basename(p) for p in self.paths)}"
        return f"Summarize {names}" + (f": {self.instruction}" if self.instruction else "")


DocumentItem = DocumentProgress | AnswerToken | Answer


@dataclass
class _Clock:
    """Counts model calls and estimates the time left from the mean time per call so far."""

    steps: int
    done: int = 0
    spent: float = 0.0
    stats: dict[str, float | int | str | None] = field(default_factory=dict)

    def eta(self) -> float | None:
        if not self.done:
            return None
        return round(self.spent / self.done * max(0, self.steps - self.done), 1)

    def progress(self, stage: Literal["reading", "merging", "comparing", "writing"],
                 label: str = "") -> DocumentProgress:
        self.steps = max(self.steps, self.done + 1)
        return DocumentProgress(stage, self.done, self.steps, self.eta(), label)


class Cancelled(Exception):
    """The user stopped a whole-document answer between two model calls."""


class DocumentAnswerer:
    """Runs whole-document answers for `KnowledgeBase.stream_documents`.

    `chunks(path)` returns a file's chunks in document order as hits; `generator()` the loaded
    chat model (which also counts tokens). `window_tokens` caps a map window: given 30 pages
    (~1,100 tokens) at once the 0.5B wrote notes on the first four and stopped, and the 1.5B
    kept 1 of 2 planted points per 16-page window; at ~220 tokens (4-8 short pages) the 0.5B
    kept 3 of 5 on the 30-page test report. `window_passages` caps the passages of a window:
    given six short pages the 0.5B still wrote notes on the first four and stopped (with the
    page furniture gone, `running_text`, and at most four passages it kept all five).
    `note_tokens` caps a map reply, `answer_tokens` the final one. `reduce`: how notes over
    `notes_budget` are cut down — "select" keeps the most distinctive notes as the map step
    wrote them (`document_notes.select_notes`; no model call, nothing rewritten), "merge" has
    the model merge them hierarchically (a larger model may do that well; the 0.5B and 1.5B
    mixed notes up and dropped points: held-out minutes, docs/performance.md). `max_points`
    caps the key points kept per file when selecting: a summary is read, not searched.
    """

    def __init__(
        self,
        chunks: Callable[[str], list[SearchHit]],
        generator: Callable[[], ChatModel],
        *,
        context_size: int,
        window_tokens: int = 220,
        window_passages: int = 4,
        passage_tokens: int = 320,
        note_tokens: int = 360,
        answer_tokens: int = 320,
        notes_budget: int = 1000,
        temperature: float = 0.0,
        reduce: Literal["select", "merge"] = "select",
        max_points: int = 12,
    ) -> None:
        self._chunks = chunks
        self._generator = generator
        self.context_size = context_size
        self.window_tokens = window_tokens
        self.window_passages = window_passages
        self.passage_tokens = passage_tokens
        self.note_tokens = note_tokens
        self.answer_tokens = answer_tokens
        self.notes_budget = notes_budget
        self.reduce = reduce
        self.max_points = max_points
        self._rarity: dict[str, Rarity] = {}  # per file, of the answer being made
        self.temperature = temperature

    # ------------------------------------------------------------------ budget
    def _input_budget(self, model: ChatModel, reply_tokens: int, task: str) -> int:
        """Tokens left for passages or notes in one prompt: the context minus the reply, the
        system message, the task and the template (so no step ever overflows the context)."""
        fixed = model.count_tokens(SYSTEM_NOTES) + model.count_tokens(task) + _PROMPT_OVERHEAD
        return max(128, self.context_size - reply_tokens - fixed)

    def passages_of(self, path: str, count: Callable[[str], int]) -> list[SearchHit]:
        """The file's chunks in order, overlapping neighbours of one page / section merged into
        one passage (up to `passage_tokens`): the overlap is read once, a page cited once.
        Running headers and footers are not read, repeated sentences once (`running_text`).
        The file's `Rarity` is taken from all its chunks, before repeats are removed: a line
        said on every page is common, even though it is read once."""
        chunks = self._chunks(path)
        self._rarity[path] = Rarity([s for c in chunks for s in prose_sentences(c.text)])
        out: list[SearchHit] = []
        for hit in readable(chunks):
            merged = merge_neighbours(out[-1], hit) if out else None
            if merged is not None and count(merged.text) <= self.passage_tokens:
                out[-1] = merged
            else:
                out.append(hit)
        return out

    def windows(self, passages: Sequence[SearchHit], budget: int,
                count: Callable[[str], int]) -> list[list[SearchHit]]:
        limit = min(budget, self.window_tokens)
        groups = fit_groups([p.text for p in passages], limit, count,
                            max_items=self.window_passages)
        return [[_fit(passages[i], budget, count) for i in g] for g in groups]

    # ------------------------------------------------------------------ the stream
    def stream(self, request: DocumentRequest,
               cancel: threading.Event | None = None) -> Iterator[DocumentItem]:
        """Yield `DocumentProgress` items, the result's text as one `AnswerToken`, then one
        `Answer` (also when cancelled: with the notes made so far, `stats["cancelled"]`)."""
        t0 = time.perf_counter()
        model = self._generator()
        count = model.count_tokens
        clock = _Clock(steps=1)
        stats = clock.stats
        stats.update(mode=request.mode, files=len(request.paths), model=model.model_id)
        task = _map_task(request, 6)
        budget = self._input_budget(model, self.note_tokens, task)
        plan = [(path, self.windows(self.passages_of(path, count), budget, count))
                for path in request.paths]
        stats["chunks_windows"] = sum(len(w) for _, w in plan)
        clock.steps = stats["chunks_windows"] + (1 if request.mode != "list" else 0)
        per_file: list[tuple[str, list[Note]]] = []
        text, cited = "", []
        try:
            if request.mode == "compare" and len(request.paths) == 2:
                from indexer.answer.document_compare import compare_versions

                result = yield from compare_versions(self, model, request, plan, clock, cancel)
                if result is not None:
                    text, cited = result
            if not text:
                for path, windows in plan:
                    notes: list[Note] = []
                    per_file.append((path, notes))  # kept if the user stops half way
                    rarity = self._rarity[path]
                    for window in windows:
                        self._check(cancel)
                        yield clock.progress("reading", _span(window))
                        made = self._map(model, request, window, cancel, clock)
                        if request.mode == "summarize":
                            made = one_point_each(made)
                            made += glean(window, made, rarity)
                        notes.extend(made)
                    notes[:] = dedupe(notes)
                text, cited = yield from self._reduce(model, request, per_file, clock, cancel)
        except Cancelled:
            text, cited = render([(_name(p), n) for p, n in per_file])
            stats["cancelled"] = True
        stats["model_calls"] = clock.done
        stats["generate_s"] = round(clock.spent, 3)
        stats["total_s"] = round(time.perf_counter() - t0, 3)
        stats.setdefault("cancelled", False)
        if text:
            yield AnswerToken(text)
        yield Answer(
            question=request.question,
            text=text or "I couldn't find anything to report in these files.",
            citations=make_citations(range(1, len(cited) + 1), cited, text),
            found=bool(cited),
            standalone_query=request.question,
            passages=tuple(cited),
            stats=stats,
        )

    @staticmethod
    def _check(cancel: threading.Event | None) -> None:
        if cancel is not None and cancel.is_set():
            raise Cancelled

    def complete(self, model: ChatModel, user: str, max_tokens: int,
                 cancel: threading.Event | None, clock: _Clock) -> str:
        """One model call (timed for the ETA); raises `Cancelled` if it was cut short."""
        self._check(cancel)
        t = time.perf_counter()
        messages: Messages = [{"role": "system", "content": SYSTEM_NOTES},
                              {"role": "user", "content": user}]
        reply = "".join(model.stream(messages, max_tokens=max_tokens,
                                     temperature=self.temperature, cancel=cancel))
        clock.done += 1
        clock.spent += time.perf_counter() - t
        stats = getattr(model, "last_stats", None)
        if stats is not None:
            clock.stats["prompt_tokens"] = int(clock.stats.get("prompt_tokens") or 0) + int(
                stats.prompt_tokens)
        self._check(cancel)
        return reply

    def _map(self, model: ChatModel, request: DocumentRequest, window: Sequence[SearchHit],
             cancel: threading.Event | None, clock: _Clock) -> list[Note]:
        items, texts = passage_items(window)
        # About one note per 80 tokens read: a fixed small cap made the 0.5B stop after the
        # first six lines of a 30-page window and drop the points after them.
        # A passage may hold a point of its own: never fewer notes allowed than passages.
        k = max(3, len(window), min(12, sum(model.count_tokens(t) for t in texts) // 80))
        user = (f"Passages from {_name(window[0].anchor.path)}:\n\n{format_numbered(items)}"
                f"\n\n{_map_task(request, k)}")
        reply = self.complete(model, user, self.note_tokens, cancel, clock)
        return parse_notes(reply, window, texts)

    def merge(self, model: ChatModel, notes: list[Note], clock: _Clock,
              cancel: threading.Event | None) -> Iterator[DocumentProgress]:
        """Merge notes (in place) until they fit `notes_budget`: groups that fit the context
        each become fewer notes; a round that does not shrink them stops (no endless loop)."""
        count = model.count_tokens
        for _ in range(_MAX_MERGE_ROUNDS):
            if sum(count(n.text) + 12 for n in notes) <= self.notes_budget:
                return
            task = _MERGE_TASK.format(k=6)
            budget = self._input_budget(model, self.note_tokens, task)
            groups = fit_groups([n.text for n in notes], budget, count)
            clock.steps += len(groups)
            merged: list[Note] = []
            for group in groups:
                part = [notes[i] for i in group]
                if len(part) < 3:
                    merged.extend(part)
                    continue
                yield clock.progress("merging", f"{len(part)} notes")
                user = (f"Notes:\n\n{format_numbered(note_items(part))}\n\n"
                        + _MERGE_TASK.format(k=max(2, len(part) // 2)))
                reply = self.complete(model, user, self.note_tokens, cancel, clock)
                merged.extend(parse_merged(reply, part) or part)
            if len(merged) >= len(notes):
                return
            notes[:] = dedupe(merged)

    def _reduce(self, model: ChatModel, request: DocumentRequest,
                per_file: list[tuple[str, list[Note]]], clock: _Clock,
                cancel: threading.Event | None,
                ) -> Iterator[DocumentProgress]:  # returns (text, cited) via StopIteration
        # What the final prompt has room for (so no step overflows the context: the version
        # before selection overflowed a 4,096 context on the 36-page held-out manual), shared
        # between the files.
        room = self._input_budget(model, _final_tokens(request, self.answer_tokens),
                                  _final_task(request, [p for p, _ in per_file]))
        budget = max(64, min(self.notes_budget, room) // len(per_file))
        for path, notes in per_file:
            if request.mode == "list":
                continue  # a list is complete: rendered as found, no model call after it
            if self.reduce == "merge":
                yield from self.merge(model, notes, clock, cancel)
            else:
                notes[:] = select_notes(notes, budget, model.count_tokens, self._rarity.get(path),
                                        max_notes=self.max_points)
        parts = [(_name(p) if len(per_file) > 1 else "", n) for p, n in per_file]
        everything = [n for _, notes in per_file for n in notes]
        if request.mode == "list" or not everything:
            return render([(h, n) for h, n in parts])
        task = _final_task(request, [p for p, _ in per_file])
        yield clock.progress("writing")
        user = f"Notes:\n\n{format_numbered(note_items(everything))}\n\n{task}"
        reply = self.complete(model, user, _final_tokens(request, self.answer_tokens), cancel,
                              clock)
        # One cited sentence per line: split after a marker, not at every full stop ("Dr.").
        lines = _AFTER_MARKER_RE.sub("\n", reply.replace("\n- ", "\n"))
        prose = [(n.text, n.sources) for n in parse_merged(lines, everything)
                 if request.mode != "summarize" or not repeats_a_note(n, everything)]
        if request.mode == "compare":
            return render([("Differences", [Note(t, s) for t, s in prose]), *parts])
        heading = "Key points" if request.mode == "summarize" else "From the documents"
        if len(parts) == 1:
            parts = [(heading, parts[0][1])]
        return render(parts, prose)


_MERGE_TASK = ("Merge these notes into at most {k} notes. Keep every distinct fact and copy "
               "names and numbers exactly. End each note with the numbers of the notes it "
               "comes from, like [1][3].")


def _map_task(request: DocumentRequest, k: int) -> str:
    if request.mode == "list":
        what = request.instruction or "action items (tasks, owners, deadlines)"
        return (f"Question: List every one of these found in the passages: {what}. One note "
                "each, citing its passage like [1]. If there are none, write: none.")
    if request.mode == "ask":
        return (f"Question: {request.instruction}\nWrite the facts from these passages that "
                "help answer it, one note each, citing its passage like [1]. If none helps, "
                "write: none.")
    extra = f" Focus on: {request.instruction}." if request.instruction else ""
    return ("Question: What are the most important points of these passages (key facts, "
            f"numbers, names, decisions, deadlines)?{extra} Write at most {k} notes, each "
            "citing its passage like [1].")


def _final_task(request: DocumentRequest, paths: Sequence[str]) -> str:
    names = " and ".join(_name(p) for p in paths)
    if request.mode == "ask":
        return (f"Question: {request.instruction}\nAnswer in 1-4 sentences using only the "
                "notes, citing them like [1].")
    if request.mode == "compare":
        return (f"Question: What are the main differences between {names}? One note per "
                "difference, citing the notes of both like [1][4].")
    return (f"Question: Write an overview of {names} in 2-3 sentences using only these notes, "
            "citing them like [1].")


_AFTER_MARKER_RE = re.compile(r"(?<=\])[ \t]+(?=[A-Z])")


def repeats_a_note(sentence: Note, notes: Sequence[Note]) -> bool:
    """An overview sentence that only copies a key point (listed below it anyway)."""
    words = content_words(sentence.text)
    return any(same_point(words, content_words(n.text)) for n in notes)


def _final_tokens(request: DocumentRequest, answer_tokens: int) -> int:
    """Reply tokens of the last call: an overview is 2-3 sentences (decoding is ~8 tokens/s
    for the 1.5B on a slow CPU: every token reserved and written costs)."""
    return min(answer_tokens, 160) if request.mode == "summarize" else answer_tokens


def _fit(hit: SearchHit, budget: int, count: Callable[[str], int]) -> SearchHit:
    """A passage cut to fit the budget (rare: a chunk longer than a whole prompt allows)."""
    if count(hit.text) <= budget:
        return hit
    from dataclasses import replace

    words = hit.text.split()
    keep = max(1, int(len(words) * budget / max(1, count(hit.text)) * 0.9))
    return replace(hit, text=" ".join(words[:keep]))


def _name(path: str) -> str:
    return os.path.basename(path)


def _span(window: Sequence[SearchHit]) -> str:
    first, last = window[0].anchor, window[-1].anchor
    if first.page is not None and last.page is not None:
        pages = f"p. {first.page}" + (f"–{last.page}" if last.page != first.page else "")
        return f"{_name(first.path)} {pages}"
    return first.label()


# ---------------------------------------------------------------------- @mentions
_MENTION_RE = re.compile(r"(?<![\w@])@(\"[^\"]+\"|'[^']+'|[^\s,;?!]+[^\s,;?!.:)])")


def split_mentions(question: str) -> tuple[list[str], str]:
    """`@report.pdf` / `@"my notes.md"` mentions in a question, and the question without them."""
    names = [m.group(1).strip("\"'") for m in _MENTION_RE.finditer(question)]
    rest = _MENTION_RE.sub(" ", question)
    return names, re.sub(r"\s{2,}", " ", rest).strip(" ,;")


def resolve_names(names: Sequence[str], indexed: Sequence[str]) -> tuple[list[str], list[str]]:
    """Indexed paths for file names (exact path, else file name, else a path ending), and the
    names that match none or several. Case-insensitive; a name matches one file or is unknown."""
    found: list[str] = []
    unknown: list[str] = []
    for name in names:
        low = name.lower().replace("\\", "/")
        exact = [p for p in indexed if p.lower() == low]
        base = [p for p in indexed if os.path.basename(p).lower() == low]
        tail = [p for p in indexed if p.lower().endswith("/" + low.lstrip("/"))]
        hits = exact or base or tail
        if len(hits) == 1:
            found.append(hits[0])
        else:
            unknown.append(name)
    return list(dict.fromkeys(found)), unknown


def mode_for(question: str, files: int) -> tuple[DocumentMode, str]:
    """The mode a mention question asks for, and its instruction: "summarize" (nothing else
    asked, or "summarize …"), "compare" (two files, "compare"/"differences"), "list"
    ("list …"/"action items"), else "ask" with the question."""
    q = question.strip()
    low = q.lower()
    if not q or re.match(r"^(summari[sz]e|summary|tl;?dr|overview)\b", low):
        return "summarize", re.sub(r"^\S+\s*(of\s+)?", "", q) if q else ""
    if files == 2 and re.search(r"\b(compare|comparison|differences?|differ|changed)\b", low):
        return "compare", q
    if re.match(r"^(list|extract|find all)\b", low) or "action item" in low:
        return "list", re.sub(r"^(list|extract|find all)\s+(all\s+|the\s+)*", "", q,
                              flags=re.IGNORECASE).rstrip("?. ") or "action items"
    return "ask", q


def document_request(names: Sequence[str], mode: DocumentMode, instruction: str,
                     indexed: Sequence[str]) -> DocumentRequest:
    """The request for files named by path or file name; a name that is not exactly one
    indexed file, or a comparison of other than two files, is the user's mistake to fix."""
    paths, unknown = resolve_names(names, indexed)
    if unknown:
        raise UserInputError(
            f"Not an indexed file (or more than one is named so): {', '.join(unknown)}",
            hint="Give the file's name or path as `cairn status` / the Folders view lists it.")
    if not paths:
        raise UserInputError("No files were given.")
    if mode == "compare" and len(paths) != 2:
        raise UserInputError("A comparison needs exactly two files.")
    return DocumentRequest(tuple(paths), mode, instruction.strip())


def chunk_hits(rows: Sequence[dict[str, Any]]) -> list[SearchHit]:
    """A file's chunk rows (document order) as hits carrying their anchors, for the map step."""
    return [SearchHit(chunk_id=r["id"], anchor=anchor_from_row(r), text=r["text"],
                      snippet=r["text"][:240], fused=0.0) for r in rows]
