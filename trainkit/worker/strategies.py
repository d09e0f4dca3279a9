"""The worker side of each distribution (named by `trainkit.distributions`): a tf.distribute strategy
plus hooks with no-op defaults that the Trainer calls (like Keras callbacks). TensorFlow and Horovod
are imported lazily; `tf` must be first touched before anything else initialises the TF runtime."""
from __future__ import annotations

import os
from functools import cached_property
from importlib import import_module

from ..compute.hostinfo import HOROVOD_INSTALL
from ..errors import ConfigError, TrainkitError
from ..topology import WorkerEnv



class Strategy:
    """TF's default strategy: one replica, every hook a no-op."""

    jit_steps = True                     # a whole group of steps may run in one XLA call
    shard: tuple[int, int] | None = None  # (shards, index) of input pipelines TF does not know of

    def __init__(self, cfg, env: WorkerEnv):
        self.cfg, self.env = cfg, env

    @cached_property
    def tf(self):
        """The tf.distribute strategy (created once)."""
        import tensorflow as tf

        return tf.distribute.get_strategy()

    def serves(self) -> bool:
        """True for processes that only serve others (parameter-server workers and ps)."""
        return False

    def transform_grads(self, grads):
        """Gradients before they are applied (Horovod: summed over ranks)."""
        return grads

    def reduce_sums(self, sums):
        """A tensor of metric sums, summed over processes TF does not know of (Horovod)."""
        return sums

    def sync_initial_state(self, variables) -> None:
        """Make every process start from the same variables (Horovod: rank 0's)."""

    def prepare_optimizer(self, optimizer) -> None:
        """Adjust the built optimizer (MultiWorkerMirrored: its all-reduce, compressed)."""

    def steps(self, trainer):
        """The object that runs training and evaluation steps for this strategy."""
        from ..train.loop import DistributedSteps

        return DistributedSteps(trainer)


class Mirrored(Strategy):
    """One process, one replica per GPU; without GPUs the CPU is split into logical devices."""

    @cached_property
    def tf(self):
        import tensorflow as tf

        if tf.config.list_physical_devices("GPU"):
            return tf.distribute.MirroredStrategy()
        n = self.cfg.logical_cpus
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * n)
        return tf.distribute.MirroredStrategy([f"/cpu:{i}" for i in range(n)])


def wire_dtype(cfg):
    """The dtype gradients cross the network in (`distribution.compression`), or None for float32."""
    import tensorflow as tf

    return {"none": None, "fp16": tf.float16, "bf16": tf.bfloat16}[cfg.compression]


def compressed_sum(all_reduce, grads, wire):
    """`all_reduce` (a list-of-tensors sum over processes) of `grads` cast to `wire` and back: half
    the bytes on the wire, each gradient rounded to `wire` before the sum and the sum rounded too."""
    import tensorflow as tf

    live = [g for g in grads if g is not None]
    summed = iter(all_reduce([tf.cast(g, wire) for g in live]))
    return [None if g is None else tf.cast(next(summed), g.dtype) for g in grads]


class MultiWorkerMirrored(Strategy):
    """Synchronous all-reduce across processes; the cluster comes from TF_CONFIG (set per worker).

    With one replica in the whole cluster (one worker, one device) there is nothing to reduce: the
    step group is one XLA call, as under `single` (train/loop.py).

    Keras sums the replicas' gradients inside `apply_gradients` (TF's CommunicationOptions have no
    compression); with `compression` set, that sum is replaced by one over the cast gradients."""

    @property
    def jit_steps(self) -> bool:   # XLA cannot compile the cross-process collective ops inside a step
        return self.tf.num_replicas_in_sync == 1

    @cached_property
    def tf(self):
        import tensorflow as tf

        impl = tf.distribute.experimental.CommunicationImplementation
        options = tf.distribute.experimental.CommunicationOptions(
            implementation=impl.RING if self.cfg.communication == "ring" else impl.AUTO)
        return tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)

    def prepare_optimizer(self, optimizer) -> None:
        wire = wire_dtype(self.cfg)
        if wire is None or self.tf.num_replicas_in_sync == 1:
            return
        import keras
        import tensorflow as tf

        inner = getattr(optimizer, "inner_optimizer", optimizer)     # a LossScaleOptimizer's
        if not hasattr(inner, "_all_reduce_sum_gradients"):
            raise TrainkitError(f"distribution.compression={self.cfg.compression}: Keras {keras.__version__}'s "
                                f"optimizer has no _all_reduce_sum_gradients to replace; use compression=none")

        def all_reduce(tensors):
            return tf.distribute.get_replica_context().all_reduce(tf.distribute.ReduceOp.SUM, tensors)

        def reduce(grads_and_vars):
            pairs = list(grads_and_vars)
            grads = compressed_sum(all_reduce, [g for g, _ in pairs], wire)
            return [(g, v) for g, (_, v) in zip(grads, pairs)]

        inner._all_reduce_sum_gradients = reduce


