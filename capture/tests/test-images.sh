#!/bin/sh
# Prints the directory holding scikit-image's bundled sample photographs
# (skimage/data: astronaut.png, camera.png, coffee.png, chelsea.png, rocket.jpg,
# brick.png, grass.png, lfw_subset.npy), installing scikit-image from PyPI with pip
# when it is missing. Use it as:
#
#   export KESHI_TEST_IMAGES="$(capture/tests/test-images.sh)"
#   cargo test -p keshi-capture
#
# Licences of these images: see capture/NOTICE.md.
set -eu
PY="${PYTHON:-python3}"

find_dir() {
    "$PY" -c 'import os, skimage; print(os.path.join(os.path.dirname(skimage.__file__), "data"))' 2>/dev/null
}

if ! dir="$(find_dir)"; then
    echo "test-images.sh: installing scikit-image with pip" >&2
    "$PY" -m pip install --quiet 'scikit-image>=0.21' >&2
    dir="$(find_dir)"
fi

for f in astronaut.png camera.png coffee.png chelsea.png rocket.jpg brick.png grass.png lfw_subset.npy; do
    if [ ! -f "$dir/$f" ]; then
        echo "test-images.sh: $dir/$f is missing" >&2
        exit 1
    fi
done
echo "$dir"
