#!/usr/bin/env bash
# Runs every fuzz target (cargo fuzz, libFuzzer) for a while; new interesting inputs
# land in fuzz/corpus/<target>/ (commit them: the corpus is replayed as ordinary
# tests by protocol/tests/fuzz_corpus.rs and player-core/tests/fuzz_corpus.rs).
#
# Usage: scripts/fuzz.sh [SECONDS_PER_TARGET]   (default 60; CI runs it briefly)
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-60}"
if ! command -v cargo-fuzz >/dev/null 2>&1; then
  echo "==> installing cargo-fuzz" >&2
  cargo install --locked cargo-fuzz >/dev/null
fi
# cargo fuzz needs nightly flags; the stable toolchain accepts them with this.
export RUSTC_BOOTSTRAP=1
export CARGO_TARGET_DIR="${KESHI_FUZZ_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/keshi/target-fuzz}"
for target in header wire_record manifest timeline; do
  echo "==> fuzzing $target for ${secs}s" >&2
  cargo fuzz run --fuzz-dir fuzz "$target" "fuzz/corpus/$target" -- \
    -max_total_time="$secs" -rss_limit_mb=2048 -max_len=65536
done
echo "fuzz: every target ran ${secs}s without a crash"
