"""Distribution strategies, looked up by name. Each wraps a tf.distribute strategy plus the hooks
the trainer needs (gradient reduction, a post-first-step sync). TensorFlow is imported lazily."""
from __future__ import annotations

from typing import Callable

from .errors import ConfigError
from .topology import WorkerEnv


class Strategy:
    """Base: the default (single-device) tf.distribute strategy."""

    def __init__(self, cfg: dict, env: WorkerEnv):
        self.cfg, self.env = cfg, env

    def tf_strategy(self):
        import tensorflow as tf

        return tf.distribute.get_strategy()

    grad_transform: Callable | None = None        # e.g. Horovod's allreduce of gradients
    sync_initial_state: Callable | None = None    # e.g. Horovod: broadcast rank 0 variables


class Single(Strategy):
    pass


STRATEGIES: dict[str, type[Strategy]] = {"single": Single}


def get_strategy(cfg: dict, env: WorkerEnv) -> Strategy:
    try:
        cls = STRATEGIES[cfg["name"]]
    except KeyError:
        raise ConfigError([f"distribution.name: expected one of {sorted(STRATEGIES)}, "
                           f"got {cfg['name']!r}"]) from None
    return cls(cfg, env)
