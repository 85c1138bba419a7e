#!/usr/bin/env bash
# Installs what building and running Keshi needs on Debian/Ubuntu, if missing:
# Debian packages (WebKitGTK for the app, GStreamer for H.264 video, ffmpeg for the
# demo lessons, a CJK font (also embedded in certificates), SQLite and clang for the
# crates, Chromium for the console tests, poppler and qpdf for the certificate tests)
# and the npm packages (Tauri CLI, Vite, TypeScript, playwright-core, exceljs).
# Sourced by run.sh and test.sh.
apt_packages=(sqlite3 libclang-dev pkg-config
  libwebkit2gtk-4.1-dev build-essential file libxdo-dev libssl-dev
  libayatana-appindicator3-dev librsvg2-dev
  gstreamer1.0-plugins-good gstreamer1.0-libav ffmpeg fonts-wqy-microhei
  xvfb xauth webkit2gtk-driver xdotool x11-utils dbus imagemagick chromium
  poppler-utils qpdf "$@")
missing=()
for p in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  printf '\n==> installing Debian packages: %s\n' "${missing[*]}" >&2
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
if [ ! -x node_modules/.bin/tauri ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  # `npm install`, not `npm ci`: with this machine's npm settings
  # (omit-lockfile-registry-resolved) the lock file has no entries for other
  # platforms' optional binaries (Tauri CLI, tauri-driver), which `npm ci` refuses.
  printf '\n==> npm install (versions from package-lock.json)\n' >&2
  npm install --no-audit --no-fund --loglevel=error
fi
