#!/usr/bin/env bash
# Builds the release installers that can be made on Debian: .deb and .rpm
# (target/release/bundle/{deb,rpm}/) and prints their sizes. Windows (.msi, NSIS) and
# macOS (.dmg, .app) are configured in src-tauri/tauri.conf.json and built on those
# systems with `npx tauri build`. AppImage is not built: its tool downloads at build time.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh rpm
npx tauri build --ci --bundles deb rpm
ls -l target/release/bundle/deb/*.deb target/release/bundle/rpm/*.rpm
du -b target/release/bundle/deb/*.deb target/release/bundle/rpm/*.rpm target/release/keshi-app
