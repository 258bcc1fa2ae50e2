"""The settings' "This computer" panel: what Cairn found here, and what it will run.

Issue #21: a person choosing "Use the graphics card: Automatic" should see whether there is a
graphics card llama.cpp can use, how many cores and how much memory there are, whether the
processor has AVX2/AVX-512 (what makes local models fast on a CPU), and — with the settings as
they stand in the dialog, before OK — which chat model will answer, on the CPU or the graphics
card, with how many threads.

The panel detects nothing itself. Detection may import llama.cpp and run `nvidia-smi` (~0.5 s),
so it must stay off the GUI thread: the Models tab's `ModelPanel` already runs it on a worker
when the dialog opens, and the dialog hands its `Machine` to `show_machine`. The plan line is a
pure function of that machine and the dialog's values (`plan_text`), cheap enough to redo on
every change.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QGroupBox, QLabel, QVBoxLayout, QWidget

from desktop_app.theme import colors_for

if TYPE_CHECKING:
    from indexer.runtime import Machine

GB = 1024**3


@dataclass(frozen=True)
class RunChoice:
    """The dialog's current choices that decide how answers are written."""

    backend: str  # generator_backend: "llama_cpp", "server" or "fake"
    model_name: str  # what people read: the catalog's display name, or the file name
    n_gpu_layers: int
    n_threads: int
    endpoint: str = ""


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def gpu_text(machine: Machine) -> str:
    """The graphics card, as far as answering is concerned: found, and usable by llama.cpp."""
    name = machine.gpu_name
    if name and machine.gpu_memory_bytes:
        name += f" ({machine.gpu_memory_bytes / GB:.0f} GB)"
    if machine.gpu_offload:
        return f"{name}, which llama.cpp can use" if name else "one that llama.cpp can use"
    if name:
        return f"{name}, but this llama.cpp build cannot use it (it runs on the CPU only)"
    return "none that llama.cpp can use (this build runs on the CPU only)"


def found_rows(machine: Machine) -> list[tuple[str, str]]:
    """(what, found) rows: the facts a person needs to choose the settings on this tab."""
    ram = f"{machine.ram_bytes / GB:.1f} GB" if machine.ram_bytes else "unknown"
    logical = (f" ({machine.logical_cpus} logical CPUs)"
               if machine.logical_cpus != machine.cores else "")
    return [
        ("Processor", f"{machine.cores} cores{logical}"),
        ("AVX2", _yes(machine.cpu_avx2)),
        ("AVX-512", _yes(machine.cpu_avx512)),
        ("Memory", ram),
        ("Graphics card", gpu_text(machine)),
        ("llama.cpp uses", ", ".join(machine.cpu_features) or "no CPU features reported"),
    ]


def plan_text(choice: RunChoice, machine: Machine | None) -> str:
    """One sentence: who writes the answers, where, with how many threads."""
    if choice.backend == "server":
        where = choice.endpoint or "(no address yet)"
        return (f"Answers will be written by the team's model server at {where}; this "
                "computer searches your documents and sends the question with the passages "
                "found.")
    if choice.backend == "fake":
        return "Answers will be written by the deterministic test model (a test session)."
    if choice.n_threads:
        threads = f"{choice.n_threads} thread{'s' if choice.n_threads != 1 else ''}"
    elif machine is not None:
        threads = f"{machine.cores} thread{'s' if machine.cores != 1 else ''} (automatic)"
    else:
        threads = "one thread per core (automatic)"
    gpu_ok = machine.gpu_offload if machine is not None else None
    if choice.n_gpu_layers == 0:
        where = f"on the CPU with {threads}, the graphics card off"
    elif gpu_ok is False:
        where = (f"on the CPU with {threads}: this llama.cpp build cannot use a graphics "
                 "card")
    else:
        layers = ("the whole model" if choice.n_gpu_layers < 0
                  else f"{choice.n_gpu_layers} layers, the rest with {threads} on the CPU")
        where = f"on the graphics card ({layers})"
        if gpu_ok is None:
            where += " if llama.cpp can use one, otherwise on the CPU"
    return f"Cairn will run {choice.model_name} {where}."


class HardwarePanel(QGroupBox):
    """What Cairn found on this computer, and what it will run (both filled in by the dialog).

    `plan` is not in the panel's own layout: the dialog shows it under the choices that change
    it (found → choose → what will run), in its own group.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("What Cairn found on this computer", parent)
        self.setObjectName("hardwarePanel")
        self.machine: Machine | None = None
        self.found = QLabel("Checking this computer…", self)
        self.found.setObjectName("hardwareFound")
        self.found.setTextFormat(Qt.TextFormat.RichText)
        self.found.setWordWrap(True)
        self.found.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.plan = QLabel(self)
        self.plan.setObjectName("hardwarePlan")
        self.plan.setWordWrap(True)
        self.plan.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout = QVBoxLayout(self)
        layout.addWidget(self.found)

    def show_machine(self, machine: Machine) -> None:
        self.machine = machine
        muted = colors_for(self.palette()).muted
        cells = "".join(
            f"<tr><td style='padding-right:12px; color:{muted};'>{html.escape(what)}</td>"
            f"<td>{html.escape(value)}</td></tr>"
            for what, value in found_rows(machine)
        )
        self.found.setText(f"<table cellspacing='2'>{cells}</table>")
        self.found.setAccessibleName("What Cairn found: " + "; ".join(
            f"{what}: {value}" for what, value in found_rows(machine)))

    def show_failed(self, reason: str) -> None:
        self.found.setText(f"This computer could not be checked ({html.escape(reason)}).")

    def show_plan(self, choice: RunChoice) -> None:
        self.plan.setText(plan_text(choice, self.machine))
        self.plan.setAccessibleName(self.plan.text())
