"""Settings controls in people's words: a few named choices over one numeric setting.

Issue #21 ("Settings in people's words"): people choose "Answer length: Long", not
"max_answer_tokens = 1024". Each `ChoiceSet` names the choices of one `Settings` field and the
number each one stands for; `ChoiceCombo` shows them and hands the dialog the number, so the
dialog's `values()`/`changes()` see plain setting values and nothing downstream changes.

A value set elsewhere (the CLI, `settings.json`, an environment variable) that is none of the
choices is kept and shown as one more entry, "Custom (20 layers)": opening the dialog and
pressing OK must never change a setting the user did not touch. The technical value — the
setting's name and the number — is in each control's tooltip, kept current as the choice
changes, for people who read the docs or compare with `cairn` on the command line.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from PySide6.QtCore import Slot
from PySide6.QtWidgets import QComboBox, QSpinBox, QWidget

from indexer.config import Settings


@dataclass(frozen=True)
class Choice:
    """One named choice: what people read, and the setting value it stands for."""

    label: str
    value: int


@dataclass(frozen=True)
class ChoiceSet:
    """The named choices for one numeric setting."""

    setting: str  # the `Settings` field, e.g. "max_answer_tokens"
    title: str  # what the control is called (its label and accessible name)
    choices: tuple[Choice, ...]
    unit: str  # for a custom value: "Custom (500 tokens)"
    meaning: str  # what the number means, for the tooltip

    def label_for(self, value: int) -> str:
        for choice in self.choices:
            if choice.value == value:
                return choice.label
        return f"Custom ({value} {self.unit})"


def _default(name: str) -> int:
    """The setting's default: "Normal" is whatever Cairn ships, so a new default stays Normal."""
    return int(Settings.model_fields[name].default)


def gpu_choices() -> ChoiceSet:
    return ChoiceSet(
        "n_gpu_layers", "Use the graphics card",
        (Choice("Automatic", -1), Choice("Off", 0)), "layers",
        "-1: every layer of the chat model on the graphics card when this llama.cpp build can "
        "use one (otherwise the CPU); 0: the CPU only; a number: that many layers on the card.",
    )


def answer_length_choices() -> ChoiceSet:
    return ChoiceSet(
        "max_answer_tokens", "Answer length",
        (Choice("Short", 192), Choice("Normal", _default("max_answer_tokens")),
         Choice("Long", 1024)), "tokens",
        "The most tokens (about ¾ of a word each) the model may write for one answer; "
        "longer answers take longer and leave less room for passages.",
    )


def passages_choices() -> ChoiceSet:
    return ChoiceSet(
        "context_passages", "How many passages to read",
        (Choice("Few", 3), Choice("Normal", _default("context_passages")), Choice("Many", 8)),
        "passages",
        "The most passages from your documents the model reads before answering (of the "
        "search results considered, top_k); more is slower but may find more.",
    )


class ChoiceCombo(QComboBox):
    """A combo of named choices whose `value()` is the setting's number (item data)."""

    def __init__(self, choices: ChoiceSet, value: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.choices = choices
        self.setObjectName(f"{choices.setting}Choice")
        self.setAccessibleName(choices.title)
        for choice in choices.choices:
            self.addItem(choice.label, choice.value)
        self.currentIndexChanged.connect(self._on_choice_changed)
        self.setValue(value)
        self._on_choice_changed()

    def value(self) -> int:
        return int(self.currentData())

    def setValue(self, value: int) -> None:  # the spin boxes' name: callers need not care
        """Select `value`; one that is none of the choices becomes a "Custom (…)" entry."""
        if self.findData(value) < 0:
            self.addItem(self.choices.label_for(value), value)
        self.setCurrentIndex(self.findData(value))

    @Slot()
    def _on_choice_changed(self, *_args: object) -> None:
        c = self.choices
        named = " · ".join(f"{ch.label} = {ch.value}" for ch in c.choices)
        self.setToolTip(f"{c.title}: {self.currentText()}\nSetting: {c.setting} = "
                        f"{self.currentData()}\n{c.meaning}\n({named})")


class ThreadsSpin(QSpinBox):
    """CPU threads: "Automatic" (0, one per physical core) or a number.

    The range reaches this computer's logical CPUs (more threads than that only compete), and
    further if the setting already holds more, so a value set elsewhere survives OK.
    """

    def __init__(self, value: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("n_threadsSpin")
        self.setAccessibleName("CPU threads")
        self.setRange(0, max(os.cpu_count() or 1, value, 1))
        self.setSpecialValueText("Automatic")  # shown for the minimum, 0
        self._auto: int | None = None
        self.setValue(value)
        self.valueChanged.connect(self._retip)
        self._retip()

    def set_automatic_threads(self, cores: int) -> None:
        """What "Automatic" means here (physical cores, known once the machine is detected)."""
        self._auto = cores
        self._retip()

    @Slot()
    def _retip(self, *_args: object) -> None:
        auto = f" ({self._auto} on this computer)" if self._auto else ""
        shown = "Automatic" if self.value() == 0 else str(self.value())
        self.setToolTip(f"CPU threads: {shown}\nSetting: n_threads = {self.value()}\n"
                        f"0: automatic, one thread per physical core{auto}; more threads than "
                        "cores do not answer faster.")
