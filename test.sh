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

# --- PostgreSQL for the platform tests (issue 4; owner: platform) -------------------
# The platform suites run against SQLite and PostgreSQL. Processes do not survive
# into CI, so every run installs PostgreSQL from Debian if needed, starts a
# throw-away cluster on loopback (trust auth, temp data dir) and exports
# KESHI_TEST_PG_URL; with CI=true the PostgreSQL tests fail if it is missing.
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  log "installing PostgreSQL"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq postgresql >/dev/null
fi
PG_BIN="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)"
PG_DIR="$(mktemp -d /tmp/keshi-pg.XXXXXX)"
PG_PORT="${KESHI_TEST_PG_PORT:-$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')}"
pg_as() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
[ "$(id -u)" -eq 0 ] && chown postgres:postgres "$PG_DIR"
log "starting PostgreSQL on 127.0.0.1:$PG_PORT ($PG_DIR)"
pg_as "$PG_BIN/initdb" -D "$PG_DIR/data" -A trust -U postgres >/dev/null
pg_as "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/log" -w \
  -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -k $PG_DIR -c max_connections=400" start >/dev/null
cleanups+=('pg_as "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast stop >/dev/null 2>&1 || true; rm -rf "$PG_DIR"')
export KESHI_TEST_PG_URL="postgres://postgres@127.0.0.1:$PG_PORT/postgres"
# --- end PostgreSQL ------------------------------------------------------------------

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
