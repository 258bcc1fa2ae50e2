"""Checks of the packaging recipe (fast, default run) and one real build (opt-in, `-m packaging`).

The fast tests keep the spec, the build script and the installer scripts honest against the
code: every hidden import exists, no app module imports an excluded package, the desktop entry
and the Inno Setup script say what the docs promise. The smoke test builds the Linux app with
the real build command into a temporary folder and runs the frozen app's self-test.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib.metadata
import importlib.util
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tarfile
import xml.etree.ElementTree as ET
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGING = REPO / "packaging"
BUILD_PY = PACKAGING / "build.py"
APP_PACKAGES = ("indexer", "models", "desktop_app")


def _load(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def plan() -> ModuleType:
    return _load("bundle_plan", PACKAGING / "bundle_plan.py")


@pytest.fixture(scope="module")
def build(plan: ModuleType) -> ModuleType:
    return _load("cairn_packaging_build", BUILD_PY)


def _run_build(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(BUILD_PY), *args],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )


def _imports_of(path: Path) -> set[str]:
    """Every module named in an import statement of a Python file (absolute imports only)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _app_sources() -> list[Path]:
    files: list[Path] = []
    for package in APP_PACKAGES:
        for f in sorted((REPO / package).rglob("*.py")):
            if "sample_docs" in f.parts:  # generators of sample documents, not app code
                continue
            files.append(f)
    return files


# ------------------------------------------------------------------------------ dry run


def test_dry_run_prints_the_plan_with_the_excluded_modules() -> None:
    proc = _run_build("--dry-run")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "build plan for" in out and "onedir" in out
    for name in ("unstructured", "spacy", "PySide6.QtWebEngineCore", "PySide6.QtQuick", "torch"):
        assert re.search(rf"\b{re.escape(name)}\b", out), f"{name} not listed as excluded"
    # The default build is the offline installer: it bundles the default chat model.
    assert "chat model: the default chat model (part packages)" in out
    assert "cairn_0.1.0_" in out or sys.platform != "linux"


def test_slim_is_opt_in_and_named_so_and_also_slim_builds_both() -> None:
    slim = json.loads(_run_build("--dry-run", "--json", "--target", "linux", "--slim").stdout)
    assert slim["variants"] == ["slim"] and slim["with_model"] is None
    assert slim["artifacts"]["tarball"].endswith("-slim.tar.gz")
    assert slim["artifacts"]["deb"].startswith("cairn-slim_")
    assert not any("into <app>/models" in step for step in slim["steps"])
    both = json.loads(_run_build("--dry-run", "--json", "--target", "windows", "--also-slim").stdout)
    assert both["variants"] == ["slim", "full"]  # slim first: the model is added after
    names = both["artifacts_by_variant"]
    assert names["slim"]["installer"] == "cairn-windows-x64-slim-setup.exe"
    assert names["full"]["installer"] == "cairn-windows-x64-setup.exe"
    assert sum("bundle the default chat model" in step for step in both["steps"]) == 1
    clash = _run_build("--dry-run", "--slim", "--with-model", "/x.gguf")
    assert clash.returncode == 2 and "not allowed with" in clash.stderr


def test_dry_run_json_describes_each_platform() -> None:
    expected = {
        "linux": ("tarball", "cairn-linux-"),
        "windows": ("installer", "setup.exe"),
        "macos": ("dmg", ".dmg"),
    }
    for target, (key, fragment) in expected.items():
        proc = _run_build(
            "--dry-run", "--json", "--target", target, "--with-model", "/nonexistent/model.gguf"
        )
        assert proc.returncode == 0, proc.stderr
        data = json.loads(proc.stdout)
        assert data["target"] == target
        assert fragment in data["artifacts"][key]
        assert data["with_model"] == "/nonexistent/model.gguf"
        assert any("bundle /nonexistent/model.gguf" in step for step in data["steps"])
        assert "unstructured" in data["excluded_modules"]
        assert "--onefile" not in data["pyinstaller_command"]
        if target == "linux" and platform.machine() in ("x86_64", "AMD64"):
            assert data["artifacts"]["tarball"] == "cairn-linux-x86_64.tar.gz"


def test_a_real_build_refuses_to_cross_build(build: ModuleType, plan: ModuleType) -> None:
    other = "windows" if plan.target_name() != "windows" else "linux"
    with pytest.raises(SystemExit):
        build.parse_args(["--target", other])
    with pytest.raises(SystemExit):
        build.parse_args(["--with-model", "/nonexistent/model.gguf"])


