"""`cairn privacy --audit`: index, search and answer in a child process the kernel watches.

Cairn's egress guard wraps Python's sockets; native libraries (ONNX Runtime, llama.cpp, LanceDB's
Rust core, PDFium) open their own. So the audit does not ask Cairn what it did: it runs the real
work — a fresh index of some documents, a search, an answer from the configured chat model — in
a child process under `strace` (`models/egress_audit.py`) and reports every attempt, by any
thread of any library, to reach another machine or resolve a name. "None" is the promise.

The child gets a throwaway Cairn home (the user's index is never touched, and a second Cairn may
keep running) and a throwaway `HOME`, so a library that writes a telemetry store or a device id
into the user's profile (ONNX Runtime's `~/.cache/Microsoft/DeveloperTools/.onnxruntime`) is seen
too. The models are the user's own files, resolved here and passed to the child by path, so the
audit loads what the user's Cairn loads and copies nothing.

`soak_s` keeps the child alive with everything loaded after the work: telemetry that uploads on
a timer (ONNX Runtime's 1DS client batches its events) would otherwise be missed by a run that
exits quickly.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from models.egress_audit import AuditReport, StraceMissing, parse_trace_dir, trace_command
from models.offline import NATIVE_OFF_ENV, OFFLINE_ENV

__all__ = [
    "AuditOutcome",
    "StraceMissing",
    "audit",
    "audit_env",
    "child_main",
    "profile_files",
    "telemetry_stores",
]

#: Documents written for an audit when the user names no folder: a few formats, enough text for
#: several chunks, and the answer to `DEFAULT_QUESTION`.
SAMPLE_DOCS: dict[str, str] = {
    "cairn-basics.md": (
        "# Building a cairn\n\n## The base\n\nA stable cairn starts with a wide, flat base: the "
        "bottom stones should be at least twice as wide as the cairn is tall. Set each stone so "
        "it rocks neither way before adding the next.\n\n## Leave no trace\n\nDo not build cairns "
        "on fragile ground, and never take stones from streams or walls.\n"
    ),
    "trail-notes.txt": (
        "Trail notes, ridge route.\nThe ridge path is marked by cairns every 200 metres.\n"
        "In fog, walk from one cairn to the next only when the next one is in sight.\n"
    ),
    "checklist.html": (
        "<html><body><h1>Hut checklist</h1><ul><li>Close the shutters.</li>"
        "<li>Log the stove's fuel level.</li><li>Leave the spare key in the cairn.</li></ul>"
        "</body></html>"
    ),
}
DEFAULT_QUESTION = "How wide should the base of a cairn be?"

#: Files a library writes into the user's profile that are telemetry state (ids, event queues).
TELEMETRY_STORE_MARKERS = (".onnxruntime", "DeveloperTools", "telemetry", "deviceid")

_RESULT_PREFIX = "CAIRN_AUDIT_RESULT "


def telemetry_stores(files: list[str]) -> list[str]:
    """The files among `files` (paths in a profile) that are a library's telemetry state."""
    return [p for p in files if any(m.lower() in p.lower() for m in TELEMETRY_STORE_MARKERS)]


@dataclass(slots=True)
class AuditOutcome:
    """The kernel's view (`report`) next to what the child did (`flow`)."""

    report: AuditReport
    flow: dict[str, Any]
    returncode: int
    created_in_profile: list[str] = field(default_factory=list)
    stderr_tail: str = ""

    @property
    def telemetry_stores(self) -> list[str]:
        return telemetry_stores(self.created_in_profile)

    @property
    def clean(self) -> bool:
        """Nothing left the machine, nothing was queued to leave later, and the work was done."""
        return self.returncode == 0 and self.report.clean and not self.telemetry_stores

    def to_dict(self) -> dict[str, Any]:
        return {
            "clean": self.clean,
            "returncode": self.returncode,
            **self.report.to_dict(),
            "telemetry_stores": self.telemetry_stores,
            "created_in_profile": self.created_in_profile,
            "flow": self.flow,
            **({"stderr_tail": self.stderr_tail} if self.returncode else {}),
        }


