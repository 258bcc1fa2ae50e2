#!/bin/sh
# Removes what install.sh added (menu entry, icons, ~/.local/bin/cairn and cairn-gui). It never touches your
# documents, nor Cairn's index and settings in ${XDG_DATA_HOME:-~/.local/share}/Cairn; delete
# that folder yourself if you want them gone. To remove the app itself, delete this folder.
set -eu
data=${XDG_DATA_HOME:-$HOME/.local/share}
rm -f "$data/applications/cairn.desktop" \
      "$data/icons/hicolor/256x256/apps/cairn.png" \
      "$data/icons/hicolor/scalable/apps/cairn.svg"
# Only the commands install.sh made: a link, or the wrapper carrying its marker line.
if [ -L "$HOME/.local/bin/cairn" ] || grep -qs "added by the Cairn tarball" "$HOME/.local/bin/cairn"; then
    rm -f "$HOME/.local/bin/cairn"
fi
if [ -L "$HOME/.local/bin/cairn-gui" ]; then rm -f "$HOME/.local/bin/cairn-gui"; fi
command -v update-desktop-database >/dev/null 2>&1 && update-desktop-database -q "$data/applications" || true
echo "Cairn's menu entry was removed. Your index and settings are still in $data/Cairn."