# ------------------------------------------------------------------- the lists vs the venv


def test_hidden_imports_exist_in_the_build_environment(plan: ModuleType) -> None:
    missing = [name for name in plan.HIDDEN_IMPORTS if importlib.util.find_spec(name) is None]
    assert not missing, f"hidden imports that are not importable: {missing}"


def test_every_format_module_is_a_hidden_import(plan: ModuleType) -> None:
    """parse_file imports format modules with importlib: PyInstaller cannot see them."""
    from indexer.ingest import parsing

    modules = {f"indexer.ingest.parsing.{module}" for module, _, _ in parsing._REGISTRY.values()}
    assert modules <= set(plan.HIDDEN_IMPORTS), sorted(modules - set(plan.HIDDEN_IMPORTS))


def test_hidden_imports_and_exclusions_do_not_contradict(plan: ModuleType) -> None:
    clash = [name for name in plan.HIDDEN_IMPORTS if plan.is_excluded(name)]
    assert not clash
    for package in plan.COLLECT_SUBMODULES:
        assert not plan.is_excluded(package)


def test_metadata_to_copy_belongs_to_installed_distributions(plan: ModuleType) -> None:
    for dist in plan.COPY_METADATA:
        importlib.metadata.distribution(dist)  # raises PackageNotFoundError if absent


def test_data_files_exist(plan: ModuleType) -> None:
    for rule in plan.DATA_RULES:
        if rule.root_module:
            spec = importlib.util.find_spec(rule.root_module)
            assert spec is not None and spec.submodule_search_locations, rule
            base = Path(next(iter(spec.submodule_search_locations)))
        else:
            base = REPO
        assert (base / rule.source).exists(), f"{rule.source}: {rule.why}"


def test_llama_cpp_libraries_are_found_without_versioned_duplicates(
    plan: ModuleType, tmp_path: Path
) -> None:
    for name in (
        "libllama.so",
        "libllama.so.0",
        "libllama.so.0.5.0",
        "libggml-cpu.so",
        "libggml-cpu.so.0",
        "libggml-cpu.so.0.25.3",
        "README.md",
    ):
        (tmp_path / name).write_bytes(b"x")
    picked = sorted(
        {f.name for pat in plan.llama_lib_patterns("linux") for f in tmp_path.glob(pat)}
    )
    assert picked == ["libggml-cpu.so", "libggml-cpu.so.0", "libllama.so", "libllama.so.0"]
    assert plan.llama_lib_patterns("win32") == ("*.dll",)
    assert plan.llama_lib_patterns("darwin") == ("*.dylib",)
    spec = importlib.util.find_spec("llama_cpp")
    assert spec is not None and spec.submodule_search_locations
    lib_dir = Path(next(iter(spec.submodule_search_locations))) / "lib"
    installed = {f.name for pat in plan.llama_lib_patterns() for f in lib_dir.glob(pat)}
    if plan.target_name() == "linux":
        assert {f"lib{n}.so" for n in ("llama", "ggml", "ggml-base", "ggml-cpu")} <= installed


def test_app_code_never_imports_an_excluded_module(plan: ModuleType) -> None:
    offenders: dict[str, list[str]] = {}
    for f in _app_sources():
        bad = sorted(n for n in _imports_of(f) if plan.is_excluded(n))
        if bad:
            offenders[str(f.relative_to(REPO))] = bad
    assert not offenders, f"app modules import excluded packages: {offenders}"


def test_indexer_does_not_use_unstructured_or_spacy() -> None:
    for f in _app_sources():
        for name in _imports_of(f):
            top = name.split(".")[0]
            assert top not in {"unstructured", "spacy"}, f"{f} imports {name}"


def test_gui_uses_only_the_qt_modules_that_are_kept(plan: ModuleType) -> None:
    used: set[str] = set()
    for f in (REPO / "desktop_app").rglob("*.py"):
        for name in _imports_of(f):
            parts = name.split(".")
            if parts[0] == "PySide6" and len(parts) > 1 and parts[1].startswith("Qt"):
                used.add(parts[1])
    assert used, "desktop_app imports no Qt module?"
    assert used <= set(plan.QT_MODULES_KEPT), (
        f"add to QT_MODULES_KEPT: {used - set(plan.QT_MODULES_KEPT)}"
    )
    assert not used & set(plan.QT_MODULES_EXCLUDED)


