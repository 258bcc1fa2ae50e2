#!/usr/bin/env bash
# Make a drag-to-Applications disk image from Cairn.app (called by packaging/build.py on macOS).
#   bash packaging/macos/make_dmg.sh packaging/dist/Cairn.app packaging/dist/cairn-macos-arm64.dmg
# Uses create-dmg (brew install create-dmg) when present for a nicer window, else plain hdiutil.
# Sign the .app BEFORE calling this (sign_and_notarize.sh sign), notarise the .dmg AFTER.
set -euo pipefail
app=${1:?path to Cairn.app}
dmg=${2:?output .dmg}
here=$(cd "$(dirname "$0")" && pwd)
[ -d "$app" ] || { echo "no such app bundle: $app" >&2; exit 2; }
rm -f "$dmg"
if command -v create-dmg >/dev/null 2>&1; then
  create-dmg \
    --volname "Cairn" \
    --volicon "$here/../icons/cairn.icns" \
    --window-size 540 360 \
    --icon-size 112 \
    --icon "Cairn.app" 140 170 \
    --app-drop-link 400 170 \
    --no-internet-enable \
    "$dmg" "$app"
else
  staging=$(mktemp -d)
  trap 'rm -rf "$staging"' EXIT
  cp -R "$app" "$staging/"
  ln -s /Applications "$staging/Applications"
  hdiutil create -volname "Cairn" -srcfolder "$staging" -fs HFS+ -format UDZO -ov "$dmg"
fi
echo "wrote $dmg"
