#!/usr/bin/env bash
# Installs everything trainkit needs on a fresh Debian 12 machine (run as root or with sudo):
# Debian packages (real Fashion-MNIST for offline use, venv support, a C++ toolchain for Horovod,
# the ssh/rsync clients for compute=ssh, Chromium and its driver for the dashboard's browser tests),
# then a .venv with trainkit (its dev, docs and ray extras) and Horovod. The test clusters (a one-node
# Slurm, sshd hosts, a two-node Ray cluster) are started by scripts/cluster/*.sh when tests need them.
# Idempotent: a second run only checks.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null; then SUDO=sudo; fi
APT_PACKAGES="dataset-fashion-mnist python3-venv python3-pip git cmake g++ make openssh-client rsync iproute2 procps chromium chromium-driver"
missing=""
for p in $APT_PACKAGES; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
if [ -n "$missing" ]; then
  echo "setup: apt-get install$missing"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/dev/null
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv with $($PY --version)"
  "$PY" -m venv .venv
fi
stamp=.venv/.trainkit-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ setup.py -nt "$stamp" ]; then   # setup.py: trainkit_azureml.pth
  echo "setup: pip install -e '.[dev,docs]' (TensorFlow is ~600 MB the first time)"
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e '.[dev,docs]'
  touch "$stamp"
fi
# trainkit is installed editable, so pip compiled none of it; with PYTHONDONTWRITEBYTECODE set (as on
# the 2-core machines it was measured on) every process compiles it from source again (0.4 s of CPU
# each). Up to date: a no-op.
.venv/bin/python -m compileall -q trainkit hydra_plugins >/dev/null
# Horovod 0.28.1 is built from source against the installed TensorFlow (wheel cached in .cache/wheels).
bash scripts/build_horovod.sh
# The tf-keras wheel for the installed TensorFlow (environment.keras "2" builds its environment with it),
# cached beside Horovod's so that Keras 2 environments build offline. Cached already: a no-op.
CACHE=${TRAINKIT_WHEEL_CACHE:-$PWD/.cache/wheels}
tf_minor=$(.venv/bin/python -c "import importlib.metadata as m; print(next(('.'.join(d.version.split('.')[:2]) for d in m.distributions() if (d.metadata['Name'] or '').lower().replace('_', '-') in ('tensorflow', 'tensorflow-cpu')), ''))")
if [ -n "$tf_minor" ] && ! ls "$CACHE"/tf_keras-"$tf_minor".*-py3-none-any.whl >/dev/null 2>&1; then
  echo "setup: caching the tf-keras $tf_minor wheel in $CACHE (Keras 2 environments, offline)"
  mkdir -p "$CACHE"
  .venv/bin/python -m pip download -q --no-deps -d "$CACHE" "tf-keras~=$tf_minor.0"
fi
# The full MLflow (its `mlflow server`) in an environment of its own: the export tests start a real
# tracking server from it. trainkit's .venv has the client only (mlflow-skinny, the dev extra); the
# server's pins (pyarrow, Flask...) stay out of it. Built once (.ready), offline afterwards.
MLFLOW_SERVER=.cache/mlflow-server
if [ ! -f "$MLFLOW_SERVER/.ready" ]; then
  echo "setup: building $MLFLOW_SERVER (the MLflow tracking server the export tests start)"
  rm -rf "$MLFLOW_SERVER"
  .venv/bin/uv venv -q --python "$(.venv/bin/python -c 'import sys; print(sys._base_executable)')" "$MLFLOW_SERVER"
  .venv/bin/uv pip install -q --python "$MLFLOW_SERVER/bin/python" "mlflow>=3.5,<4"
  touch "$MLFLOW_SERVER/.ready"
fi
.venv/bin/python -c "import tensorflow as tf, keras, hydra; print(f'setup: ok (tensorflow {tf.__version__}, keras {keras.__version__}, hydra {hydra.__version__})')" 2>/dev/null \
  | grep -v -i warning || true
