"""Measure a frozen Cairn (Linux): start-up time to a window on an X screen, a screenshot of it,
and the peak memory of the self-test. Prints JSON; used for the figures in packaging/README.md.

    python packaging/measure.py startup  --app packaging/dist/cairn/cairn --runs 3 \
        --screenshot docs/screenshots/frozen-linux.png
    python packaging/measure.py selftest --app packaging/dist/cairn/cairn --model /path/model.gguf

`startup` runs a private Xvfb (needs `Xvfb` and `xwininfo`: apt-get install xvfb x11-utils),
starts the app with a fresh home (the first-run welcome page) and times, from the moment the
process is spawned:
  * `shown_s`  — the app's own log line "window shown" (window built, show() called),
  * `mapped_s` — the X server reports a viewable top-level window titled Cairn (what a person
                 sees; the event loop is running).
`--cold` (default) evicts the app folder's files from the page cache first (posix_fadvise
DONTNEED on every file), so each run reads the bundle from disk as after a reboot; `--warm`
keeps the cache. `selftest` wraps `<app> --self-test` in `/usr/bin/time -v` and reports the
maximum resident set size with the self-test's own JSON summary.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

SHOWN = re.compile(r"stage 2: window shown after (\d+) ms")


def evict_page_cache(root: Path) -> int:
    """Ask the kernel to drop cached pages of every file under `root`; returns files touched."""
    count = 0
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            path = os.path.join(dirpath, name)
            if os.path.islink(path):
                continue
            try:
                fd = os.open(path, os.O_RDONLY)
            except OSError:
                continue
            try:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
                count += 1
            finally:
                os.close(fd)
    return count


class Xvfb:
    """A private X server whose framebuffer is readable as an XWD file (for screenshots)."""

    def __init__(self, width: int = 1280, height: int = 820) -> None:
        if shutil.which("Xvfb") is None:
            raise SystemExit("Xvfb not found: apt-get install xvfb")
        self.fbdir = Path(tempfile.mkdtemp(prefix="cairn-xvfb-"))
        self.display = self._free_display()
        self.proc = subprocess.Popen(
            [
                "Xvfb",
                self.display,
                "-screen",
                "0",
                f"{width}x{height}x24",
                "-nolisten",
                "tcp",
                "-nocursor",
                "-fbdir",
                str(self.fbdir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while not Path(f"/tmp/.X11-unix/X{self.display[1:]}").exists():
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise SystemExit("Xvfb did not start")
            time.sleep(0.05)

    @staticmethod
    def _free_display() -> str:
        for n in range(90, 200):
            if not Path(f"/tmp/.X11-unix/X{n}").exists() and not Path(f"/tmp/.X{n}-lock").exists():
                return f":{n}"
        raise SystemExit("no free X display number")

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        shutil.rmtree(self.fbdir, ignore_errors=True)

    def screenshot(self, out: Path, crop: tuple[int, int, int, int] | None = None) -> None:
        """Save the screen (or `crop` = x, y, w, h) as PNG, decoding Xvfb's XWD framebuffer."""
        from PIL import Image

        data = (self.fbdir / "Xvfb_screen0").read_bytes()
        header = struct.unpack(">25I", data[:100])
        header_size, width, height = header[0], header[4], header[5]
        bits_per_pixel, bytes_per_line, ncolors = header[11], header[12], header[19]
        if bits_per_pixel != 32:
            raise SystemExit(f"unexpected XWD depth {bits_per_pixel}")
        offset = header_size + ncolors * 12
        img = Image.frombuffer(
            "RGBX",
            (width, height),
            data[offset : offset + bytes_per_line * height],
            "raw",
            "BGRX",
            bytes_per_line,
            1,
        ).convert("RGB")
        if crop is not None:
            x, y, w, h = crop
            img = img.crop((x, y, x + w, y + h))
        out.parent.mkdir(parents=True, exist_ok=True)
        img.save(out, optimize=True)


