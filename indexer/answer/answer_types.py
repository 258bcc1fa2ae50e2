"""What an answer is made of, as every caller sees it: the final `Answer` with its `Citation`s,
the items a stream yields before it (`AnswerStage`, `AnswerSources`, `AnswerToken`) and a
conversation's `Turn`. Kept apart from `answering.py` (the flow that produces them) so the types
read on one page; `indexer.answer.answering` re-exports them for its callers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from indexer.answer.citations import SentenceVerdict
from indexer.records import Anchor, SearchHit


@dataclass(frozen=True, slots=True)
class Citation:
    """A `[n]` marker resolved to the passage it points at."""

    number: int
    chunk_id: str
    anchor: Anchor
    text: str
    snippet: str
    scores: dict[str, float | None]
    spans: tuple[tuple[int, int], ...] = ()
    """The cited sentences: (start, end) offsets in the document's extracted text (the file
    itself for text, code and Markdown), within `anchor.char_start..char_end`; empty when the
    answer's sentences could not be traced to sentences of the passage."""

    @property
    def label(self) -> str:
        return self.anchor.label()

    @property
    def cited_texts(self) -> tuple[str, ...]:
        """The text of each span, as the index holds it."""
        at = self.anchor.char_start
        return tuple(self.text[s - at:e - at] for s, e in self.spans)


@dataclass(frozen=True, slots=True)
class Turn:
    """One exchange of a conversation, as follow-up resolution needs it."""

    question: str
    answer: str


@dataclass(frozen=True, slots=True)
class Answer:
    """The final result of `ask`: text with valid `[n]` markers, citations and the verdicts."""

    question: str
    text: str
    citations: tuple[Citation, ...]
    found: bool
    standalone_query: str
    passages: tuple[SearchHit, ...]  # what the model saw (or the closest hits when refused)
    retrieved: tuple[SearchHit, ...] = ()  # every hit of the search, in rank order (for traces)
    unsupported: tuple[str, ...] = ()
    verdicts: tuple[SentenceVerdict, ...] = ()
    cached: bool = False
    trace_id: str = ""
    stats: dict[str, float | int | str | None] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AnswerToken:
    """A piece of streamed answer text."""

    text: str


@dataclass(frozen=True, slots=True)
class AnswerStage:
    """The answerer moved to a new stage ("retrieving", "reading", "writing", "checking")."""

    stage: Literal["retrieving", "reading", "writing", "checking", "rereading", "second_part"]
    """"rereading": the model refused although one passage stood out, and is asked again with
    that passage alone; text streamed so far is void (the final `Answer` has the outcome).
    "second_part": the answer so far stands; the model is asked for a two-part question's
    second part (`two_part_follow_up`), whose checked sentences follow as tokens."""


@dataclass(frozen=True, slots=True)
class AnswerSources:
    """The passages the model is about to read, in prompt order (numbered 1..n as in `[n]`).

    Sent as soon as retrieval has chosen them, before the model loads or reads a token: on a
    CPU the first token is tens of seconds away (prefill), and the sources — file, place, and
    each passage's best-matching snippet — are useful at once. The final `Answer` still
    carries the citations the model actually made.
    """

    passages: tuple[SearchHit, ...]


StreamItem = AnswerToken | AnswerStage | AnswerSources | Answer