# ----------------------------------------------------------------------------- the child


def run_flow(home: Path, folders: list[Path], question: str, soak_s: float) -> dict[str, Any]:
    """Index `folders` into `home`, search and answer `question`: the work the audit watches."""
    from indexer.config import load_settings
    from indexer.service import KnowledgeBase, build_hub

    started = time.monotonic()
    settings = load_settings(home)
    with KnowledgeBase(settings, build_hub(settings)).open() as kb:
        for folder in folders:
            kb.add_folder(folder)
        kb.index()
        indexed = time.monotonic()
        status = kb.status()
        hits = kb.search(question)
        answer = kb.ask(question, use_cache=False)
        answered = time.monotonic()
        if soak_s > 0:
            time.sleep(soak_s)
    return {
        "files": sum(status.files_by_stage.values()),
        "files_by_stage": status.files_by_stage,
        "chunks": status.chunks,
        "search_hits": len(hits),
        "answer_found": answer.found,
        "answer": answer.text,
        "citations": sorted({c.anchor.label() for c in answer.citations}),
        "chat_model": (settings.chat_model if settings.generator_backend != "server"
                       else str(answer.stats.get("model", ""))),
        "index_s": round(indexed - started, 1),
        "answer_s": round(answered - indexed, 1),
        "soak_s": soak_s,
    }


def child_main(argv: list[str] | None = None) -> int:
    """Entry of the audited child (`python -m indexer.privacy_audit`, or the frozen app's flag)."""
    from models.offline import install_egress_guard, set_offline_env

    set_offline_env()  # exactly as every Cairn entry point does, before any heavy import
    install_egress_guard()
    parser = argparse.ArgumentParser(prog="cairn-privacy-audit-child")
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--folder", type=Path, action="append", default=[])
    parser.add_argument("--question", default=DEFAULT_QUESTION)
    parser.add_argument("--soak", type=float, default=0.0)
    args = parser.parse_args(argv)
    flow = run_flow(args.home, args.folder, args.question, args.soak)
    print(_RESULT_PREFIX + json.dumps(flow), flush=True)
    return 0


# ----------------------------------------------------------------------------- the parent


def child_command() -> list[str]:
    """How to start the child: the frozen app re-enters itself with a flag, Python uses -m."""
    if getattr(sys, "frozen", False):
        return [sys.executable, "--privacy-audit-child"]
    return [sys.executable, "-m", "indexer.privacy_audit"]


def resolved_models(settings: Any) -> dict[str, str]:
    """`CAIRN_*` settings that point the child at the user's own model files (nothing copied)."""
    from models.provisioning import resolve_chat_model, resolve_embedder_dir

    env = {
        "CAIRN_EMBEDDER_BACKEND": settings.embedder_backend,
        "CAIRN_GENERATOR_BACKEND": settings.generator_backend,
    }
    models_dir = settings.paths.models_dir
    if settings.embedder_backend == "fastembed":
        env["CAIRN_EMBEDDER_MODEL"] = str(resolve_embedder_dir(settings.embedder_model, models_dir))
    if settings.generator_backend == "llama_cpp":
        env["CAIRN_CHAT_MODEL"] = str(resolve_chat_model(settings.chat_model, models_dir))
    if settings.generator_backend == "server":  # the team's model server, and its key
        from indexer.credentials import KEY_ENV, read_chat_api_key

        env["CAIRN_CHAT_ENDPOINT"] = settings.chat_endpoint
        env["CAIRN_CHAT_ENDPOINT_MODEL"] = settings.chat_endpoint_model
        key = read_chat_api_key(settings.home)
        if key:
            env[KEY_ENV] = key
    if getattr(settings, "shared_index", ""):  # the team's index is read in the audit too
        env["CAIRN_SHARED_INDEX"] = settings.shared_index
        if settings.shared_index_options:
            env["CAIRN_SHARED_INDEX_OPTIONS"] = json.dumps(settings.shared_index_options)
    for name in ("n_threads", "n_ctx", "n_gpu_layers"):
        value = getattr(settings, name)
        if value is not None:
            env[f"CAIRN_{name.upper()}"] = str(value)
    return env