def window_geometry(display: str, title: str = "Cairn") -> tuple[int, int, int, int] | None:
    """(x, y, w, h) of a viewable window named `title`, via xwininfo; None if not mapped yet."""
    proc = subprocess.run(
        ["xwininfo", "-display", display, "-name", title],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0 or "IsViewable" not in proc.stdout:
        return None
    vals = {}
    for key, label in (
        ("x", "Absolute upper-left X"),
        ("y", "Absolute upper-left Y"),
        ("w", "Width"),
        ("h", "Height"),
    ):
        m = re.search(rf"{label}:\s+(-?\d+)", proc.stdout)
        if m is None:
            return None
        vals[key] = int(m.group(1))
    return vals["x"], vals["y"], vals["w"], vals["h"]


def one_start(
    app: Path, xvfb: Xvfb, cold: bool, timeout: float, settle: float, screenshot: Path | None
) -> dict[str, Any]:
    if cold:
        evict_page_cache(app.parent)
    home = Path(tempfile.mkdtemp(prefix="cairn-measure-home-"))
    env = dict(os.environ, DISPLAY=xvfb.display, QT_QPA_PLATFORM="xcb")
    env.pop("CAIRN_HOME", None)
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [str(app), "--home", str(home), "--verbose"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    result: dict[str, Any] = {}
    lines: list[str] = []

    def read_stderr() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.append(line)
            m = SHOWN.search(line)
            if m and "shown_s" not in result:
                result["shown_s"] = round(time.perf_counter() - t0, 3)
                result["main_to_shown_ms"] = int(m.group(1))

    reader = threading.Thread(target=read_stderr, daemon=True)
    reader.start()
    geometry = None
    while time.perf_counter() - t0 < timeout:
        geometry = window_geometry(xvfb.display)
        if geometry is not None:
            result["mapped_s"] = round(time.perf_counter() - t0, 3)
            break
        if proc.poll() is not None:
            break
        time.sleep(0.02)
    if geometry is not None and screenshot is not None:
        time.sleep(settle)  # let the welcome page finish painting and the model check report
        xvfb.screenshot(screenshot, window_geometry(xvfb.display) or geometry)
        result["screenshot"] = str(screenshot)
    result["alive"] = proc.poll() is None
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    reader.join(2)
    shutil.rmtree(home, ignore_errors=True)
    if "mapped_s" not in result:
        result["error"] = "no window appeared"
        result["stderr_tail"] = "".join(lines[-30:])
    return result


def cmd_startup(args: argparse.Namespace) -> dict[str, Any]:
    app = args.app.resolve()
    xvfb = Xvfb()
    try:
        runs = []
        for i in range(args.runs):
            shot = args.screenshot if (args.screenshot is not None and i == args.runs - 1) else None
            runs.append(one_start(app, xvfb, args.cold, args.timeout, args.settle, shot))
    finally:
        xvfb.close()
    mapped = sorted(r["mapped_s"] for r in runs if "mapped_s" in r)
    return {
        "app": str(app),
        "cache": "cold (app files evicted before each run)" if args.cold else "warm",
        "runs": runs,
        "mapped_s_median": mapped[len(mapped) // 2] if mapped else None,
        "mapped_s_min": mapped[0] if mapped else None,
        "ok": len(mapped) == len(runs),
    }


def cmd_selftest(args: argparse.Namespace) -> dict[str, Any]:
    app = args.app.resolve()
    time_bin = "/usr/bin/time"
    if not Path(time_bin).exists():
        raise SystemExit("/usr/bin/time not found: apt-get install time")
    home = Path(tempfile.mkdtemp(prefix="cairn-measure-selftest-"))
    cmd = [time_bin, "-v", str(app), "--self-test", "--home", str(home)]
    cmd += ["--fake-models"] if args.model == "fake" else ["--set", f"chat_model={args.model}"]
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    env.pop("CAIRN_HOME", None)
    if args.cold:
        evict_page_cache(app.parent)
    t0 = time.perf_counter()
    proc = subprocess.run(
        cmd, env=env, capture_output=True, text=True, timeout=args.timeout, check=False
    )
    wall = time.perf_counter() - t0
    m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr)
    summary: dict[str, Any] = {}
    start = proc.stdout.find("{")
    if start >= 0:
        try:
            summary = json.loads(proc.stdout[start:])
        except json.JSONDecodeError:
            pass
    shutil.rmtree(home, ignore_errors=True)
    out = {
        "app": str(app),
        "model": args.model,
        "exit_code": proc.returncode,
        "wall_s": round(wall, 1),
        "peak_rss_mb": round(int(m.group(1)) / 1024, 1) if m else None,
        "self_test": summary,
    }
    if proc.returncode != 0:
        out["stderr_tail"] = proc.stderr[-4000:]
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="packaging/measure.py", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("startup", help="time to a window under Xvfb, and a screenshot")
    s.add_argument("--app", type=Path, required=True)
    s.add_argument("--runs", type=int, default=3)
    s.add_argument("--screenshot", type=Path)
    s.add_argument("--timeout", type=float, default=60)
    s.add_argument("--settle", type=float, default=4.0)
    s.add_argument("--warm", dest="cold", action="store_false")
    s.set_defaults(cold=True)
    t = sub.add_parser("selftest", help="peak RSS of the frozen self-test (/usr/bin/time -v)")
    t.add_argument("--app", type=Path, required=True)
    t.add_argument("--model", default="fake", help="'fake' or the path of a .gguf")
    t.add_argument("--timeout", type=float, default=1800)
    t.add_argument("--warm", dest="cold", action="store_false")
    t.set_defaults(cold=True)
    args = p.parse_args(argv)
    result = cmd_startup(args) if args.command == "startup" else cmd_selftest(args)
    print(json.dumps(result, indent=2))
    ok = result.get("ok", result.get("exit_code") == 0)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
