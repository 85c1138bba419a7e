#!/usr/bin/env bash
# Keshi's main job on embedded defaults: builds the `keshi` CLI, writes the demo
# course, replays an honest class hour and an attack timeline through the rules
# engine into a signed study journal, verifies the journal and prints what counted.
# (The desktop app and the local platform join this command as their issues land.)
# Usage: ./run.sh            (state goes to ./.keshi/)
set -euo pipefail
cd "$(dirname "$0")"
state="${KESHI_DEMO_DIR:-$PWD/.keshi}"
mkdir -p "$state"
export KESHI_HOME="${KESHI_HOME:-$state/home}"

cargo build --quiet -p keshi-cli
keshi="${CARGO_TARGET_DIR:-target}/debug/keshi"

$keshi course demo --class-hours 2 --out "$state/demo-course.json"
rm -f "$state/demo.db" "$state/demo.db.head" "$state/demo.db-wal" "$state/demo.db-shm"
echo "== session 1: tests/timelines/shanxi-2h-attacks.jsonl (seek ahead, 2x, idle, focus loss, failed capture, failed quiz)"
$keshi simulate --course "$state/demo-course.json" --profile shanxi \
  --timeline tests/timelines/shanxi-2h-attacks.jsonl --journal "$state/demo.db" --seed 8
echo "== session 2: tests/timelines/shanxi-2h-makeup.jsonl (back to what did not count)"
$keshi simulate --course "$state/demo-course.json" --profile shanxi \
  --timeline tests/timelines/shanxi-2h-makeup.jsonl --journal "$state/demo.db" --seed 8
echo "== journal"
$keshi journal verify "$state/demo.db"
$keshi journal show "$state/demo.db" | grep -E 'violation|capture_result|quiz_answered|class_hour_completed' | cut -c1-160
echo
echo "The journal is $state/demo.db; try: $keshi journal show $state/demo.db"
