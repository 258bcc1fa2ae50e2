"""Replaces PyInstaller's hook for PySide6.QtGui: the same collection, minus the Qt plugins a
desktop app never loads (see QT_PLUGINS_DROPPED in bundle_plan.py). Dropping them here, before
PyInstaller's binary-dependency analysis, also keeps out what only they link against: the
virtual-keyboard plugin alone drags in QtQuick, QtQml and QtVirtualKeyboard (~20 MB), the GTK3
theme plugin a private copy of cairo/gdk libraries that can clash with the system's GTK.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import bundle_plan as plan
from PyInstaller.utils.hooks.qt import add_qt6_dependencies

hiddenimports, binaries, datas = add_qt6_dependencies(__file__)
binaries = [entry for entry in binaries if not plan.is_dropped_qt_plugin(entry[0])]
