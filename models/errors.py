"""Errors raised by the model layer.

`models` sits below `indexer` and may not import `indexer.errors`, so it has its own small
hierarchy with the same shape (a message plus a `hint` saying what to do). The indexer translates
these into its `CairnError` family at its edge; nothing else needs to know about them.
"""

from __future__ import annotations


class ModelError(Exception):
    """Base of every error the model layer raises on purpose."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message}\n  hint: {self.hint}" if self.hint else self.message


class ModelUnavailableError(ModelError):
    """A model is not installed, is not where it was said to be, or fails its checksum.

    An environment problem the user can fix (install packages, download, point to a file); the
    hint says how.
    """


class ModelLoadError(ModelError):
    """A model file is present but its runtime refused to load it (corrupt file, bad build)."""


class ModelCancelled(ModelError):
    """A provisioning step (assembly, download) was stopped through its cancel Event."""
