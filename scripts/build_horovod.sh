#!/usr/bin/env bash
# Builds Horovod 0.28.1 (Gloo, TensorFlow, no MPI) against the TensorFlow in .venv and installs it.
# Horovod's last release predates TF 2.21; two documented fixes make it build:
#   1. drop xla_mpi_ops.cc from horovod/tensorflow/CMakeLists.txt (its XLA headers moved; GPU-XLA only)
#   2. put TF's bundled highwayhash headers on CPATH.
# The wheel is cached in .cache/wheels (or $TRAINKIT_WHEEL_CACHE): only the first run compiles
# (about 6 minutes on 2 cores). Needs cmake and g++ (scripts/setup.sh installs them).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
VERSION=0.28.1
CACHE=${TRAINKIT_WHEEL_CACHE:-$PWD/.cache/wheels}

if "$PY" -c "import horovod.tensorflow" >/dev/null 2>&1; then
  echo "horovod: $("$PY" -c 'import horovod; print(horovod.__version__)') already installed"
  exit 0
fi
mkdir -p "$CACHE"
wheel=$(ls "$CACHE"/horovod-$VERSION-*.whl 2>/dev/null | head -1 || true)
if [ -z "$wheel" ]; then
  echo "horovod: building $VERSION from source against $("$PY" -c 'import tensorflow as tf; print("tensorflow", tf.__version__)' 2>/dev/null) (takes a few minutes)"
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  "$PY" -m pip download -q --no-deps --no-binary :all: "horovod==$VERSION" -d "$work"
  tar -xzf "$work"/horovod-$VERSION.tar.gz -C "$work"
  src="$work/horovod-$VERSION"
  sed -i '/xla_mpi_ops.cc/d' "$src/horovod/tensorflow/CMakeLists.txt"
  tf_include=$("$PY" -c 'import tensorflow as tf; print(tf.sysconfig.get_include())' 2>/dev/null)
  export CPATH="$tf_include/external/highwayhash${CPATH:+:$CPATH}"
  "$PY" -m pip install -q cloudpickle psutil pyyaml packaging cffi
  HOROVOD_WITH_TENSORFLOW=1 HOROVOD_WITH_GLOO=1 HOROVOD_WITHOUT_MPI=1 HOROVOD_WITHOUT_PYTORCH=1 \
    HOROVOD_WITHOUT_MXNET=1 MAKEFLAGS="-j$(nproc)" \
    "$PY" -m pip wheel -q --no-build-isolation --no-deps -w "$CACHE" "$src"
  wheel=$(ls "$CACHE"/horovod-$VERSION-*.whl | head -1)
fi
"$PY" -m pip install -q "$wheel"
"$PY" -c "import horovod.tensorflow as hvd; print('horovod:', __import__('horovod').__version__, 'gloo built:', hvd.gloo_built())" 2>/dev/null
