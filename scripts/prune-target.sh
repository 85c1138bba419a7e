#!/usr/bin/env bash
# Keeps the shared build directory ($CARGO_TARGET_DIR, kept between runs so warm
# runs are fast) from filling the disk: a long-lived one grows by every build's
# incremental state and every superseded test binary (59 GB was seen, and a CI run
# then failed to link with "No space left on device").
#
# When the directory is over KESHI_TARGET_MAX_GB (default 40) or the disk has less
# than KESHI_MIN_FREE_GB free (default 15): first the incremental state goes (the
# next build recompiles the workspace's own crates, a few minutes); if that is not
# enough, the whole directory (a cold build). Prints what it did.
# Usage: scripts/prune-target.sh [DIR]
set -euo pipefail
dir="${1:-${CARGO_TARGET_DIR:?set CARGO_TARGET_DIR or give the directory}}"
[ -d "$dir" ] || exit 0
max_gb="${KESHI_TARGET_MAX_GB:-40}"
min_free_gb="${KESHI_MIN_FREE_GB:-15}"
size_gb() { du -s --block-size=1G "$dir" 2>/dev/null | awk '{print $1}'; }
free_gb() { df --output=avail --block-size=1G "$dir" | tail -1 | tr -d ' '; }
tight() { [ "$(size_gb)" -gt "$max_gb" ] || [ "$(free_gb)" -lt "$min_free_gb" ]; }
if ! tight; then
  exit 0
fi
echo "prune-target: $dir holds $(size_gb) GB, $(free_gb) GB free: removing incremental build state" >&2
rm -rf "$dir"/debug/incremental "$dir"/release/incremental
if tight; then
  echo "prune-target: still $(size_gb) GB, $(free_gb) GB free: removing the build directory (the next build is cold)" >&2
  find "$dir" -mindepth 1 -maxdepth 1 -exec rm -rf {} +
fi
echo "prune-target: now $(size_gb) GB, $(free_gb) GB free" >&2