def audit_env(settings: Any, profile: Path) -> dict[str, str]:
    """The environment of an audited Cairn process: this one's, minus what would hide a leak.

    The child must switch telemetry off itself, as every Cairn entry point does: opt-outs this
    process set are not passed on, or the audit would prove nothing. `HOME` is `profile` (XDG
    folders default under it), so whatever a library writes into a user's profile shows up there.
    """
    inherited_off = {*OFFLINE_ENV, *NATIVE_OFF_ENV}
    env = {k: v for k, v in os.environ.items() if k not in inherited_off and not k.startswith(
        ("CAIRN_", "XDG_CACHE", "XDG_CONFIG", "XDG_DATA", "XDG_STATE"))}
    env.update(HOME=str(profile), **resolved_models(settings))
    return env


def configured_endpoints(settings: Any) -> list[tuple[str, int]]:
    """The servers the user configured — the team model server, the shared index's object
    store — whose calls the audit lists apart (and the guard of this process lets through, so
    the audit can resolve their names)."""
    from indexer.storage.shared_location import shared_location
    from models.hub import remote_reason
    from models.offline import allow_endpoint
    from models.remote_generator import endpoint_address

    out: list[tuple[str, int]] = []
    if settings.generator_backend == "server":
        host, port = endpoint_address(settings.chat_endpoint)
        allow_endpoint(host, port, remote_reason(f"{host}:{port}"))
        out.append((host, port))
    location = shared_location(settings)
    endpoint = location.endpoint() if location is not None else None
    if location is not None and endpoint is not None:
        allow_endpoint(*endpoint, f"shared index {location.describe()}")
        out.append(endpoint)
    return out


def profile_files(profile: Path) -> list[str]:
    """Files under a throwaway profile, relative to it (what libraries left in a user's HOME)."""
    return sorted(str(p.relative_to(profile)) for p in profile.rglob("*") if p.is_file())


def audit(
    settings: Any,
    folders: list[Path] | None = None,
    question: str = DEFAULT_QUESTION,
    *,
    soak_s: float = 20.0,
    timeout: float = 3600.0,
    command: list[str] | None = None,
    extra_env: dict[str, str] | None = None,
    work_dir: Path | None = None,
) -> AuditOutcome:
    """Run the flow in a traced child and return what the kernel saw.

    `folders=None` indexes `SAMPLE_DOCS`. `command` replaces the child command (the frozen app's
    executable, for instance); `extra_env` is added to the child's environment last.
    """
    with tempfile.TemporaryDirectory(prefix="cairn-audit-", dir=work_dir) as tmp:
        root = Path(tmp)
        profile, home, traces = root / "profile", root / "home", root / "trace"
        profile.mkdir()
        if folders is None:
            docs = root / "documents"
            docs.mkdir()
            for name, text in SAMPLE_DOCS.items():
                (docs / name).write_text(text, encoding="utf-8")
            folders = [docs]
        env = audit_env(settings, profile)
        env.update(extra_env or {})
        argv = [*(command or child_command()), "--home", str(home),
                "--question", question, "--soak", str(soak_s)]
        for folder in folders:
            argv += ["--folder", str(Path(folder).resolve())]
        allowed = configured_endpoints(settings)
        done = trace_command(argv, traces, env=env, timeout=timeout)
        flow: dict[str, Any] = {}
        for line in done.stdout.splitlines():
            if line.startswith(_RESULT_PREFIX):
                flow = json.loads(line[len(_RESULT_PREFIX):])
        return AuditOutcome(
            report=parse_trace_dir(traces, allowed),
            flow=flow,
            returncode=done.returncode if flow else (done.returncode or 1),
            created_in_profile=profile_files(profile),
            stderr_tail=done.stderr[-2000:],
        )


if __name__ == "__main__":
    sys.exit(child_main())
