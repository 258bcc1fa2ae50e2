"""Conversation history, kept across restarts in `<home>/conversations.json` (Qt-free).

A conversation is a titled list of turns; each turn keeps the question, the final answer text,
whether it was found in the documents and the sources it showed (citations, or the closest
passages when it was not found), so a restored conversation can still open its sources. The file
is rewritten atomically (temp file + rename), so a crash never leaves it half written.

The file can be large (answers quote their sources), so the window reads it on a worker with
`read_conversations` and hands the result to `ConversationStore.adopt` on the GUI thread.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from indexer.answer.answering import Answer, Turn
from indexer.records import Anchor

log = logging.getLogger(__name__)

FILE_NAME = "conversations.json"
FORMAT_VERSION = 1
HISTORY_TURNS = 4  # turns passed to follow-up questions


@dataclass
class Source:
    """One numbered source shown with an answer: a citation or one of the closest passages.

    `spans`: the cited sentences, as (start, end) offsets in the document's extracted text
    (`Citation.spans`); empty for the closest passages, and in conversations saved before
    citations had them — the viewers then mark the cited lines or words as they did before.
    """

    number: int
    anchor: Anchor
    text: str
    snippet: str
    spans: tuple[tuple[int, int], ...] = ()

    @property
    def label(self) -> str:
        return self.anchor.label()

    @property
    def cited_texts(self) -> tuple[str, ...]:
        """The text of each span as the index holds it ("" for a span outside the passage)."""
        at, end = self.anchor.char_start, self.anchor.char_start + len(self.text)
        return tuple(self.text[s - at:e - at] if at <= s < e <= end else "" for s, e in self.spans)

    def to_json(self) -> dict[str, Any]:
        a = self.anchor
        return {
            "number": self.number,
            "text": self.text,
            "snippet": self.snippet,
            "anchor": {
                "path": a.path,
                "page": a.page,
                "heading_path": list(a.heading_path),
                "line_start": a.line_start,
                "line_end": a.line_end,
                "char_start": a.char_start,
                "char_end": a.char_end,
                "ocr": a.ocr,
            },
            "spans": [list(span) for span in self.spans],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Source:
        a = data.get("anchor", {})
        anchor = Anchor(
            path=str(a.get("path", "")),
            page=a.get("page"),
            heading_path=tuple(a.get("heading_path") or ()),
            line_start=a.get("line_start"),
            line_end=a.get("line_end"),
            char_start=int(a.get("char_start") or 0),
            char_end=int(a.get("char_end") or 0),
            ocr=bool(a.get("ocr", False)),
        )
        spans = tuple(
            (int(span[0]), int(span[1])) for span in data.get("spans") or ()
            if isinstance(span, (list, tuple)) and len(span) == 2
        )
        return cls(int(data.get("number", 0)), anchor, str(data.get("text", "")),
                   str(data.get("snippet", "")), spans)


@dataclass
class TurnRecord:
    """One question and its final answer as shown to the user."""

    question: str
    answer: str = ""
    found: bool = True
    sources: list[Source] = field(default_factory=list)
    error: str = ""
    cancelled: bool = False
    asked_at: float = field(default_factory=time.time)

    @classmethod
    def from_answer(cls, answer: Answer, cancelled: bool = False) -> TurnRecord:
        """Keep what the GUI shows: citations when found, else the closest passages."""
        if answer.found:
            sources = [Source(c.number, c.anchor, c.text, c.snippet, c.spans)
                       for c in answer.citations]
        else:
            sources = [
                Source(i, hit.anchor, hit.text, hit.snippet)
                for i, hit in enumerate(answer.passages, 1)
            ]
        return cls(answer.question, answer.text, answer.found, sources, cancelled=cancelled)

    def source(self, number: int) -> Source | None:
        return next((s for s in self.sources if s.number == number), None)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["sources"] = [s.to_json() for s in self.sources]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TurnRecord:
        return cls(
            question=str(data.get("question", "")),
            answer=str(data.get("answer", "")),
            found=bool(data.get("found", True)),
            sources=[Source.from_json(s) for s in data.get("sources", [])],
            error=str(data.get("error", "")),
            cancelled=bool(data.get("cancelled", False)),
            asked_at=float(data.get("asked_at", 0.0)),
        )


@dataclass
class Conversation:
    """A titled list of turns. The title defaults to the first question.

    `collection`: the collection it was asked in (None: all folders); it is listed, and its
    follow-up questions are answered, in that collection only.
    """

    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    title: str = ""
    turns: list[TurnRecord] = field(default_factory=list)
    created: float = field(default_factory=time.time)
    updated: float = field(default_factory=time.time)
    collection: str | None = None

    @property
    def display_title(self) -> str:
        if self.title:
            return self.title
        if self.turns:
            q = " ".join(self.turns[0].question.split())
            return q if len(q) <= 60 else q[:57] + "…"
        return "New conversation"

    def history(self, limit: int = HISTORY_TURNS) -> list[Turn]:
        """Previous answered turns, for follow-up questions (`KnowledgeBase.stream(history=…)`)."""
        done = [t for t in self.turns if t.answer and not t.error]
        return [Turn(t.question, t.answer) for t in done[-limit:]]

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "created": self.created,
            "updated": self.updated,
            "turns": [t.to_json() for t in self.turns],
            "collection": self.collection,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Conversation:
        return cls(
            id=str(data.get("id") or uuid.uuid4().hex),
            title=str(data.get("title", "")),
            turns=[TurnRecord.from_json(t) for t in data.get("turns", [])],
            created=float(data.get("created", 0.0)),
            updated=float(data.get("updated", 0.0)),
            collection=data.get("collection") or None,  # files before collections: all
        )


def read_conversations(path: Path) -> tuple[list[Conversation], str | None]:
    """Conversations in `path`, newest first, and an error text if it could not be read.

    Thread-safe (touches no store). A damaged file is kept aside (`.bad`) rather than lost or
    fatal; a missing file is simply no history.
    """
    conversations: list[Conversation] = []
    error: str | None = None
    if path.exists():
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            items = data.get("conversations", []) if isinstance(data, dict) else []
            conversations = [Conversation.from_json(c) for c in items]
        except (OSError, ValueError, TypeError, AttributeError) as exc:
            error = f"Could not read {path.name}: {exc}"
            log.warning("%s", error)
            try:
                os.replace(path, path.with_suffix(".json.bad"))
            except OSError:
                pass
    conversations.sort(key=lambda c: c.updated, reverse=True)
    return conversations, error


class ConversationStore:
    """All conversations of one home, newest first, persisted on every change.

    `loaded` is False until `load()` or `adopt()`; a save before that first merges in what the
    file holds, so an early edit can never overwrite the history with less.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.conversations: list[Conversation] = []
        self.load_error: str | None = None
        self.loaded = False
        self.collection: str | None = None  # the window's collection: new conversations join it

    @classmethod
    def for_home(cls, home: Path, load: bool = True) -> ConversationStore:
        store = cls(Path(home) / FILE_NAME)
        if load:
            store.load()
        return store

    def load(self) -> None:
        """Read the file now (blocking; see `read_conversations` for reading on a worker)."""
        self.adopt(*read_conversations(self.path))

    def adopt(self, conversations: list[Conversation], error: str | None = None) -> None:
        """Take the result of `read_conversations`, keeping conversations created meanwhile."""
        known = {c.id for c in self.conversations}
        merged = self.conversations + [c for c in conversations if c.id not in known]
        merged.sort(key=lambda c: c.updated, reverse=True)
        self.conversations = merged
        self.load_error = error
        self.loaded = True

    def save(self) -> None:
        """Write all conversations atomically (user-only permissions: they quote documents)."""
        if not self.loaded:
            self.load()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "version": FORMAT_VERSION,
            "conversations": [c.to_json() for c in self.conversations if c.turns or c.title],
        }
        fd, tmp = tempfile.mkstemp(prefix=".conversations-", suffix=".tmp", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(payload, fh, ensure_ascii=False, indent=1)
            os.chmod(tmp, 0o600)
            os.replace(tmp, self.path)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise

    # ---------------------------------------------------------------- edits
    def get(self, conversation_id: str) -> Conversation | None:
        return next((c for c in self.conversations if c.id == conversation_id), None)

    def new(self) -> Conversation:
        conv = Conversation(collection=self.collection)
        self.conversations.insert(0, conv)
        return conv

    def add_turn(self, conversation: Conversation, turn: TurnRecord) -> None:
        conversation.turns.append(turn)
        self.touch(conversation)

    def touch(self, conversation: Conversation) -> None:
        conversation.updated = time.time()
        if conversation in self.conversations:
            self.conversations.remove(conversation)
        elif not conversation.turns[:-1]:  # its first turn: it belongs to the current collection
            conversation.collection = self.collection
        self.conversations.insert(0, conversation)
        self.save()

    def rename(self, conversation_id: str, title: str) -> None:
        conv = self.get(conversation_id)
        if conv is not None:
            conv.title = " ".join(title.split())
            self.save()

    def delete(self, conversation_id: str) -> None:
        self.conversations = [c for c in self.conversations if c.id != conversation_id]
        self.save()

    def in_collection(self, collection: str | None) -> list[Conversation]:
        """The conversations of one collection (None: those asked over all folders)."""
        return [c for c in self.conversations if c.collection == collection]

    def move_collection(self, old: str, new: str | None) -> None:
        """A collection was renamed (`new`) or deleted (None: its conversations join "all",
        nothing is deleted)."""
        moved = [c for c in self.conversations if c.collection == old]
        for conv in moved:
            conv.collection = new
        if self.collection == old:
            self.collection = new
        if moved:
            self.save()

    def __iter__(self) -> Iterator[Conversation]:
        return iter(self.conversations)

    def __len__(self) -> int:
        return len(self.conversations)