def test_qt_plugin_filter(plan: ModuleType) -> None:
    drop = "/x/PySide6/Qt/plugins/platforminputcontexts/libqtvirtualkeyboardplugin.so"
    keep = "/x/PySide6/Qt/plugins/platforms/libqxcb.so"
    assert plan.is_dropped_qt_plugin(drop)
    assert not plan.is_dropped_qt_plugin(keep)
    assert not plan.is_dropped_qt_plugin("/x/PySide6/Qt/plugins/platforms/libqoffscreen.so")
    assert not plan.is_dropped_qt_plugin("/x/PySide6/Qt/plugins/platforms/libqwayland.so")


def test_spec_and_hook_are_valid_python() -> None:
    for path in (
        PACKAGING / "cairn.spec",
        PACKAGING / "hooks" / "hook-PySide6.QtGui.py",
        PACKAGING / "cairn_entry.py",
        PACKAGING / "measure.py",
    ):
        compile(path.read_text(encoding="utf-8"), str(path), "exec")
    spec_text = (PACKAGING / "cairn.spec").read_text(encoding="utf-8")
    assert "exclude_binaries=True" in spec_text  # onedir: nothing unpacked at launch
    assert "COLLECT(" in spec_text and "BUNDLE(" in spec_text


# -------------------------------------------------------------------- build-step helpers


def test_dedupe_replaces_identical_libraries_by_symlinks(build: ModuleType, tmp_path: Path) -> None:
    lib = tmp_path / "_internal" / "llama_cpp" / "lib"
    lib.mkdir(parents=True)
    (lib / "libfoo.so").write_bytes(b"A" * 1000)
    (lib / "libfoo.so.0").write_bytes(b"A" * 1000)
    (lib / "libbar.so").write_bytes(b"B" * 1000)
    saved = build.dedupe_shared_libs(tmp_path)
    assert saved == 1000
    assert (lib / "libfoo.so.0").is_symlink() and os.readlink(lib / "libfoo.so.0") == "libfoo.so"
    assert (lib / "libfoo.so.0").read_bytes() == b"A" * 1000
    assert not (lib / "libbar.so").is_symlink()


