#!/usr/bin/env bash
# Code signing and notarisation for the macOS build. NOT run unless configured: build.py calls it
# only when CAIRN_MACOS_IDENTITY is set. Fill in the placeholders (or export the variables) on a
# Mac with a "Developer ID Application" certificate in the keychain.
#
#   bash sign_and_notarize.sh sign     packaging/dist/Cairn.app
#   bash sign_and_notarize.sh notarize packaging/dist/cairn-macos-arm64.dmg
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
identity=${CAIRN_MACOS_IDENTITY:-"Developer ID Application: <TEAM NAME> (<TEAM_ID>)"}   # PLACEHOLDER
keychain_profile=${CAIRN_NOTARY_PROFILE:-"<notarytool-keychain-profile>"}              # PLACEHOLDER
# One-time setup of the profile (stores the app-specific password in the keychain):
#   xcrun notarytool store-credentials "<notarytool-keychain-profile>" \
#       --apple-id "<apple-id@example.com>" --team-id "<TEAM_ID>" --password "<app-specific-password>"

case "${1:-}" in
  sign)
    app=${2:?path to Cairn.app}
    # Sign every nested binary first (inside-out), then the bundle, with the hardened runtime.
    # llama.cpp, onnxruntime, Arrow/Lance and Qt are all native code, so they all need it.
    find "$app/Contents" -type f \( -name "*.dylib" -o -name "*.so" -o -perm -111 \) -print0 |
      xargs -0 -n 1 codesign --force --timestamp --options runtime \
        --entitlements "$here/entitlements.plist" --sign "$identity"
    codesign --force --timestamp --options runtime \
      --entitlements "$here/entitlements.plist" --sign "$identity" "$app"
    codesign --verify --deep --strict --verbose=2 "$app"
    ;;
  notarize)
    dmg=${2:?path to the .dmg}
    codesign --force --timestamp --sign "$identity" "$dmg"
    xcrun notarytool submit "$dmg" --keychain-profile "$keychain_profile" --wait
    xcrun stapler staple "$dmg"
    spctl --assess --type open --context context:primary-signature --verbose "$dmg"
    ;;
  *)
    echo "usage: $0 sign APP | notarize DMG" >&2
    exit 2
    ;;
esac
