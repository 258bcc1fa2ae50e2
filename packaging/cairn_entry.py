"""Entry script of the frozen app (PyInstaller needs a script, not a `module:function`).

With no command (only flags) it is `cairn-gui` / `python -m desktop_app.main`: `--self-test`,
`--home`, `--fake-models`, `--set KEY=VALUE`, … pass through. With a command it is the `cairn`
CLI over the same core (`cairn privacy --audit`, `cairn index`, …), so an installed app can be
audited and scripted without a Python environment. `--privacy-audit-child` is the child process
that `cairn privacy --audit` starts and traces (`indexer/privacy_audit.py`).

`CAIRN_ENTRY=cli` makes it the CLI whatever the arguments: the `cairn` command the .deb and the
tarball put on PATH sets it, so `cairn`, `cairn --help` and `cairn --home X index` are the CLI
(options may come before the command), while `cairn-gui` and the menu entry run the window.
"""

import multiprocessing
import os
import sys

if __name__ == "__main__":
    # A frozen app has no `python -c` to start multiprocessing children with; this makes a
    # child started by any library run its task instead of a second window.
    multiprocessing.freeze_support()
    args = sys.argv[1:]
    # Read once and dropped, so no process the app starts inherits it.
    cli_only = os.environ.pop("CAIRN_ENTRY", "") == "cli"
    if args[:1] == ["--privacy-audit-child"]:
        from indexer.privacy_audit import child_main

        sys.exit(child_main(args[1:]))
    if cli_only or (args and not args[0].startswith("-")):
        from indexer.cli import app

        sys.exit(app(args, prog_name="cairn"))
    from desktop_app.main import main

    sys.exit(main())
