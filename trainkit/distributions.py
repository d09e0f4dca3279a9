"""One registered description per distribution: how many processes it needs, which role each
rank plays, how many replicas split the global batch, how ranks learn their place (TF_CONFIG or
Horovod), and its compose-time checks. No TensorFlow here: the TF side is `strategy`, imported
only by workers. Launchers, topology and validation ask these objects instead of comparing names."""
from __future__ import annotations

from dataclasses import dataclass

MISSING = "???"   # omegaconf.MISSING, spelled out (no omegaconf here)


# ----------------------------------------------------------------------------- each one's typed config
@dataclass
class DistributionConfig:
    name: str = MISSING                                   # single | mirrored | multi_worker_mirrored | parameter_server | horovod


@dataclass
class MirroredConfig(DistributionConfig):
    logical_cpus: int = 2                                 # replicas on a machine without GPUs (CPU split in N logical devices)


@dataclass
class MultiWorkerMirroredConfig(DistributionConfig):
    workers: int = 2                                      # one process (and one replica) per worker
    communication: str = "auto"                           # auto | ring (collective implementation)
    compression: str = "none"                             # none | fp16 | bf16: gradients cast for the all-reduce, summed in that precision


@dataclass
class ParameterServerConfig(DistributionConfig):
    workers: int = 2                                      # processes that run the scheduled steps
    ps: int = 1                                           # processes that hold the variables
    # plus one chief process that coordinates (ClusterCoordinator) and does all writing


@dataclass
class HorovodConfig(DistributionConfig):
    processes: int = 2                                    # ranks, launched by horovodrun
    backend: str = "gloo"                                 # gloo (built by scripts/build_horovod.sh) | mpi
    cycle_time_ms: float = 0.1                            # HOROVOD_CYCLE_TIME: how often Horovod's background thread batches ready tensors (its default, 5 ms, doubled the step time of small models)
    compression: str = "none"                             # none | fp16: gradients cast to fp16 for the allreduce (Horovod's Compression.fp16; its allreduce has no bfloat16)


# ----------------------------------------------------------------------------- each one's description


@dataclass(frozen=True)
class Role:
    rank: int            # trainkit's global rank; rank 0 is the chief and does all writing
    task_type: str       # TF_CONFIG task type: chief | worker | ps
    task_index: int      # index within its task type
    server: bool = False  # runs tf.distribute.Server(...).join() until the chief is done (ps, PS workers)

    @property
    def is_chief(self) -> bool:
        return self.rank == 0


COMPRESSIONS = ("none", "fp16", "bf16")


def _compression(value, allowed=COMPRESSIONS, why: str = "") -> list[str]:
    return [] if value in allowed else \
        [f"distribution.compression: expected one of {', '.join(allowed)}{why}, got {value!r}"]


def _at_least_one(key: str, value, why: str = "") -> list[str]:
    ok = isinstance(value, int) and value >= 1
    return [] if ok else [f"distribution.{key}: expected an integer >= 1{why}, got {value!r}"]


class Distribution:
    """The default: one process, TF's default strategy."""

    name = "single"
    schema: type = DistributionConfig
    strategy = "trainkit.worker.strategies:Strategy"   # the worker-side class (imports TensorFlow)
    tf_config = False      # each process gets TF_CONFIG (the cluster and its own task)
    horovod = False        # ranks come from Horovod (horovodrun locally, a Gloo rendezvous on clusters)
    coordinated = False    # a chief schedules steps on worker processes (parameter server)

    def processes(self, cfg) -> int:
        return 1

    def roles(self, cfg) -> list[Role]:
        """The rank table; rank 0 is always the chief."""
        return [Role(r, "worker", r) for r in range(self.processes(cfg))]

    def replicas(self, cfg) -> int:
        """How many replicas the global batch is split over."""
        return self.processes(cfg)

    def check(self, cfg) -> list[str]:
        """Problems in this distribution's own settings, as 'key: expected X, got Y'."""
        return []


class Mirrored(Distribution):
    name, schema, strategy = "mirrored", MirroredConfig, "trainkit.worker.strategies:Mirrored"

    def replicas(self, cfg: MirroredConfig) -> int:
        return cfg.logical_cpus   # on GPUs: one per GPU, which only the worker sees

    def check(self, cfg: MirroredConfig) -> list[str]:
        return _at_least_one("logical_cpus", cfg.logical_cpus)


class MultiWorkerMirrored(Distribution):
    name, schema, strategy = "multi_worker_mirrored", MultiWorkerMirroredConfig, "trainkit.worker.strategies:MultiWorkerMirrored"
    tf_config = True

    def processes(self, cfg: MultiWorkerMirroredConfig) -> int:
        return cfg.workers

    def check(self, cfg: MultiWorkerMirroredConfig) -> list[str]:
        bad = [] if cfg.communication in ("auto", "ring") else \
            [f"distribution.communication: expected 'auto' or 'ring', got {cfg.communication!r}"]
        return _at_least_one("workers", cfg.workers, " (one process per worker)") + bad + _compression(cfg.compression)


class ParameterServer(Distribution):
    name, schema, strategy = "parameter_server", ParameterServerConfig, "trainkit.worker.strategies:ParameterServer"
    tf_config = coordinated = True

    def processes(self, cfg: ParameterServerConfig) -> int:
        return 1 + cfg.workers + cfg.ps   # the chief coordinates, workers run steps, ps hold variables

    def roles(self, cfg: ParameterServerConfig) -> list[Role]:
        w = cfg.workers
        return ([Role(0, "chief", 0)] + [Role(1 + i, "worker", i, True) for i in range(w)]
                + [Role(1 + w + i, "ps", i, True) for i in range(cfg.ps)])

    def replicas(self, cfg: ParameterServerConfig) -> int:
        return 1   # every scheduled step runs a whole global batch on one worker

    def check(self, cfg: ParameterServerConfig) -> list[str]:
        return (_at_least_one("workers", cfg.workers, " (parameter server needs a worker to run steps)")
                + _at_least_one("ps", cfg.ps, " (parameter server needs a ps to hold variables)"))


class Horovod(Distribution):
    name, schema, strategy = "horovod", HorovodConfig, "trainkit.worker.strategies:Horovod"
    horovod = True

    def processes(self, cfg: HorovodConfig) -> int:
        return cfg.processes

    def check(self, cfg: HorovodConfig) -> list[str]:
        bad = [] if cfg.backend in ("gloo", "mpi") else \
            [f"distribution.backend: expected 'gloo' or 'mpi', got {cfg.backend!r}"]
        if not cfg.cycle_time_ms > 0:
            bad.append(f"distribution.cycle_time_ms: expected a number of milliseconds > 0, got {cfg.cycle_time_ms!r}")
        return (_at_least_one("processes", cfg.processes) + bad
                + _compression(cfg.compression, ("none", "fp16"), " (Horovod's allreduce has no bfloat16)"))


DISTRIBUTIONS: dict[str, Distribution] = {d.name: d for d in (
    Distribution(), Mirrored(), MultiWorkerMirrored(), ParameterServer(), Horovod())}


def describe(cfg) -> Distribution:
    """The description of a distribution config (a dataclass or a plain dict with `name`)."""
    name = cfg["name"] if isinstance(cfg, dict) else cfg.name
    return DISTRIBUTIONS[name]


def typed(cfg) -> DistributionConfig:
    """A distribution config as its schema's dataclass (plain dicts come from JSON and tests)."""
    if not isinstance(cfg, dict):
        return cfg
    from .typed import from_dict

    return from_dict(describe(cfg).schema, cfg)
