"""Cairn's error hierarchy.

Everything Cairn raises on purpose derives from `CairnError`, so the edges (CLI exit codes, GUI
dialogs) can tell an *environment problem the user can fix* (unreadable file, missing model, disk
full) from a bug. Each user-facing error carries a `hint`: what to do about it.
"""

from __future__ import annotations


class CairnError(Exception):
    """Base of every error Cairn raises deliberately."""

    exit_code: int = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message}\n  hint: {self.hint}" if self.hint else self.message


class UserInputError(CairnError):
    """A bad path, argument or setting given by the user."""

    exit_code = 2


class ModelUnavailableError(CairnError):
    """A model is not installed, fails its checksum, or cannot be loaded."""

    exit_code = 3


class ParseError(CairnError):
    """One file could not be turned into text. Never aborts a run: it becomes FileFailed."""


class StoreError(CairnError):
    """The index on disk cannot be opened, read or written (disk full, corruption, lock)."""

    exit_code = 4


class IndexLockedError(StoreError):
    """Another Cairn process owns this home's index (single-writer guarantee)."""

    exit_code = 5


class EgressBlockedError(CairnError, ConnectionError):
    """A network connection was attempted while Cairn is offline (the default)."""


class Cancelled(CairnError):
    """An operation was stopped through its cancel Event."""
