#!/usr/bin/env bash
# Keshi's main job on embedded defaults: builds the desktop app (UI embedded), the
# `keshi` CLI and the `keshi-platform` service; starts a local platform (SQLite)
# with a generated demo institution and learner; renders the demo course (real
# H.264 lessons made with ffmpeg, real quiz questions) and publishes it on the
# platform; and opens the app ready to sign in as demo / keshi-demo-password — the
# app lists the course and downloads it from the platform.
#
# Usage:
#   ./run.sh                 open the app (state in ./.keshi/)
#   ./run.sh --test-camera   the same, with a camera that plays a real photo of a
#                            face (debug build only), for machines without a webcam
#   ./run.sh --replay        no window: replay two study sessions (an attack timeline
#                            and its make-up) through the rules engine, sync them and
#                            print what the platform credits
# Without a display the app runs under Xvfb for 30 s and a screenshot is saved.
set -euo pipefail
cd "$(dirname "$0")"
mode="${1:-app}"
state="${KESHI_DEMO_DIR:-$PWD/.keshi}"
mkdir -p "$state"
export KESHI_HOME="${KESHI_HOME:-$state/home}"
mkdir -p "$KESHI_HOME"
# deps.sh takes extra packages as arguments: give it none (not this script's mode).
set --
source scripts/deps.sh

# The same build as ./test.sh (same directory, features and profile): whichever
# runs first builds, the other reuses it.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/keshi/target}"
bin="$CARGO_TARGET_DIR/debug"
echo "== building the UI, keshi, keshi-platform and the app (debug, as ./test.sh builds them)"
npm run --silent ui:build >/dev/null
# `cargo test --no-run`, not `cargo build`: the test build resolves features with the
# dev-dependencies, so only this command yields the very binaries ./test.sh built.
cargo test --quiet --workspace --all-features --no-run
keshi="$bin/keshi"

rm -rf "$state"/platform.db*
rm -rf "$state/platform.db.blobs"
echo "== local platform (SQLite: $state/platform.db)"
# --replay uploads a `keshi simulate` journal: the platform accepts it only with
# --accept-simulated, and keeps its credit apart (simulated_seconds).
serve_extra=()
[ "$mode" = "--replay" ] && serve_extra=(--accept-simulated)
"$bin/keshi-platform" serve --db "sqlite:$state/platform.db" --listen 127.0.0.1:0 --demo "${serve_extra[@]}" \
  > "$state/platform.json" 2> "$state/platform.log" &
platform_pid=$!
trap 'kill "$platform_pid" 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  [ -s "$state/platform.json" ] && break
  sleep 0.1
done
url="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["url"])' "$state/platform.json")"
echo "platform at $url; demo learner: demo / keshi-demo-password"

if [ "$mode" = "--replay" ]; then
  rm -f "$state"/demo.db*
  rm -f "$state"/demo.db.simkey
  $keshi login --platform "$url" --user demo --password keshi-demo-password --journal "$state/demo.db" --simulated
  $keshi course demo --class-hours 2 --out "$state/demo-course.json"
  echo "== session 1: tests/timelines/shanxi-2h-attacks.jsonl (seek ahead, 2x, idle, focus loss, failed capture, failed quiz)"
  $keshi simulate --course "$state/demo-course.json" --profile shanxi \
    --timeline tests/timelines/shanxi-2h-attacks.jsonl --journal "$state/demo.db" --seed 8
  echo "== session 2: tests/timelines/shanxi-2h-makeup.jsonl (back to what did not count)"
  $keshi simulate --course "$state/demo-course.json" --profile shanxi \
    --timeline tests/timelines/shanxi-2h-makeup.jsonl --journal "$state/demo.db" --seed 8
  $keshi journal verify "$state/demo.db"
  echo "== sync to the platform"
  $keshi sync --platform "$url" --journal "$state/demo.db"
  echo "== what the platform holds and credits (re-derived from the signed records)"
  "$bin/keshi-platform" admin records --db "sqlite:$state/platform.db" --learner demo --json
  exit 0
fi

# The institution's side: the demo course (real H.264 lessons rendered with ffmpeg,
# the quiz bank with its answer keys) published into the platform's catalogue. The
# demo learner is enrolled in it; the app lists it and downloads it (every file
# checked against the manifest's SHA-256 before it can be played).
published="$state/institution/course.json"
if [ ! -f "$published" ]; then
  echo "== rendering the demo course (ffmpeg, H.264) into $state/institution"
  mkdir -p "$state/institution"
  $keshi course demo --class-hours 2 --class-hour-minutes 2 --render-media --out "$published"
fi
echo "== publishing it on the platform (the app downloads it after sign-in)"
"$bin/keshi-platform" admin publish-course --db "sqlite:$state/platform.db" \
  --institution "Keshi Demo Vocational Training School" --manifest "$published" \
  --media "$state/institution" --profile demo --json

if [ "$mode" = "--test-camera" ]; then
  photos="$(capture/tests/test-images.sh)"
  echo "$photos/astronaut.png" > "$state/camera.txt"
  export KESHI_TEST_CAMERA="$state/camera.txt"
  echo "test camera: plays $photos/astronaut.png (edit $state/camera.txt to change the photo)"
fi

export KESHI_PLATFORM_URL="$url"
# Software compositing in WebKitGTK costs more than a core on machines without a GPU.
export WEBKIT_DISABLE_COMPOSITING_MODE="${WEBKIT_DISABLE_COMPOSITING_MODE:-1}"
echo "== opening Keshi — sign in as demo / keshi-demo-password"
if [ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ]; then
  "$bin/keshi-app"
else
  echo "no display: running the app under Xvfb for 30 s; screenshot: $state/app.png"
  xvfb-run -a -s '-screen 0 1280x800x24' sh -c \
    "\"$bin/keshi-app\" & app=\$!; sleep 30; import -window root \"$state/app.png\"; kill \$app"
fi
