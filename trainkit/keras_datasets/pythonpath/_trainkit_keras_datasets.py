"""`keras.datasets.<name>.load_data()` in a trainkit run's script, installed at start-up by
sitecustomize.py in this folder. Nothing is imported until the script imports Keras.

When Keras 3 (`keras.src.datasets.<name>`) or tf_keras (`tf_keras.src.datasets.<name>`) defines a
loader, its `load_data` is replaced before any public name (`keras.datasets.mnist`,
`tf.keras.datasets.mnist`) is bound to it:
- a loader named in entry.keras_datasets ($TRAINKIT_KERAS_DATASETS) returns the trainkit
  dataset's arrays, prepared by the worker as an .npz in Keras's shapes and dtypes;
- any other calls Keras's own, and a download that fails (no network) raises one short error
  naming the URL and entry.keras_datasets, instead of a long chain of tracebacks.
This file is its own module (no trainkit import): the script's interpreter may be any one."""
import functools
import importlib.abc
import importlib.machinery
import importlib.util
import json
import os
import re
import sys

ENV = "TRAINKIT_KERAS_DATASETS"
NAMES = ("mnist", "fashion_mnist", "cifar10", "cifar100", "imdb", "reuters", "boston_housing",
         "california_housing")
MODULES = {f"{top}.src.datasets.{name}": name for top in ("keras", "tf_keras") for name in NAMES}
URL = re.compile(r"(https?://[^\s:]+(?::\d+)?[^\s:]*)")
_said: set = set()   # loaders whose answer was announced in this process


class KerasDatasetOffline(ConnectionError):
    """A Keras loader needed the network and there was none (an OSError, as Keras's own failure)."""


def mapped() -> dict:
    try:
        return json.loads(os.environ.get(ENV) or "{}")
    except ValueError:
        return {}


def from_trainkit(name: str, entry: dict, label_mode: str | None):
    import numpy as np

    if label_mode not in (None, "fine"):
        raise ValueError(f"keras.datasets.{name}.load_data(label_mode={label_mode!r}): trainkit dataset "
                         f"{entry['dataset']} (entry.keras_datasets.{name}) has one label per image; expected "
                         "label_mode='fine'")
    with np.load(entry["path"], allow_pickle=False) as f:
        arrays = {k: f[k] for k in ("x_train", "y_train", "x_test", "y_test")}
    if name not in _said:
        _said.add(name)
        print(f"trainkit: keras.datasets.{name}.load_data() answered by trainkit dataset {entry['dataset']} "
              f"(entry.keras_datasets): {len(arrays['x_train'])} train, {len(arrays['x_test'])} test",
              file=sys.stderr, flush=True)
    return (arrays["x_train"], arrays["y_train"]), (arrays["x_test"], arrays["y_test"])


def offline_error(name: str, error: BaseException):
    """The short error for a failed download, or None when `error` is not one."""
    text = str(error)
    if "URL fetch failure" not in text and not isinstance(error, (OSError, ConnectionError)):
        return None
    found = URL.search(text)
    if found is None:
        return None
    url = found.group(1).rstrip(".,;")
    reason = text.split(" -- ")[-1].strip() if " -- " in text else type(error).__name__
    return KerasDatasetOffline(
        f"keras.datasets.{name}.load_data(): could not download {url} ({reason}). In a trainkit run, answer it "
        f"offline from a trainkit dataset: entry.keras_datasets={{{name}: DATASET}} (a dataset of Keras's "
        f"{name} shapes, e.g. entry.keras_datasets={{{name}: {name}}})")


def answering(name: str, original):
    """`load_data` for loader `name`: the trainkit dataset when mapped, else Keras's own."""

    @functools.wraps(original)
    def load_data(*args, **kwargs):
        entry = mapped().get(name)
        if entry is not None:
            return from_trainkit(name, entry, kwargs.get("label_mode", args[0] if args else None))
        try:
            return original(*args, **kwargs)
        except Exception as e:   # noqa: BLE001 - only a failed download is rephrased; anything else is re-raised as is
            short = offline_error(name, e)
            if short is None:
                raise
        raise short

    load_data.trainkit = True
    return load_data


class PatchLoaders(importlib.abc.MetaPathFinder):
    """Replaces `load_data` right after a Keras dataset module was executed."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname not in MODULES:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is not None and spec.loader is not None and hasattr(spec.loader, "exec_module"):
            load = spec.loader.exec_module

            def exec_module(module):
                load(module)
                original = getattr(module, "load_data", None)
                if original is not None and not getattr(original, "trainkit", False):
                    module.load_data = answering(MODULES[fullname], original)

            spec.loader.exec_module = exec_module
        return spec


def install() -> None:
    """The import hook, first on sys.meta_path (once)."""
    if not any(isinstance(f, PatchLoaders) for f in sys.meta_path):
        sys.meta_path.insert(0, PatchLoaders())


def run_next_sitecustomize(here: str) -> None:
    """The sitecustomize module found after this folder on sys.path, if any (only after it: a
    folder before it, such as environment.keras "2"'s, already ran and runs this one)."""
    folder = os.path.dirname(os.path.abspath(here))
    paths = [os.path.abspath(p or os.curdir) for p in sys.path]
    rest = sys.path[paths.index(folder) + 1:] if folder in paths else []
    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", rest)
    if spec is not None and spec.loader is not None:
        spec.loader.exec_module(importlib.util.module_from_spec(spec))
