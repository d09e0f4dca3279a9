"""`trainkit init DIR`: a small, working project of the user's own (configs, a model package,
.trainkitignore, README). It never overwrites a file."""
from __future__ import annotations

import importlib.util
import keyword
import os
import re
from pathlib import Path

from ..errors import UsageError

EXPERIMENT = """\
# @package _global_
# Your first experiment: Fashion-MNIST (offline, from Debian's dataset-fashion-mnist) and your model.
#   python -m trainkit +experiment=example
defaults:
  - override /dataset: fashion_mnist
  - override /model: example

run:
  experiment: example
trainer:
  epochs: 5
  batch_size: 64
  learning_rate: 0.001
"""

MODEL_CONFIG = """\
# Your model: `_target_` names the builder; every other key but `name` is its keyword argument.
# trainkit adds input_shape, num_classes and seed (when the builder takes them).
#   python -m trainkit +experiment=example model.width=256
_target_: {package}.model.build
name: example
width: 128
depth: 2
dropout: 0.1
"""

MODEL = '''\
"""A Keras 3 model builder. Import Keras inside the function: trainkit reads the signature at
compose time without running this module's imports (fast, no TensorFlow)."""


def build(input_shape, num_classes, width=128, depth=2, dropout=0.1, seed=0):
    import keras

    inputs = keras.Input(shape=tuple(input_shape), name="image")
    x = keras.layers.Rescaling(1.0 / 255.0)(inputs)      # raw pixels in; exports take raw pixels too
    x = keras.layers.Flatten()(x)
    for i in range(depth):
        x = keras.layers.Dense(width, activation="relu")(x)
        if dropout:
            x = keras.layers.Dropout(dropout, seed=seed + i)(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax", name="probabilities")(x)
    return keras.Model(inputs, outputs)
'''

IGNORE = """\
# Not part of the run's source snapshot, and not shipped to ssh hosts (fnmatch patterns).
data/
outputs/
*.ckpt
*.h5
.env
*.pem
*.key
.netrc
"""

README = """\
# {name}

A trainkit project: your configs in `conf/` (they overlay trainkit's), your models in `{package}/`.

```bash
python -m trainkit +experiment=example                 # train offline on Fashion-MNIST, register, export ONNX
python -m trainkit +experiment=example +debug=smoke    # the whole path in seconds
python -m trainkit +experiment=example model.width=256 trainer.epochs=10
trainkit runs list
trainkit models show example
```

Add a model: a builder in `{package}/` and `conf/model/<name>.yaml` with `_target_: {package}.<module>.<function>`;
then `model=<name>`. Add experiments in `conf/experiment/`. Files matching `.trainkitignore` stay out of
the run's source snapshot and are not shipped to ssh hosts.
"""


def package_name(directory: Path) -> str:
    """A Python package name for the project's models: the directory's name, made an identifier,
    unless that would shadow something importable (then `<name>_models`)."""
    name = re.sub(r"\W", "_", directory.name.lower()).strip("_") or "project"
    if name[0].isdigit():
        name = f"p_{name}"
    if keyword.iskeyword(name) or importlib.util.find_spec(name) is not None:
        name = f"{name}_models"
    return name


def init_project(directory: Path, package: str | None = None) -> list[Path]:
    """Write the project's files into `directory`; returns them. Refuses to overwrite any file."""
    directory = directory.resolve()
    package = package or package_name(directory)
    if not package.isidentifier() or keyword.iskeyword(package):
        raise UsageError(f"--package: expected a Python identifier, got {package!r}")
    files = {
        "conf/experiment/example.yaml": EXPERIMENT,
        "conf/model/example.yaml": MODEL_CONFIG.format(package=package),
        f"{package}/__init__.py": f'"""Models of the {directory.name} project."""\n',
        f"{package}/model.py": MODEL,
        ".trainkitignore": IGNORE,
        "README.md": README.format(name=directory.name, package=package),
    }
    clash = [rel for rel in files if os.path.lexists(directory / rel)]   # a dangling link counts
    if clash:
        raise UsageError(f"{directory}: expected no files of a new project there, found {', '.join(clash)} "
                         "(trainkit init never overwrites; pick another directory)")
    outside = [rel for rel in files if directory not in (directory / rel).resolve().parents]
    if outside:
        raise UsageError(f"{directory}: expected the project's folders inside it, but {', '.join(outside)} would "
                         f"land elsewhere through a symbolic link (trainkit init writes only inside the directory)")
    written = []
    for rel, text in files.items():
        path = directory / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "x") as f:    # never through a link created meanwhile
            f.write(text)
        written.append(path)
    return written
