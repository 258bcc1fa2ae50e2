"""Entry script of the frozen app (PyInstaller needs a script, not a `module:function`).

Equivalent to `cairn-gui` / `python -m desktop_app.main`; all flags pass through
(`--self-test`, `--home`, `--fake-models`, `--set KEY=VALUE`, …).
"""

import multiprocessing
import sys

if __name__ == "__main__":
    # A frozen app has no `python -c` to start multiprocessing children with; this makes a
    # child started by any library run its task instead of a second window.
    multiprocessing.freeze_support()
    from desktop_app.main import main

    sys.exit(main())