class ParameterServer(Strategy):
    """A chief schedules steps (ClusterCoordinator) on workers; variables live on ps tasks.
    Workers and ps are plain tf.distribute servers that the launcher stops when the chief is done."""

    jit_steps = False

    def serves(self) -> bool:
        return not self.env.is_chief

    def serve_forever(self) -> None:
        import tensorflow as tf

        resolver = tf.distribute.cluster_resolver.TFConfigClusterResolver()
        server = tf.distribute.Server(resolver.cluster_spec(), job_name=resolver.task_type,
                                      task_index=resolver.task_id, protocol="grpc", start=True)
        print(f"{resolver.task_type} {resolver.task_id}: serving", flush=True)
        server.join()

    @cached_property
    def tf(self):
        import tensorflow as tf

        resolver = tf.distribute.cluster_resolver.TFConfigClusterResolver()
        return tf.distribute.ParameterServerStrategy(resolver)

    def steps(self, trainer):
        from ..train.ps import CoordinatedSteps

        return CoordinatedSteps(trainer)


class Horovod(Strategy):
    """Ranks from horovodrun; gradients summed with grouped_allreduce (the loss already divides by
    the global batch), rank 0's variables and optimizer slots broadcast before the first step.

    At one process there is nothing to reduce: Horovod is not even initialised (its background
    thread would share the cores for nothing; a collective would cross it once per step), and the
    whole step group is one XLA call, as under `single`."""

    def __init__(self, cfg, env: WorkerEnv):
        super().__init__(cfg, env)
        try:
            import horovod.tensorflow as hvd
        except ImportError as e:
            raise TrainkitError(f"distribution=horovod: horovod is not installed ({e}); install it with:\n"
                                f"  {HOROVOD_INSTALL}") from None
        if cfg.backend == "mpi" and not hvd.mpi_built():
            raise ConfigError(["distribution.backend: expected 'gloo' (this horovod was built without "
                               "MPI), got 'mpi'"])
        self.hvd = hvd
        self.alone = env.world_size == 1
        if self.alone:
            # Nothing to reduce or broadcast: Horovod's background thread would only share the cores.
            self.shard = (1, 0)
        else:
            os.environ["HOROVOD_CYCLE_TIME"] = str(cfg.cycle_time_ms)   # read by hvd.init()
            hvd.init()
            self.shard = (hvd.size(), hvd.rank())
        self.jit_steps = self.alone      # Horovod's collective ops cannot be compiled by XLA

    def transform_grads(self, grads):
        if self.alone:
            return grads
        wire = wire_dtype(self.cfg)
        if wire is None:
            return self.hvd.grouped_allreduce(grads, op=self.hvd.Sum)
        # what Horovod's Compression.fp16 does (cast, sum, cast back), which fails on a None gradient
        return compressed_sum(lambda ts: self.hvd.grouped_allreduce(ts, op=self.hvd.Sum), grads, wire)

    def reduce_sums(self, sums):
        return sums if self.alone else self.hvd.allreduce(sums, op=self.hvd.Sum)

    def sync_initial_state(self, variables) -> None:
        if self.alone:
            return
        # Keras 3 variables: broadcast their tf.Variable values (hvd.broadcast_variables on Keras
        # variables fails with "'Variable' object has no attribute 'ref'").
        self.hvd.broadcast_variables([v.value for v in variables], root_rank=0)


def get_strategy(cfg, env: WorkerEnv) -> Strategy:
    """The strategy object of a distribution config (its class is named by the distribution)."""
    from ..distributions import DISTRIBUTIONS

    if cfg.name not in DISTRIBUTIONS:
        raise ConfigError([f"distribution.name: expected one of {sorted(DISTRIBUTIONS)}, got {cfg.name!r}"])
    module, _, name = DISTRIBUTIONS[cfg.name].strategy.partition(":")
    return getattr(import_module(module), name)(cfg, env)
