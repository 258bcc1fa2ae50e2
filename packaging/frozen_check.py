"""Run the frozen app's own self-test the way a user's offline machine would (a step of
`build.py`, also used by tests/packaging).

The self-test (`<app> --self-test --home <fresh>`, offscreen) indexes the sample documents, asks
a question and opens the cited place. Here it runs:

* in an **empty network namespace** (`unshare -rn`: no interface but a loopback that is down)
  where that is possible, so an answer that needed the network fails instead of passing;
* under **strace** when it is installed (`models.egress_audit`), so a native library that tries
  to reach the network — which the namespace would silently swallow — is still reported: the
  build fails on any outside address or DNS query.

The model: `bundled` (no flag at all — the app must find the model shipped inside it, the way a
user's first launch does), `fake` (deterministic fake models), a catalog id (assembled from the
installed part packages) or the path of a .gguf.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from installers import log

REPO = Path(__file__).resolve().parent.parent

BUNDLED = "bundled"


def resolve_self_test_model(choice: str) -> str | None:
    """'fake' → None; 'bundled' → 'bundled'; a catalog id or a .gguf path → the GGUF to use."""
    if choice in ("fake", BUNDLED):
        return None if choice == "fake" else BUNDLED
    sys.path.insert(0, str(REPO))
    from models.provisioning import resolve_chat_model

    models_dir = Path(
        os.environ.get("CAIRN_PACKAGING_MODELS", Path.home() / ".cache" / "cairn-packaging-models")
    )
    return str(resolve_chat_model(choice, models_dir))


def empty_netns_prefix() -> list[str]:
    """`unshare -rn` when this machine lets us make an empty network namespace, else []."""
    if not sys.platform.startswith("linux") or shutil.which("unshare") is None:
        return []
    probe = subprocess.run(
        ["unshare", "-rn", "true"], capture_output=True, timeout=30, check=False
    )
    return ["unshare", "-rn"] if probe.returncode == 0 else []


def _parse_summary(out: str) -> dict[str, Any]:
    start = out.find("{")
    if start < 0:
        return {}
    try:
        parsed = json.loads(out[start:])
    except json.JSONDecodeError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def run_self_test(
    exe: Path,
    model: str | None,
    home: Path,
    timeout: float = 1200,
    *,
    offline: bool = True,
    audit: bool = True,
) -> dict[str, Any]:
    """Run `<exe> --self-test` offscreen in a fresh home; returns the parsed JSON summary plus
    `exit_code`, `wall_s`, `network` ("empty namespace" or "host") and, when traced, `audit`
    (`models.egress_audit.AuditReport.to_dict()`); `ok` is False when the audit is not clean."""
    cmd = [str(exe), "--self-test", "--home", str(home)]
    if model is None:
        cmd += ["--fake-models"]
    elif model != BUNDLED:
        cmd += ["--set", f"chat_model={model}"]
    prefix = empty_netns_prefix() if offline else []
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    for inherited in ("CAIRN_HOME", "CAIRN_BUNDLED_MODELS"):
        env.pop(inherited, None)  # the app must find its own model, as on a user's machine
    tracer = None
    if audit and sys.platform.startswith("linux"):
        sys.path.insert(0, str(REPO))
        from models import egress_audit

        if shutil.which("strace"):
            tracer = egress_audit
    log("self-test: " + " ".join(prefix + cmd) + (" (under strace)" if tracer else ""))
    t0 = time.perf_counter()
    if tracer is not None:
        with tempfile.TemporaryDirectory(prefix="cairn-selftest-trace-") as trace_dir:
            proc = tracer.trace_command(
                prefix + cmd, Path(trace_dir), env=env, timeout=timeout
            )
            report = tracer.parse_trace_dir(Path(trace_dir))
    else:
        proc = subprocess.run(
            prefix + cmd, env=env, capture_output=True, text=True, timeout=timeout, check=False
        )
        report = None
    took = time.perf_counter() - t0
    summary = _parse_summary(proc.stdout)
    summary["exit_code"] = proc.returncode
    summary["wall_s"] = round(took, 1)
    summary["network"] = "empty namespace" if prefix else "host"
    if report is not None:
        summary["audit"] = {k: v for k, v in report.to_dict().items() if k != "attempts"}
        summary["audit"]["attempts"] = [a.describe() for a in report.attempts][:20]
        if not report.clean:
            summary["ok"] = False
            log(f"AUDIT: {len(report.attempts)} outside network attempt(s): "
                + "; ".join(a.describe() for a in report.attempts[:5]))
    else:
        summary["audit"] = None
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr[-6000:])
    return summary
