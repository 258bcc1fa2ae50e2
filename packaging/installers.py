"""The platform artifacts made from a frozen app folder (a step of `build.py`).

  Linux    a tarball, a Debian package (`dpkg-deb`) and an AppImage (`appimagetool`, if on PATH).
  Windows  a portable zip and an Inno Setup installer (`iscc`, windows/cairn.iss).
  macOS    a dmg (macos/make_dmg.sh), signed and notarised only when configured.

Each maker logs what it writes and returns False (or skips) when its tool is missing. Also here:
`log` and `tree_size`, which the whole build shares for its report.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import tarfile
from pathlib import Path

import bundle_plan as plan

HERE = Path(__file__).resolve().parent

DEB_DEPENDS = (
    # What Qt's xcb platform plugin and the bundled libraries need from the system; everything
    # else (Python, Qt, ICU, llama.cpp, onnxruntime, Arrow, pdfium) ships inside /opt/cairn.
    "libc6 (>= 2.31)",
    "libgl1",
    "libegl1",
    "libfontconfig1",
    "libfreetype6",
    "libglib2.0-0",
    "libdbus-1-3",
    "libx11-6",
    "libx11-xcb1",
    "libxcb1",
    "libxcb-cursor0",
    "libxcb-icccm4",
    "libxcb-keysyms1",
    "libxcb-shape0",
    "libxcb-xkb1",
    "libxkbcommon0",
    "libxkbcommon-x11-0",
    # Qt's Wayland platform plugin (chosen on Wayland desktops): found missing by `ldd` over the
    # installed app in a clean Debian 12 chroot; every other library it links ships inside.
    "libwayland-client0",
    "libwayland-cursor0",
    "libwayland-egl1",
)


def deb_arch() -> str:
    machine = platform.machine().lower()
    return {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(
        machine, machine
    )


def log(msg: str) -> None:
    print(f"[build] {msg}", flush=True)


def tree_size(path: Path) -> int:
    """Bytes of all regular files under `path` (symlinks not followed, not counted twice)."""
    if path.is_file():
        return path.stat().st_size
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            p = Path(root, name)
            if not p.is_symlink():
                total += p.stat().st_size
    return total


# ----------------------------------------------------------------------------- Linux


def linux_desktop_files(app: Path) -> None:
    """Put the desktop entry, icons and the per-user installer into the app folder."""
    shutil.copy2(HERE / "linux" / "cairn.desktop", app / "cairn.desktop")
    shutil.copy2(HERE / "icons" / "cairn.svg", app / "cairn.svg")
    shutil.copy2(HERE / "icons" / "cairn-256.png", app / "cairn.png")
    for script in ("install.sh", "uninstall.sh"):
        shutil.copy2(HERE / "linux" / script, app / script)
        (app / script).chmod(0o755)
    shutil.copy2(HERE / "linux" / "README.txt", app / "README.txt")


def make_tarball(app: Path, out: Path) -> None:
    log(f"writing {out.name} …")
    tmp = out.with_name(out.name + ".partial")
    with tarfile.open(tmp, "w:gz", compresslevel=6) as tar:
        tar.add(app, arcname=plan.EXE_NAME)
    os.replace(tmp, out)


CLI_WRAPPER = """#!/bin/sh
# `cairn`: Cairn's command line (`cairn --help`); the window is `cairn-gui`. Both run the same
# frozen app; CAIRN_ENTRY=cli tells it to be the CLI even when options come first.
CAIRN_ENTRY=cli exec "{exe}" "$@"
"""


def make_deb(
    app: Path,
    out: Path,
    version: str,
    work: Path,
    compression: str = "xz",
    *,
    slim: bool = False,
) -> None:
    """A Debian package: /opt/cairn, `cairn` (CLI) and `cairn-gui` (window) on PATH, the desktop
    entry and hicolor icons.

    The offline package is `cairn`; the slim one (no chat model) is `cairn-slim`, which conflicts
    with and replaces it, so either can be installed over the other. Removing or purging never
    touches ~/.local/share/Cairn (index, settings, models) nor any document: dpkg only removes the
    files it installed.
    """
    if shutil.which("dpkg-deb") is None:
        log("dpkg-deb not found: skipping the .deb")
        return
    log(f"writing {out.name} …")
    root = work / "deb-root"
    if root.exists():
        shutil.rmtree(root)
    opt = root / "opt" / plan.EXE_NAME
    shutil.copytree(app, opt, symlinks=True)
    for extra in ("install.sh", "uninstall.sh"):  # per-user scripts are for the tarball only
        (opt / extra).unlink(missing_ok=True)
    bin_dir = root / "usr" / "bin"
    bin_dir.mkdir(parents=True)
    exe = f"/opt/{plan.EXE_NAME}/{plan.EXE_NAME}"
    (bin_dir / plan.EXE_NAME).write_text(CLI_WRAPPER.format(exe=exe), encoding="utf-8")
    (bin_dir / plan.EXE_NAME).chmod(0o755)
    (bin_dir / f"{plan.EXE_NAME}-gui").symlink_to(exe)
    apps = root / "usr" / "share" / "applications"
    apps.mkdir(parents=True)
    shutil.copy2(HERE / "linux" / "cairn.desktop", apps / "cairn.desktop")
    icons = root / "usr" / "share" / "icons" / "hicolor"
    for png in sorted((HERE / "icons").glob("cairn-*.png")):
        size = png.stem.split("-")[1]
        d = icons / f"{size}x{size}" / "apps"
        d.mkdir(parents=True, exist_ok=True)
        shutil.copy2(png, d / "cairn.png")
    (icons / "scalable" / "apps").mkdir(parents=True)
    shutil.copy2(HERE / "icons" / "cairn.svg", icons / "scalable" / "apps" / "cairn.svg")
    doc = root / "usr" / "share" / "doc" / plan.EXE_NAME
    doc.mkdir(parents=True)
    (doc / "copyright").write_text(
        "Cairn — Apache-2.0. Bundled third-party licences: /opt/cairn/_internal/*.dist-info/\n",
        encoding="utf-8",
    )
    control = root / "DEBIAN"
    control.mkdir()
    installed_kb = tree_size(root) // 1024
    package, other = ("cairn-slim", "cairn") if slim else ("cairn", "cairn-slim")
    relations = f"Conflicts: {other}\nReplaces: {other}\n" + (
        "Provides: cairn\n" if slim else ""
    )
    what = (
        " This slim package has no chat model: on first launch choose a .gguf file or download\n"
        " one (Settings → Models). The package `cairn` bundles the default model instead.\n"
        if slim
        else " The default chat model is included: it answers offline from the first launch.\n"
    )
    (control / "control").write_text(
        f"Package: {package}\nVersion: {version}\nSection: utils\nPriority: optional\n"
        f"Architecture: {deb_arch()}\nInstalled-Size: {installed_kb}\n"
        f"Depends: {', '.join(DEB_DEPENDS)}\n{relations}"
        "Maintainer: Cairn maintainers <cairn@localhost>\n"
        "Description: local-first desktop knowledge assistant\n"
        " Cairn indexes folders on this computer and answers questions about the documents\n"
        " in them with citations, using only models that run locally. Nothing leaves the\n"
        " machine. Index and settings live in ~/.local/share/Cairn and survive upgrades and\n"
        " removal of this package.\n" + what,
        encoding="utf-8",
    )
    tmp = out.with_name(out.name + ".partial")
    level = [] if compression == "none" else ["-z6" if compression != "zstd" else "-z19"]
    subprocess.run(
        [
            "dpkg-deb",
            "--root-owner-group",
            f"-Z{compression}",
            *level,
            "--build",
            str(root),
            str(tmp),
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    os.replace(tmp, out)
    shutil.rmtree(root)


def make_appimage(app: Path, out: Path, work: Path) -> bool:
    """An AppImage (mounted read-only at launch, nothing unpacked) — only with appimagetool."""
    tool = shutil.which("appimagetool") or shutil.which("appimagetool-x86_64.AppImage")
    if tool is None:
        log("appimagetool not on PATH: skipping the AppImage (see packaging/README.md)")
        return False
    log(f"writing {out.name} …")
    appdir = work / "Cairn.AppDir"
    if appdir.exists():
        shutil.rmtree(appdir)
    shutil.copytree(app, appdir / "usr" / "lib" / plan.EXE_NAME, symlinks=True)
    shutil.copy2(HERE / "linux" / "cairn.desktop", appdir / "cairn.desktop")
    shutil.copy2(HERE / "icons" / "cairn-256.png", appdir / "cairn.png")
    shutil.copy2(HERE / "linux" / "AppRun", appdir / "AppRun")
    (appdir / "AppRun").chmod(0o755)
    env = dict(os.environ, ARCH="x86_64")
    subprocess.run([tool, "--no-appstream", str(appdir), str(out)], check=True, env=env)
    shutil.rmtree(appdir)
    return True


# --------------------------------------------------------------------------- Windows


def find_iscc() -> str | None:
    found = shutil.which("iscc") or shutil.which("ISCC")
    if found:
        return found
    for base in (os.environ.get("ProgramFiles(x86)"), os.environ.get("ProgramFiles")):
        if base and (Path(base) / "Inno Setup 6" / "ISCC.exe").is_file():
            return str(Path(base) / "Inno Setup 6" / "ISCC.exe")
    return None


def make_windows_installer(app: Path, dist: Path, version: str, names: dict[str, str]) -> bool:
    log(f"writing {names['portable_zip']} …")
    shutil.make_archive(
        str(dist / names["portable_zip"].removesuffix(".zip")),
        "zip",
        root_dir=app.parent,
        base_dir=app.name,
    )
    iscc = find_iscc()
    if iscc is None:
        log("Inno Setup (iscc) not found: skipping the installer (choco install innosetup)")
        return False
    log(f"writing {names['installer']} …")
    subprocess.run(
        [
            iscc,
            f"/DAppVersion={version}",
            f"/DSourceDir={app}",
            f"/DOutputDir={dist}",
            (f"/DOutputBaseFilename={names['installer'].removesuffix('.exe')}"),
            str(HERE / "windows" / "cairn.iss"),
        ],
        check=True,
    )
    return True


# ----------------------------------------------------------------------------- macOS


def make_dmg(dist: Path, names: dict[str, str]) -> bool:
    app = dist / names["app"]
    if os.environ.get("CAIRN_MACOS_IDENTITY"):
        subprocess.run(
            ["bash", str(HERE / "macos" / "sign_and_notarize.sh"), "sign", str(app)], check=True
        )
    subprocess.run(
        ["bash", str(HERE / "macos" / "make_dmg.sh"), str(app), str(dist / names["dmg"])],
        check=True,
    )
    if os.environ.get("CAIRN_MACOS_IDENTITY"):
        subprocess.run(
            [
                "bash",
                str(HERE / "macos" / "sign_and_notarize.sh"),
                "notarize",
                str(dist / names["dmg"]),
            ],
            check=True,
        )
    return True


