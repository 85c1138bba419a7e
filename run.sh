#!/usr/bin/env bash
# Keshi's main job on embedded defaults: builds the `keshi` CLI and the
# `keshi-platform` service, starts a local platform with a demo institution and
# learner, signs the learner in (enrolling this device), writes the demo course,
# replays two study sessions through the rules engine into a signed study journal
# (an attack timeline and the make-up session after it), syncs the journal to the
# platform and shows what the platform verified and credited.
# (The desktop app joins this command when its issue lands.)
# Usage: ./run.sh            (state goes to ./.keshi/)
set -euo pipefail
cd "$(dirname "$0")"
state="${KESHI_DEMO_DIR:-$PWD/.keshi}"
mkdir -p "$state"
export KESHI_HOME="${KESHI_HOME:-$state/home}"

cargo build --quiet -p keshi-cli -p keshi-platform
bin="${CARGO_TARGET_DIR:-target}/debug"
keshi="$bin/keshi"

rm -f "$state"/demo.db* "$state"/platform.db*
rm -rf "$state/platform.db.blobs"
echo "== local platform (SQLite: $state/platform.db)"
"$bin/keshi-platform" serve --db "sqlite:$state/platform.db" --listen 127.0.0.1:0 --demo \
  > "$state/platform.json" 2> "$state/platform.log" &
platform_pid=$!
trap 'kill "$platform_pid" 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  [ -s "$state/platform.json" ] && break
  sleep 0.1
done
url="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["url"])' "$state/platform.json")"
echo "platform at $url; demo learner: demo / keshi-demo-password"

$keshi login --platform "$url" --user demo --password keshi-demo-password --journal "$state/demo.db"
$keshi course demo --class-hours 2 --out "$state/demo-course.json"
echo "== session 1: tests/timelines/shanxi-2h-attacks.jsonl (seek ahead, 2x, idle, focus loss, failed capture, failed quiz)"
$keshi simulate --course "$state/demo-course.json" --profile shanxi \
  --timeline tests/timelines/shanxi-2h-attacks.jsonl --journal "$state/demo.db" --seed 8
echo "== session 2: tests/timelines/shanxi-2h-makeup.jsonl (back to what did not count)"
$keshi simulate --course "$state/demo-course.json" --profile shanxi \
  --timeline tests/timelines/shanxi-2h-makeup.jsonl --journal "$state/demo.db" --seed 8
echo "== journal"
$keshi journal verify "$state/demo.db"
$keshi journal show "$state/demo.db" | grep -E 'violation|capture_result|quiz_answered|class_hour_completed' | cut -c1-160
echo "== sync to the platform"
$keshi sync --platform "$url" --journal "$state/demo.db"
echo "== what the platform holds and credits (re-derived from the signed records)"
"$bin/keshi-platform" admin records --db "sqlite:$state/platform.db" --learner demo --json
echo
echo "The journal is $state/demo.db; try: $keshi journal show $state/demo.db"
