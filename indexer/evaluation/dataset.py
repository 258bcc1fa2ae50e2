"""Evaluation questions: load the shipped QA sets and users' own "golden questions".

The on-disk format is JSON Lines, one question per line (see shared/eval/README.md). Both the
shipped pydoc set and questions a user saves from the app use it, so one loader serves both and
fails with the line number, because these files are edited by hand.

Accepted keys per record:
- ``id`` (str), ``question`` (str), ``answerable`` (bool) — required.
- ``source_file`` — the file a good citation points to; required when answerable. When absent,
  ``topic`` stands in for it as ``<topic>.md`` (the pydoc corpus names files after topics).
- ``also_in`` (file names) or ``also_in_topics`` (pydoc topics, read as ``<topic>.md``): other
  files that contain the same passage, so retrieving or citing them is also right.
- ``page`` (1-based int), ``must_contain`` (strings; a list entry is met by any one of its
  strings), ``evidence`` (the exact supporting passage), ``answer`` (a short reference answer).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from indexer.errors import UserInputError

__all__ = ["EvalDataError", "EvalQuestion", "load_questions", "save_question"]

MustContain = tuple[str | tuple[str, ...], ...]

_KNOWN_KEYS = frozenset({
    "id", "question", "answerable", "source_file", "topic", "also_in", "also_in_topics", "page",
    "must_contain", "evidence", "answer",
})  # fmt: skip


class EvalDataError(UserInputError, ValueError):
    """A question file or record is malformed; the message names the file and line.

    A user error (CLI exit 2, no traceback): question files are written by hand.
    """

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message, hint=hint or "Fix that line of the JSONL question file.")


@dataclass(frozen=True, slots=True)
class EvalQuestion:
    """One evaluation question with what a right retrieval and answer look like.

    `relevant_sources` is the set retrieval metrics score against: the primary source plus the
    files that hold the same passage. Unanswerable questions have none: citing anything as
    support for them is wrong.
    """

    id: str
    question: str
    answerable: bool
    source_file: str | None = None
    also_in: tuple[str, ...] = ()
    page: int | None = None
    must_contain: MustContain = ()
    evidence: str | None = None
    answer: str | None = None

    @property
    def relevant_sources(self) -> frozenset[str]:
        if not self.answerable or self.source_file is None:
            return frozenset()
        return frozenset((self.source_file, *self.also_in))

    def to_dict(self) -> dict[str, Any]:
        """The record as written by `save_question` (empty optional fields left out)."""
        record: dict[str, Any] = {
            "id": self.id, "answerable": self.answerable, "question": self.question,
        }  # fmt: skip
        if self.source_file is not None:
            record["source_file"] = self.source_file
        if self.also_in:
            record["also_in"] = list(self.also_in)
        if self.page is not None:
            record["page"] = self.page
        if self.must_contain:
            record["must_contain"] = [
                list(entry) if isinstance(entry, tuple) else entry for entry in self.must_contain
            ]
        if self.evidence is not None:
            record["evidence"] = self.evidence
        if self.answer is not None:
            record["answer"] = self.answer
        return record

    @classmethod
    def from_dict(cls, record: Mapping[str, Any]) -> EvalQuestion:
        """Build and validate a question; raises `EvalDataError` naming the bad field."""
        unknown = set(record) - _KNOWN_KEYS
        if unknown:
            raise EvalDataError(f"unknown field(s): {', '.join(sorted(unknown))}")
        qid = _required_str(record, "id")
        question = _required_str(record, "question")
        answerable = record.get("answerable")
        if not isinstance(answerable, bool):
            raise EvalDataError(f"'answerable' must be true or false, got {answerable!r}")

        source_file = _optional_str(record, "source_file")
        topic = _optional_str(record, "topic")
        if source_file is None and topic is not None:
            source_file = f"{topic}.md"
        if answerable and source_file is None:
            raise EvalDataError(f"answerable question {qid!r} needs 'source_file' (or 'topic')")

        also_in = _str_list(record, "also_in") + tuple(
            f"{t}.md" for t in _str_list(record, "also_in_topics")
        )
        page = record.get("page")
        if page is not None and (isinstance(page, bool) or not isinstance(page, int) or page < 1):
            raise EvalDataError(f"'page' must be a 1-based integer, got {page!r}")

        return cls(
            id=qid, question=question, answerable=answerable, source_file=source_file,
            also_in=tuple(dict.fromkeys(also_in)), page=page,
            must_contain=_must_contain(record.get("must_contain", [])),
            evidence=_optional_str(record, "evidence"), answer=_optional_str(record, "answer"),
        )  # fmt: skip


def _required_str(record: Mapping[str, Any], key: str) -> str:
    value = record.get(key)
    if not isinstance(value, str) or not value.strip():
        raise EvalDataError(f"'{key}' must be a non-empty string, got {value!r}")
    return value


def _optional_str(record: Mapping[str, Any], key: str) -> str | None:
    value = record.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise EvalDataError(f"'{key}' must be a non-empty string when present, got {value!r}")
    return value


def _str_list(record: Mapping[str, Any], key: str) -> tuple[str, ...]:
    value = record.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise EvalDataError(f"'{key}' must be a list of non-empty strings, got {value!r}")
    return tuple(value)


def _must_contain(value: object) -> MustContain:
    if not isinstance(value, list):
        raise EvalDataError(f"'must_contain' must be a list, got {value!r}")
    entries: list[str | tuple[str, ...]] = []
    for entry in value:
        if isinstance(entry, str) and entry:
            entries.append(entry)
        elif isinstance(entry, list) and entry and all(isinstance(s, str) and s for s in entry):
            entries.append(tuple(entry))
        else:
            raise EvalDataError(
                "'must_contain' entries must be non-empty strings or non-empty lists of "
                f"alternatives, got {entry!r}"
            )
    return tuple(entries)


def load_questions(path: str | Path) -> list[EvalQuestion]:
    """Read a JSONL question file; blank lines are skipped, ids must be unique.

    Raises `EvalDataError` as ``<path>:<line>: <problem>`` for the first bad line, so a person
    editing the file by hand can jump to it.
    """
    path = Path(path)
    questions: list[EvalQuestion] = []
    seen: dict[str, int] = {}
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise EvalDataError(f"{path}:{number}: not valid JSON ({exc.msg})") from exc
            if not isinstance(record, dict):
                raise EvalDataError(f"{path}:{number}: expected a JSON object per line")
            try:
                question = EvalQuestion.from_dict(record)
            except EvalDataError as exc:
                raise EvalDataError(f"{path}:{number}: {exc}") from exc
            if question.id in seen:
                raise EvalDataError(
                    f"{path}:{number}: duplicate id {question.id!r} (first on line "
                    f"{seen[question.id]})"
                )
            seen[question.id] = number
            questions.append(question)
    return questions


def save_question(path: str | Path, question: EvalQuestion) -> None:
    """Append one question to a JSONL file (created with its folder if missing).

    Refuses an id that the file already holds, since ids key comparisons between runs.
    """
    path = Path(path)
    if path.exists() and question.id in {q.id for q in load_questions(path)}:
        raise EvalDataError(f"{path}: a question with id {question.id!r} already exists")
    EvalQuestion.from_dict(question.to_dict())  # validate before touching the file
    path.parent.mkdir(parents=True, exist_ok=True)
    needs_newline = path.exists() and path.stat().st_size > 0 and not _ends_with_newline(path)
    with path.open("a", encoding="utf-8") as handle:
        if needs_newline:
            handle.write("\n")
        handle.write(json.dumps(question.to_dict(), ensure_ascii=False) + "\n")


def _ends_with_newline(path: Path) -> bool:
    with path.open("rb") as handle:
        handle.seek(-1, 2)
        return handle.read(1) == b"\n"
