"""Typed schemas for every config group. YAML files in conf/ inherit them, so typos and wrong
types fail at compose time. Each field's comment says what it is for and why the default."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from omegaconf import MISSING


@dataclass
class DataFile:
    name: str = MISSING            # file name, joined to each source URL
    sha256: str = MISSING          # sha256 of the file as served OR of its gunzipped content
    role: str = MISSING            # train_images | train_labels | test_images | test_labels


@dataclass
class DatasetConfig:
    name: str = MISSING                                   # registry name, e.g. fashion_mnist
    description: str = ""                                 # shown by `trainkit datasets show`
    format: str = "idx"                                   # only the MNIST IDX format so far
    sources: List[str] = field(default_factory=list)      # ordered mirrors (fsspec URLs); first that verifies wins
    files: List[DataFile] = field(default_factory=list)   # the four IDX files with their checksums
    num_classes: int = 10                                 # labels must lie in [0, num_classes)
    validation_size: int = 5000                           # held out from the end of train, as in the Keras tutorial
    limit_train: Optional[int] = None                     # use only the first N train images (debug subsets)
    limit_test: Optional[int] = None                      # use only the first N test images
    download_timeout_s: float = 30.0                      # per-mirror timeout for remote sources


@dataclass
class ModelConfig:
    name: str = MISSING                                   # model family name, recorded in the run
    builder: str = MISSING                                # "module:function" returning a Keras 3 model
    input_shape: List[int] = field(default_factory=lambda: [28, 28])  # raw image shape; the model flattens
    hidden: List[int] = field(default_factory=lambda: [300, 100])     # Dense sizes (Keras tutorial: 300-100)
    activation: str = "relu"                              # hidden-layer activation
    dropout: float = 0.0                                  # dropout after each hidden layer, 0 disables
    num_classes: int = 10                                 # output units (softmax probabilities)


@dataclass
class CheckpointConfig:
    every_epochs: int = 1                                 # atomic checkpoint cadence; resume never loses more
    keep: int = 2                                         # how many epoch checkpoints to keep


@dataclass
class CallbackConfig:
    cls: str = MISSING                                    # "module:Class" of a keras.callbacks.Callback
    kwargs: Dict[str, Any] = field(default_factory=dict)  # constructor arguments


@dataclass
class TrainerConfig:
    epochs: int = 10                                      # full passes over the train split
    batch_size: int = 64                                  # GLOBAL batch size (split over replicas)
    optimizer: str = "adam"                               # adam | sgd | rmsprop | adamw
    learning_rate: float = 1e-3                           # Adam's usual default
    seed: int = 42                                        # seeds weights, dropout and per-epoch shuffles
    steps_per_call: int = 50                              # train steps fused into one tf.function call
    jit_compile: bool = True                              # XLA for the train step (big CPU speed-up)
    shuffle_buffer: int = 0                               # 0 = whole train split (exact per-epoch shuffle)
    scale_lr_by_world_size: bool = False                  # linear LR scaling for multi-process runs
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)
    callbacks: List[CallbackConfig] = field(default_factory=list)  # user Keras callbacks


@dataclass
class EnvironmentConfig:
    name: str = MISSING                                   # curated preset or "custom"
    python: str = "3.11"                                  # interpreter the preset was built for
    tensorflow: Optional[str] = None                      # expected TF version; checked at run start
    keras: Optional[str] = None                           # expected Keras major.minor; checked at run start
    device: str = "cpu"                                   # cpu | gpu
    requirements_file: Optional[str] = None               # custom: pip requirements recorded with the run
    env_vars: Dict[str, str] = field(default_factory=dict)  # extra variables for every worker process
    strict: bool = False                                  # true: a version mismatch fails the run


@dataclass
class ComputeConfig:
    name: str = MISSING                                   # local | slurm | ssh
    slots: int = 2                                        # worker processes this target can run at once
    wait: bool = True                                     # block and stream logs until the job ends


@dataclass
class DistributionConfig:
    name: str = MISSING                                   # single | mirrored | ...
    processes: int = 1                                    # worker processes the strategy needs


@dataclass
class WorkspaceConfig:
    root: str = MISSING                                   # where datasets, runs and models live (path or fsspec URL)


@dataclass
class RunConfig:
    experiment: str = "default"                           # runs are grouped by experiment
    resume: str = "auto"                                  # auto | never | <run id>
    tags: Dict[str, str] = field(default_factory=dict)    # free-form labels stored with the run
    snapshot_source: bool = True                          # keep git commit+diff or a source copy


@dataclass
class TrainkitConfig:
    # Groups are typed by the schema each option inherits (`defaults: [base_<group>]`), so options
    # of one group may extend its base (compute=slurm adds fields compute=local does not have).
    dataset: Any = MISSING
    model: Any = MISSING
    trainer: Any = MISSING
    environment: Any = MISSING
    compute: Any = MISSING
    distribution: Any = MISSING
    workspace: WorkspaceConfig = field(default_factory=WorkspaceConfig)
    run: RunConfig = field(default_factory=RunConfig)


GROUP_SCHEMAS = {
    "dataset": DatasetConfig,
    "model": ModelConfig,
    "trainer": TrainerConfig,
    "environment": EnvironmentConfig,
    "compute": ComputeConfig,
    "distribution": DistributionConfig,
}


def register_configs() -> None:
    """Store the schemas so YAML files can inherit them with `defaults: [base_<group>]`."""
    from hydra.core.config_store import ConfigStore

    cs = ConfigStore.instance()
    cs.store(name="base_config", node=TrainkitConfig)
    for group, schema in GROUP_SCHEMAS.items():
        cs.store(group=group, name=f"base_{group}", node=schema)