def _fake_gguf(path: Path, size: int = 4096) -> Path:
    path.write_bytes(b"GGUF" + bytes(range(256)) * (size // 256))
    return path


def test_bundled_model_is_named_and_stamped_for_the_app(
    build: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from models import catalog
    from models.integrity import hash_file, is_verified

    gguf = _fake_gguf(tmp_path / "downloaded.gguf")
    spec = dataclasses.replace(
        catalog.QWEN_0_5B, sha256=hash_file(gguf), size_bytes=gguf.stat().st_size
    )
    monkeypatch.setitem(catalog.CATALOG, spec.id, spec)
    dest = tmp_path / "app" / "models"
    info = build.bundle_model(gguf, dest)
    bundled = dest / spec.file_name
    assert info["catalog_id"] == spec.id and info["file"] == spec.file_name
    assert bundled.stat().st_mtime_ns % 1_000_000_000 == 0  # survives tar/deb/zip exactly
    assert is_verified(bundled, spec)  # the app trusts it with one stat(), no rehash
    # an archive round trip keeps the stamp valid
    with tarfile.open(tmp_path / "t.tar.gz", "w:gz") as tar:
        tar.add(dest, arcname="models")
    out = tmp_path / "unpacked"
    with tarfile.open(tmp_path / "t.tar.gz") as tar:
        tar.extractall(out, filter="tar")
    assert is_verified(out / "models" / spec.file_name, spec)


def test_a_model_outside_the_catalog_keeps_its_name(build: ModuleType, tmp_path: Path) -> None:
    gguf = _fake_gguf(tmp_path / "my-own-model.gguf")
    info = build.bundle_model(gguf, tmp_path / "models")
    assert info["catalog_id"] is None and (tmp_path / "models" / "my-own-model.gguf").is_file()
    not_gguf = tmp_path / "notes.txt"
    not_gguf.write_text("hello")
    with pytest.raises(SystemExit):
        build.bundle_model(not_gguf, tmp_path / "models")


def test_verify_bundle_catches_a_forbidden_module(build: ModuleType, tmp_path: Path) -> None:
    dist, work = tmp_path / "dist", tmp_path / "work"
    app = dist / "cairn"
    (app / "_internal").mkdir(parents=True)
    (app / "cairn").write_bytes(b"")
    work.mkdir()
    manifest = {
        "modules": ["desktop_app.main", "unstructured", "unstructured.partition"],
        "extensions": [],
        "binaries": [],
        "datas": [],
    }
    (work / "bundle-manifest.json").write_text(json.dumps(manifest))
    plan_dict = {"dist": str(dist), "work": str(work), "target": "linux"}
    problems = build.verify_bundle(plan_dict)
    assert any("forbidden module in bundle: unstructured" in p for p in problems)
    assert any("module missing from bundle: llama_cpp" in p for p in problems)
    assert any("libllama.so" in p for p in problems)


# -------------------------------------------------------------------- installer sources


def _desktop_entry(path: Path) -> dict[str, str]:
    """A strict little parser for the freedesktop desktop-entry format (one group)."""
    group, entries = None, {}
    for n, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            assert line.endswith("]") and group is None, f"line {n}: one [Desktop Entry] only"
            group = line[1:-1]
            continue
        assert group == "Desktop Entry", f"line {n}: key before the group header"
        key, sep, value = raw.partition("=")
        assert sep and re.fullmatch(r"[A-Za-z0-9-]+(\[[^\]]+\])?", key.strip()), f"line {n}"
        assert key.strip() not in entries, f"line {n}: duplicate key {key}"
        entries[key.strip()] = value.strip()
    return entries


def test_desktop_file_is_valid(plan: ModuleType) -> None:
    path = PACKAGING / "linux" / "cairn.desktop"
    e = _desktop_entry(path)
    assert e["Type"] == "Application" and e["Name"] == "Cairn"
    # The menu opens the window; `cairn` on PATH is the CLI.
    assert e["Exec"].split()[0] == f"{plan.EXE_NAME}-gui" and e["TryExec"] == f"{plan.EXE_NAME}-gui"
    assert e["Icon"] == "cairn" and e["Terminal"] == "false"
    assert e["Categories"].endswith(";") and e["Version"] in {"1.0", "1.1", "1.2", "1.3", "1.4"}
    if shutil.which("desktop-file-validate"):
        proc = subprocess.run(
            ["desktop-file-validate", str(path)], capture_output=True, text=True, check=False
        )
        assert proc.returncode == 0 and "error" not in proc.stdout, proc.stdout


def _iss_sections(text: str) -> dict[str, list[str]]:
    sections: dict[str, list[str]] = {}
    current = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith((";", "#")):
            continue
        m = re.fullmatch(r"\[(\w+)\]", line)
        if m:
            current = m.group(1)
            sections.setdefault(current, [])
        elif current is not None:
            sections[current].append(line)
    return sections


def test_inno_setup_script_never_deletes_user_data() -> None:
    text = (PACKAGING / "windows" / "cairn.iss").read_text(encoding="utf-8")
    s = _iss_sections(text)
    for key in ("Setup", "Files", "Icons", "UninstallDelete", "Code"):
        assert key in s, f"[{key}] missing"
    assert any(line.startswith("AppId=") for line in s["Setup"])
    assert any("{autoprograms}" in line for line in s["Icons"]), "no Start-menu entry"
    user_places = (
        "{localappdata}",
        "{userappdata}",
        "{userdocs}",
        "{commondocs}",
        "{userdesktop}",
        "{%USERPROFILE",
        "{sd}",
        "{userprofile}",
    )
    for section in ("UninstallDelete", "InstallDelete"):
        for line in s.get(section, []):
            name = re.search(r'Name:\s*"([^"]+)"', line)
            assert name, line
            assert name.group(1).startswith("{app}"), f"[{section}] reaches outside the app: {line}"
            assert not any(p in line.lower() for p in user_places), line
    code = "\n".join(s["Code"])
    # user data is deleted only after an explicit Yes (default No), never in silent mode
    assert "UninstallSilent()" in code and "MB_DEFBUTTON2" in code and "IDYES" in code
    assert code.count("DeleteCairnData(Dir)") == 1
    assert "{localappdata}" in code  # the platformdirs data folder, named explicitly
    assert not re.search(r"userdocs|\{userprofile\}|DelTree\(Dir,", code, re.IGNORECASE)


def test_icons_exist_in_every_format() -> None:
    icons = PACKAGING / "icons"
    root = ET.parse(icons / "cairn.svg").getroot()
    assert root.tag.endswith("svg")
    for size in (16, 32, 48, 64, 128, 256, 512):
        data = (icons / f"cairn-{size}.png").read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n"
        width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
        assert (width, height) == (size, size)
    assert (icons / "cairn.ico").read_bytes()[:4] == b"\x00\x00\x01\x00"
    assert (icons / "cairn.icns").read_bytes()[:4] == b"icns"


def test_shell_scripts_parse() -> None:
    for script in (
        PACKAGING / "linux" / "install.sh",
        PACKAGING / "linux" / "uninstall.sh",
        PACKAGING / "linux" / "AppRun",
        PACKAGING / "macos" / "make_dmg.sh",
        PACKAGING / "macos" / "sign_and_notarize.sh",
    ):
        shell = "bash" if "bash" in script.read_text(encoding="utf-8").splitlines()[0] else "sh"
        proc = subprocess.run(
            [shell, "-n", str(script)], capture_output=True, text=True, check=False
        )
        assert proc.returncode == 0, f"{script}: {proc.stderr}"
    uninstall = (PACKAGING / "linux" / "uninstall.sh").read_text(encoding="utf-8")
    assert "rm -rf" not in uninstall and '/Cairn"' not in uninstall.split("echo")[0]


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX shell scripts")
def test_tarball_install_script_adds_a_menu_entry_and_uninstall_keeps_user_data(
    tmp_path: Path,
) -> None:
    app = tmp_path / "opt dir" / "cairn"  # a space in the path, as in real home folders
    app.mkdir(parents=True)
    for name in ("install.sh", "uninstall.sh", "cairn.desktop"):
        shutil.copy2(PACKAGING / "linux" / name, app / name)
    shutil.copy2(PACKAGING / "icons" / "cairn.svg", app / "cairn.svg")
    shutil.copy2(PACKAGING / "icons" / "cairn-256.png", app / "cairn.png")
    (app / "cairn").write_text('#!/bin/sh\necho "entry=${CAIRN_ENTRY:-window} $*"\n')
    (app / "cairn").chmod(0o755)
    home = tmp_path / "home"
    data = home / ".local" / "share"
    user_data = data / "Cairn"
    user_data.mkdir(parents=True)
    (user_data / "settings.json").write_text("{}")
    env = {"HOME": str(home), "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    subprocess.run(["sh", str(app / "install.sh")], env=env, check=True, capture_output=True)
    entry_path = data / "applications" / "cairn.desktop"
    entry = _desktop_entry(entry_path)
    assert entry["Exec"] == f'"{app / "cairn"}"' and entry["TryExec"] == str(app / "cairn")
    assert (data / "icons" / "hicolor" / "scalable" / "apps" / "cairn.svg").is_file()
    bin_dir = home / ".local" / "bin"
    assert (bin_dir / "cairn-gui").resolve() == (app / "cairn").resolve()
    # `cairn` is the CLI even when an option comes first; `cairn-gui` is the window.
    ran = subprocess.run([str(bin_dir / "cairn"), "--home", "x y", "status"], env=env,
                         capture_output=True, text=True, check=True).stdout
    assert ran.strip() == "entry=cli --home x y status"
    ran = subprocess.run([str(bin_dir / "cairn-gui"), "--self-test"], env=env,
                         capture_output=True, text=True, check=True).stdout
    assert ran.strip() == "entry=window --self-test"
    if shutil.which("desktop-file-validate"):
        proc = subprocess.run(
            ["desktop-file-validate", str(entry_path)], capture_output=True, text=True, check=False
        )
        assert proc.returncode == 0, proc.stdout
    subprocess.run(["sh", str(app / "uninstall.sh")], env=env, check=True, capture_output=True)
    assert not entry_path.exists() and not (bin_dir / "cairn").exists()
    assert not (bin_dir / "cairn-gui").exists()
    assert (user_data / "settings.json").read_text() == "{}"  # user data untouched
    assert (app / "cairn").is_file()


def test_ci_workflow_builds_and_self_tests_all_three_platforms() -> None:
    yaml = pytest.importorskip("yaml")
    wf = yaml.safe_load((PACKAGING / "ci" / "build-installers.yml").read_text(encoding="utf-8"))
    job = wf["jobs"]["build"]
    oses = {entry["os"].split("-")[0] for entry in job["strategy"]["matrix"]["include"]}
    assert oses == {"ubuntu", "windows", "macos"}
    runs = " ".join(step.get("run", "") for step in job["steps"])
    # The hosted recipe self-tests the offline installer's own model, then the installed .deb.
    assert "packaging/build.py --also-slim --self-test bundled" in runs
    assert "--no-group chat-default" not in runs
    assert "unshare -rn cairn-gui --self-test" in runs and "apt-get purge -y cairn" in runs


# ------------------------------------------------------------------------ the real build


@pytest.mark.packaging
@pytest.mark.timeout(3000)
def test_build_the_offline_installer_and_answer_with_the_bundled_model(
    build: ModuleType, plan: ModuleType, tmp_path: Path
) -> None:
    """The default build bundles the default chat model; the frozen app then indexes the
    samples, answers and opens the citation with no network (empty namespace) and no outside
    attempt under strace — with no model flag: it must find the bundled file itself."""
    if plan.target_name() != "linux":
        pytest.skip("the smoke build checks the Linux artifacts; CI builds the other platforms")
    from models.catalog import CATALOG, DEFAULT_CHAT_MODEL

    spec = CATALOG[DEFAULT_CHAT_MODEL]
    dist, work = tmp_path / "dist", tmp_path / "work"
    proc = subprocess.run(
        [sys.executable, str(BUILD_PY), "--dist", str(dist), "--work", str(work),
         "--also-slim", "--deb-compression", "gzip"],  # xz would add minutes
        capture_output=True, text=True, timeout=2400, cwd=REPO, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    exe = dist / "cairn" / "cairn"
    report = json.loads((dist / "build-report.json").read_text())
    assert report["bundled_model"]["sha256"] == spec.sha256
    slim_made, full_made = (report["variants"][v]["artifacts"] for v in ("slim", "full"))
    assert full_made["cairn-linux-x86_64.tar.gz"] > slim_made["cairn-linux-x86_64-slim.tar.gz"]
    with tarfile.open(dist / "cairn-linux-x86_64.tar.gz") as tar:
        names = set(tar.getnames())
    assert {"cairn/cairn", "cairn/cairn.desktop", f"cairn/models/{spec.file_name}",
            f"cairn/models/{spec.file_name}.sha256"} <= names  # fmt: skip
    assert not any("unstructured" in n or "spacy" in n for n in names)
    with tarfile.open(dist / "cairn-linux-x86_64-slim.tar.gz") as tar:
        assert not any(n.endswith(".gguf") for n in tar.getnames())
    if shutil.which("dpkg-deb"):
        deb = dist / f"cairn_{report['version']}_amd64.deb"
        listing = subprocess.run(["dpkg-deb", "-c", str(deb)], capture_output=True, text=True,
                                 check=True).stdout
        for path in ("./opt/cairn/cairn", "./usr/share/applications/cairn.desktop",
                     "./usr/bin/cairn", "./usr/bin/cairn-gui", f"./opt/cairn/models/{spec.file_name}"):
            assert path in listing, path
        control = subprocess.run(["dpkg-deb", "-f", str(deb)], capture_output=True, text=True,
                                 check=True).stdout
        assert "Package: cairn\n" in control and "Conflicts: cairn-slim" in control
        assert "libxcb-cursor0" in control

    summary = build.run_self_test(exe, build.BUNDLED, tmp_path / "home", timeout=1500)
    assert summary["exit_code"] == 0, summary
    assert summary["ok"] and summary["found"], summary
    assert any("brewing-green-tea.html" in c for c in summary["citations"]), summary
    assert summary["opened"]["viewer"] != "missing"
    # No model flag, a fresh home, no part packages inside the app: the answer came from the
    # bundled file (nothing was joined, copied or downloaded into the home).
    assert summary["models"]["chat"] == f"llama_cpp:{spec.id}", summary["models"]
    assert not list((tmp_path / "home").rglob("*.gguf"))
    assert summary["timings"]["answer_s"] > 0
    if summary["audit"] is not None:  # strace installed: the frozen app under the audit
        assert summary["audit"]["clean"], summary["audit"]
        assert summary["audit"]["dns_queries"] == 0
