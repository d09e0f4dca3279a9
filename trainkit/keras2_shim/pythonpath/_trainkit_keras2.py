"""Keras 2 for a Keras 2-era script on tf_keras (trainkit's environment.keras "2"), installed at
start-up by sitecustomize.py in this folder. Nothing is imported until the script imports Keras.

What it changes, and only that (each one fails with tf_keras 2.21 as installed):
- `import keras`, `from keras.layers import Dense`, `keras.optimizers.RMSprop` ... are tf_keras's
  (otherwise Keras 3 is found); `keras.utils.np_utils` (gone from the public API since Keras 2.6)
  is tf_keras's own np_utils.
- The optimizers take Keras 2's `lr=` as `learning_rate=` (tf_keras logs a warning and trains with
  the default rate instead) and `decay=` as the Keras 2 optimizers computed it,
  lr / (1 + decay * iterations) (tf_keras refuses it); each such call prints one warning line.
This file is its own module (no trainkit import): the script's interpreter may be any one with
tf_keras installed."""
import functools
import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import inspect
import os
import sys

NP_UTILS = "tf_keras.src.utils.np_utils"
# Keras 2 module names tf_keras moved (`from keras.utils import np_utils` asks for tf_keras.utils.np_utils)
MOVED = {"keras.utils.np_utils": NP_UTILS, "tf_keras.utils.np_utils": NP_UTILS}
OPTIMIZERS = "tf_keras.src.optimizers"                           # imports every optimizer class


def target(name: str) -> str:
    """The tf_keras module a `keras` module name stands for."""
    return MOVED.get(name) or "tf_keras" + name[len("keras"):]


class KerasIsTfKeras(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """`keras` and every `keras.X` are tf_keras and tf_keras.X: the same module objects (one class
    per layer, whichever name imported it)."""

    def find_spec(self, name, path=None, target_module=None):
        if name == "keras" or name.startswith("keras.") or name in MOVED:
            return importlib.util.spec_from_loader(name, self)
        return None

    def create_module(self, spec):
        try:
            module = importlib.import_module(target(spec.name))
        except ModuleNotFoundError as e:
            raise ModuleNotFoundError(f"No module named {spec.name!r} (Keras 2 is tf_keras here: "
                                      f"{e.msg})", name=spec.name) from None
        spec.loader_state = module.__spec__   # the import system sets module.__spec__ to ours: put it back
        return module

    def exec_module(self, module):
        module.__spec__ = module.__spec__.loader_state


class AfterImport(importlib.abc.MetaPathFinder):
    """Runs `then(module)` right after the module `name` was executed."""

    def __init__(self, name, then):
        self.name, self.then = name, then

    def find_spec(self, name, path=None, target_module=None):
        if name != self.name:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is not None and spec.loader is not None:
            load = spec.loader.exec_module

            def exec_module(module):
                load(module)
                self.then(module)

            spec.loader.exec_module = exec_module
        return spec


def keras2_learning_rate(name, given, default, lr=None, decay=None, schedule=None):
    """The learning rate a Keras 2 optimizer call meant: `given` (learning_rate=, or the first
    positional argument; None if neither), else `lr`, else the class's `default`; with a non-zero
    `decay`, `schedule(rate, decay)` (lr / (1 + decay * step)). Prints one warning line."""
    if lr is not None and given is not None and given != lr:
        raise TypeError(f"{name}: got lr={lr!r} and learning_rate={given!r}; expected one of them")
    rate = lr if lr is not None else (given if given is not None else default)
    said = [f"lr={lr!r} as learning_rate={lr!r}"] if lr is not None else []
    if decay:
        if callable(rate):
            raise ValueError(f"{name}: got decay={decay!r} with a learning-rate schedule; expected a number "
                             "learning rate with decay (or the schedule alone)")
        rate = schedule(rate, decay)
        said.append(f"decay={decay!r} as learning_rate / (1 + {decay!r} * iterations)")
    elif decay is not None:
        said.append(f"decay={decay!r} (no decay)")
    print(f"trainkit (environment.keras=2): {name}: {'; '.join(said)}, as Keras 2 did", file=sys.stderr, flush=True)
    return rate


def inverse_time_decay(rate, decay):
    """What Keras 2's optimizers did with `decay`: rate / (1 + decay * iterations)."""
    from tf_keras.optimizers.schedules import InverseTimeDecay

    return InverseTimeDecay(rate, decay_steps=1, decay_rate=decay)


def taking_lr_and_decay(init, name):
    """An optimizer's __init__ that also takes Keras 2's `lr` and `decay` keywords."""
    param = inspect.signature(init).parameters.get("learning_rate")
    default = param.default if param is not None else 0.001

    @functools.wraps(init)
    def __init__(self, *args, **kwargs):
        if "lr" in kwargs or "decay" in kwargs:
            given = args[0] if args else kwargs.pop("learning_rate", None)
            kwargs["learning_rate"] = keras2_learning_rate(name, given, default, kwargs.pop("lr", None),
                                                           kwargs.pop("decay", None), inverse_time_decay)
            args = args[1:]
        init(self, *args, **kwargs)

    __init__.trainkit_keras2 = True
    return __init__


def subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from subclasses(sub)


def accept_keras2_arguments(optimizers) -> None:
    """Every tf_keras optimizer class (the new ones; the legacy ones take lr and decay already)."""
    for cls in set(subclasses(optimizers.base_optimizer.Optimizer)):
        init = vars(cls).get("__init__")
        if init is not None and not getattr(init, "trainkit_keras2", False):
            cls.__init__ = taking_lr_and_decay(init, cls.__name__)


def install() -> None:
    """The import hooks, first on sys.meta_path (once)."""
    if not any(isinstance(f, KerasIsTfKeras) for f in sys.meta_path):
        sys.meta_path[:0] = [KerasIsTfKeras(), AfterImport(OPTIMIZERS, accept_keras2_arguments)]


def run_next_sitecustomize(here: str) -> None:
    """The sitecustomize module this folder's hides (later on sys.path), if any."""
    folder = os.path.dirname(os.path.abspath(here))
    rest = [p for p in sys.path if os.path.abspath(p or os.curdir) != folder]
    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", rest)
    if spec is not None and spec.loader is not None:
        spec.loader.exec_module(importlib.util.module_from_spec(spec))
