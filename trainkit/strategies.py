"""Distribution strategies, looked up by name. Each wraps a tf.distribute strategy plus the hooks
the trainer needs (gradient reduction, initial sync, sharding, metric reduction). TensorFlow and
Horovod are imported lazily; `tf_strategy()` must run before anything else initialises TF."""
from __future__ import annotations

from typing import Callable

from .errors import ConfigError, TrainkitError
from .topology import WorkerEnv

HOROVOD_INSTALL = "bash scripts/build_horovod.sh   (builds horovod 0.28.1 against the installed TensorFlow)"


class Strategy:
    """Base: the default (single-device) tf.distribute strategy, no hooks."""

    jit_ok = True                                  # XLA may compile the train step
    grad_transform: Callable | None = None         # Horovod: allreduce of gradients
    sync_initial_state: Callable | None = None     # Horovod: broadcast rank 0's variables
    reduce_sums: Callable | None = None            # Horovod: sum metric tensors over ranks
    shard: tuple[int, int] | None = None           # (shards, index) when TF does not know them
    coordinated = False                            # parameter server: steps go through ClusterCoordinator

    def __init__(self, cfg: dict, env: WorkerEnv):
        self.cfg, self.env = cfg, env

    def tf_strategy(self):
        import tensorflow as tf

        return tf.distribute.get_strategy()


class Single(Strategy):
    pass


class Mirrored(Strategy):
    """One process, one replica per GPU; without GPUs the CPU is split into logical devices."""

    def tf_strategy(self):
        import tensorflow as tf

        if tf.config.list_physical_devices("GPU"):
            return tf.distribute.MirroredStrategy()
        n = int(self.cfg["logical_cpus"])
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * n)
        return tf.distribute.MirroredStrategy([f"/cpu:{i}" for i in range(n)])


class MultiWorkerMirrored(Strategy):
    """Synchronous all-reduce across processes; the cluster comes from TF_CONFIG (set per worker)."""

    jit_ok = False   # XLA cannot compile the cross-process collective ops inside the step

    def tf_strategy(self):
        import tensorflow as tf

        impl = tf.distribute.experimental.CommunicationImplementation
        options = tf.distribute.experimental.CommunicationOptions(
            implementation=impl.RING if self.cfg.get("communication") == "ring" else impl.AUTO)
        return tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)


class ParameterServer(Strategy):
    """A chief schedules steps (ClusterCoordinator) on workers; variables live on ps tasks.
    Workers and ps are plain tf.distribute servers that the launcher stops when the chief is done."""

    jit_ok = False
    coordinated = True

    def serve_forever(self) -> None:
        import tensorflow as tf

        resolver = tf.distribute.cluster_resolver.TFConfigClusterResolver()
        server = tf.distribute.Server(resolver.cluster_spec(), job_name=resolver.task_type,
                                      task_index=resolver.task_id, protocol="grpc", start=True)
        print(f"{resolver.task_type} {resolver.task_id}: serving", flush=True)
        server.join()

    def tf_strategy(self):
        import tensorflow as tf

        resolver = tf.distribute.cluster_resolver.TFConfigClusterResolver()
        return tf.distribute.ParameterServerStrategy(resolver)


class Horovod(Strategy):
    """Ranks from horovodrun; gradients summed with grouped_allreduce (the loss already divides by
    the global batch), rank 0's variables and optimizer slots broadcast before the first step."""

    jit_ok = False   # Horovod's collective ops cannot be compiled by XLA

    def __init__(self, cfg: dict, env: WorkerEnv):
        super().__init__(cfg, env)
        try:
            import horovod.tensorflow as hvd
        except ImportError as e:
            raise TrainkitError(f"distribution=horovod: horovod is not installed ({e}); install it with:\n"
                                f"  {HOROVOD_INSTALL}") from None
        if cfg.get("backend") == "mpi" and not hvd.mpi_built():
            raise ConfigError(["distribution.backend: expected 'gloo' (this horovod was built without "
                               "MPI), got 'mpi'"])
        hvd.init()
        self.hvd = hvd
        self.shard = (hvd.size(), hvd.rank())

    def grad_transform(self, grads):
        return self.hvd.grouped_allreduce(grads, op=self.hvd.Sum)

    def reduce_sums(self, values):
        import tensorflow as tf

        return self.hvd.allreduce(tf.stack(values), op=self.hvd.Sum)

    def sync_initial_state(self, variables) -> None:
        # Keras 3 variables: broadcast their tf.Variable values (hvd.broadcast_variables on Keras
        # variables fails with "'Variable' object has no attribute 'ref'").
        self.hvd.broadcast_variables([v.value for v in variables], root_rank=0)


STRATEGIES: dict[str, type[Strategy]] = {
    "single": Single,
    "mirrored": Mirrored,
    "multi_worker_mirrored": MultiWorkerMirrored,
    "parameter_server": ParameterServer,
    "horovod": Horovod,
}


def get_strategy(cfg: dict, env: WorkerEnv) -> Strategy:
    try:
        cls = STRATEGIES[cfg["name"]]
    except KeyError:
        raise ConfigError([f"distribution.name: expected one of {sorted(STRATEGIES)}, "
                           f"got {cfg['name']!r}"]) from None
    return cls(cfg, env)
