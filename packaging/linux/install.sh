#!/bin/sh
# Per-user desktop integration for the Cairn tarball: adds Cairn to the application menu
# (~/.local/share/applications) with its icon, and the `cairn` (command line) and `cairn-gui`
# (window) commands in ~/.local/bin.
# Nothing is copied: the menu entry points at this folder, so keep it where it is (or run
# this script again after moving it). No root needed. Undo with ./uninstall.sh.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
data=${XDG_DATA_HOME:-$HOME/.local/share}
mkdir -p "$data/applications" "$data/icons/hicolor/256x256/apps" \
         "$data/icons/hicolor/scalable/apps" "$HOME/.local/bin"
cp "$here/cairn.png" "$data/icons/hicolor/256x256/apps/cairn.png"
cp "$here/cairn.svg" "$data/icons/hicolor/scalable/apps/cairn.svg"
# Exec/TryExec get the absolute path (quoted for the desktop-entry spec when it has spaces).
exe="$here/cairn"
case "$exe" in *" "*) exec_line="\"$exe\"" ;; *) exec_line="$exe" ;; esac
sed -e "s|^Exec=.*|Exec=$exec_line|" -e "s|^TryExec=.*|TryExec=$exe|" \
    "$here/cairn.desktop" > "$data/applications/cairn.desktop"
chmod 644 "$data/applications/cairn.desktop"
# `cairn` is the CLI whatever its arguments (CAIRN_ENTRY=cli); `cairn-gui` is the window.
rm -f "$HOME/.local/bin/cairn"
printf '#!/bin/sh\n# cairn: added by the Cairn tarball'"'"'s install.sh\nCAIRN_ENTRY=cli exec "%s" "$@"\n' "$exe" \
    > "$HOME/.local/bin/cairn"
chmod 755 "$HOME/.local/bin/cairn"
ln -sf "$exe" "$HOME/.local/bin/cairn-gui"
command -v update-desktop-database >/dev/null 2>&1 && update-desktop-database -q "$data/applications" || true
command -v gtk-update-icon-cache >/dev/null 2>&1 && gtk-update-icon-cache -q -t "$data/icons/hicolor" || true
echo "Cairn added to your applications menu (and ~/.local/bin/cairn, ~/.local/bin/cairn-gui)."
