#!/bin/sh
# Prints a directory of labelled face photos for the face-verification tests (issue 14),
# fetching them at test-setup time from the packages that ship them -- never at app run
# time:
#   * PyPI face_recognition 1.3.0 (sdist): tests/test_images/{obama,obama2,obama3,biden,
#     obama_partial_face,obama_partial_face2}.jpg
#   * npm @vladmandic/face-api 1.7.15: demo/sample1..6.jpg (group photos)
# and writes labels.csv (file,identity) beside them. Use it as:
#
#   export KESHI_FACE_IMAGES="$(capture/tests/face-images.sh)"
#   cargo test -p keshi-capture --features face-verify
#
# The photos are not redistributed in the repository (provenance and licences in
# capture/NOTICE.md); each file's SHA-256 is checked here. The cache directory is
# $KESHI_FACE_CACHE, else ~/.cache/keshi/face-images.
set -eu
PY="${PYTHON:-python3}"
FR_VERSION=1.3.0
FACE_API_VERSION=1.7.15
CACHE="${KESHI_FACE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/keshi/face-images}"

SUMS='3c17508bb91554c637a2eabddfae790e5bb1caba93130814fc2ac50be9760c4c  biden.jpg
0930e3aa8cae5920329c0c8cbc6a2ab70f47b0e67b432875beaa95cbf7e741f6  obama.jpg
a7efcc907375274796f39646510704aa86672d59f6d5469d69af3c85590976a6  obama2.jpg
76ac6bf97c36dc2da0ad16a537d6a5ac1b10f48d49aac29a0cca9a17cdbc3ca3  obama3.jpg
c2d1f09e7ef3042352b41e41286e6eb0522f64f88308be13886991b95db52117  obama_partial_face.jpg
9a812347f97633542b8cd9992de22def11b74f79d82056bc3ee830f13878e028  obama_partial_face2.jpg
8ecae4b267b2d3169e06e00c7dee97097aa2a94635d45216f7732a5f4943cb51  faceapi_sample1.jpg
7d2b60ae6f13bf30f422e04df87451081a02c83de469056f25afb44b7000c691  faceapi_sample2.jpg
8eb081c9efb14370fa94d9feab9e5fbeafd19a627491853a80c2bf67f7ffa936  faceapi_sample3.jpg
729efa5923061d40eb4ed5f267a18cc7b8ba6f852bb2757b16d8b7e4937476fc  faceapi_sample4.jpg
6d45095ebb182d8f975c0790e0e4eefd86fbb40609cf4b271776d92e12662938  faceapi_sample5.jpg
9baad80f9d5e306fb9b8c0913d44445f1e95848df317530efb03d0934c57ba87  faceapi_sample6.jpg'

if ! (cd "$CACHE" 2>/dev/null && echo "$SUMS" | sha256sum -c --quiet - >/dev/null 2>&1); then
    echo "face-images.sh: fetching face_recognition $FR_VERSION (PyPI) and @vladmandic/face-api $FACE_API_VERSION (npm)" >&2
    tmp="$(mktemp -d)"
    trap 'rm -rf "$tmp"' EXIT INT TERM
    "$PY" -m pip download --quiet --disable-pip-version-check --no-deps --no-binary :all: \
        "face_recognition==$FR_VERSION" -d "$tmp" >&2
    tar xzf "$tmp/face_recognition-$FR_VERSION.tar.gz" -C "$tmp"
    (cd "$tmp" && npm pack --silent "@vladmandic/face-api@$FACE_API_VERSION" >/dev/null)
    mkdir -p "$tmp/fa" "$tmp/out"
    tar xzf "$tmp/vladmandic-face-api-$FACE_API_VERSION.tgz" -C "$tmp/fa"
    for f in obama obama2 obama3 biden obama_partial_face obama_partial_face2; do
        cp "$tmp/face_recognition-$FR_VERSION/tests/test_images/$f.jpg" "$tmp/out/"
    done
    for i in 1 2 3 4 5 6; do
        cp "$tmp/fa/package/demo/sample$i.jpg" "$tmp/out/faceapi_sample$i.jpg"
    done
    (cd "$tmp/out" && echo "$SUMS" | sha256sum -c --quiet -) >&2
    mkdir -p "$CACHE"
    cp "$tmp/out/"*.jpg "$CACHE/"
fi

# Identities: the four portraits (face_recognition's own labels), the two partial faces
# of Obama (expected to be skipped by the quality gate), and the largest face of each
# face-api group photo (unnamed people; six different photo sessions).
cat >"$CACHE/labels.csv" <<'EOF'
file,identity
obama.jpg,obama
obama2.jpg,obama
obama3.jpg,obama
biden.jpg,biden
obama_partial_face.jpg,obama
obama_partial_face2.jpg,obama
faceapi_sample1.jpg,faceapi_sample1
faceapi_sample2.jpg,faceapi_sample2
faceapi_sample3.jpg,faceapi_sample3
faceapi_sample4.jpg,faceapi_sample4
faceapi_sample5.jpg,faceapi_sample5
faceapi_sample6.jpg,faceapi_sample6
EOF
echo "$CACHE"
