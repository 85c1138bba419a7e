#!/usr/bin/env bash
# Keshi's whole test suite: formatting, lints, unit, property, scenario, crash and
# tamper tests. Installs what it needs first (Debian packages, PyPI test photos).
# Usage: ./test.sh
set -euo pipefail
cd "$(dirname "$0")"

log() { printf '\n==> %s\n' "$*" >&2; }
# Clean-up steps run at exit, in order (each section adds its own).
cleanups=()
trap 'for c in "${cleanups[@]}"; do eval "$c"; done' EXIT

# --- system packages ------------------------------------------------------------
# sqlite3: the tamper test edits journals with the real sqlite3 CLI.
# libclang-dev: nokhwa's V4L2 bindings (capture crate, desktop camera).
apt_packages=(sqlite3 libclang-dev pkg-config)
missing=()
for p in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  log "installing Debian packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# --- test photographs (capture) -------------------------------------------------
if [ -x capture/tests/test-images.sh ]; then
  log "locating test photographs"
  KESHI_TEST_IMAGES="$(capture/tests/test-images.sh)"
  export KESHI_TEST_IMAGES
fi

# The device key store: there is no D-Bus session in CI, so tests use the 0600 file.
export KESHI_KEYSTORE=file
export CARGO_TERM_COLOR=never

log "cargo fmt --check"
cargo fmt --all -- --check

log "cargo clippy (all targets, -D warnings)"
cargo clippy --workspace --all-targets --all-features -- -D warnings

log "cargo test (workspace)"
results="$(mktemp)"
cleanups+=('rm -f "$results"')
cargo test --workspace --all-features 2>&1 | tee "$results"

# One closing line for CI: totals over every test binary.
awk '/^test result:/ { p += $4; f += $6 } END { printf "%d passed, %d failed\n", p, f }' "$results"
