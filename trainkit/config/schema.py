"""Typed schemas for every config group. YAML files in conf/ inherit them, so typos and wrong
types fail at compose time. Each field's comment says what it is for and why the default; this is
the one home of every default (a compute target's keys are its backend's, `trainkit/compute/*.py`;
a distribution's, `trainkit/distributions.py`). Workers get the same dataclasses back with `load()`
(no Hydra); `config/store.py` registers them with Hydra."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from ..typed import MISSING, from_dict

__all__ = ["MISSING", "from_dict", "load"]


@dataclass
class DataFile:
    name: str = MISSING            # file name (or directory name ending in '/'), joined to each source URL
    sha256: Optional[str] = MISSING  # of the file as served OR of its gunzipped content; null = record on first fetch
    role: str = MISSING            # which part of the data it is (idx: train_images | train_labels | ...)


@dataclass
class DatasetConfig:
    name: str = MISSING                                   # registry name, e.g. fashion_mnist
    version: Optional[int] = None                         # pin a registered version: train on exactly its files (null = what the sources hold now)
    offline: str = "fallback"                             # fallback | error: sources all unreachable (unpinned): train on the newest registered version in the cache, with a warning | fail
    description: str = ""                                 # shown by `trainkit datasets show`
    format: str = "idx"                                   # idx | npz | csv | parquet | image_folder | tfrecord | custom
    sources: List[str] = field(default_factory=list)      # ordered mirrors (fsspec URLs); first that verifies wins
    files: List[DataFile] = field(default_factory=list)   # files, directories (name/) or globs, with their checksums
    num_classes: Optional[int] = None                     # classification labels lie in [0, num_classes); null = regression (image folders: from the folders)
    label: Optional[str] = None                           # csv/parquet/tfrecord: the label column or feature
    features: Optional[List[str]] = None                  # csv/parquet/tfrecord: input columns; null = all but the label
    feature_spec: Dict[str, Any] = field(default_factory=dict)  # tfrecord: {feature: {dtype, shape, encoding}}
    image_size: Optional[List[int]] = None                # image_folder: [height, width] to resize to; null = as stored
    color: str = "rgb"                                    # image_folder: rgb | grayscale
    x_key: str = "x"                                      # npz: the array of examples
    y_key: str = "y"                                      # npz: the array of labels
    loader: Optional[str] = None                          # format=custom: "module:function" reading the files (your project)
    loader_args: Dict[str, Any] = field(default_factory=dict)  # format=custom: keyword arguments of the loader
    in_memory: str = "auto"                               # auto | true | false (false = stream from the cached files)
    memory_fraction: float = 0.25                         # auto: stream when decoded data exceeds this share of RAM
    validation_size: Optional[int] = None                 # take the last N train examples for validation (Keras tutorial style)
    validation_fraction: float = 0.1                      # else this share of train, picked by a seeded hash of the index
    test_fraction: float = 0.2                            # without test files: this share of train becomes the test split
    split_seed: int = 0                                   # seeds the hash of the fraction splits
    limit_train: Optional[int] = None                     # use only the first N train examples (debug subsets)
    limit_test: Optional[int] = None                      # use only the first N test examples
    path: str = "<dataset.path>"                          # scripts: resolved on each worker to a folder of the verified files (as_mount())
    download_timeout_s: float = 30.0                      # per-request timeout for remote sources
    download_deadline_s: float = 3600.0                   # a mirror must deliver a whole file within this
    max_file_mb: float = 20000.0                          # refuse files (and gunzipped content) larger than this
    max_compression_ratio: float = 200.0                  # npz members and Parquet files expanding more than this are refused (bombs)
    max_image_pixels: int = 25_000_000                    # image_folder (and predict): images declaring more pixels are refused

    @property
    def fmt(self):
        """The format object (trainkit/data/formats.py) that verifies, splits and reads these files."""
        from ..data.formats import get_format

        return get_format(self.format)


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
    loss: str = "sparse_categorical_crossentropy"         # a Keras loss name, or "module:Class" / "module:function"
    loss_args: Dict[str, Any] = field(default_factory=dict)  # keyword arguments of the loss class
    metrics: List[Any] = field(default_factory=lambda: ["accuracy"])  # Keras names, "module:Class" or {name: ..., args: {...}}
    optimizer: str = "adam"                               # any Keras optimizer name (adam, adamw, sgd, lion, ...) or "module:Class"
    optimizer_args: Dict[str, Any] = field(default_factory=dict)  # e.g. {weight_decay: 0.004} for adamw
    learning_rate: float = 1e-3                           # peak learning rate (Adam's usual default)
    lr_schedule: str = "constant"                         # constant | cosine | exponential | warmup
    warmup_epochs: float = 0.0                            # linear warm-up from 0 to learning_rate (any schedule)
    lr_decay_rate: float = 0.9                            # exponential: lr *= this every lr_decay_epochs
    lr_decay_epochs: float = 1.0                          # exponential: decay period in epochs
    min_lr_ratio: float = 0.0                             # cosine: the last step's lr = learning_rate * this
    mixed_precision: str = "off"                          # off | auto (bfloat16 on CPU, float16 on GPU) | mixed_float16 | mixed_bfloat16
    seed: int = 42                                        # seeds weights, dropout and per-epoch shuffles
    steps_per_call: int = 50                              # train steps fused into one tf.function call (fewer when a group of batches would exceed 64 MB)
    jit_compile: Any = "auto"                             # auto | true | false: XLA for the train step; auto = on, but off on CPU for a model with convolutions (XLA's CPU convolutions made a small CNN 60x slower)
    shuffle_buffer: int = 0                               # 0 = whole train split (exact per-epoch shuffle)
    scale_lr_by_world_size: bool = False                  # linear LR scaling for multi-process runs
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)
    callbacks: List[CallbackConfig] = field(default_factory=list)  # user Keras callbacks


@dataclass
class EntryConfig:
    name: str = "trainer"                                 # trainer (trainkit's own loop) | script (your training script)


@dataclass
class ScriptEntryConfig(EntryConfig):
    """entry=script: ScriptRunConfig(source_directory, script, arguments), run once per rank."""
    script: str = MISSING                                 # path of the script inside source_dir, e.g. train.py
    arguments: List[Any] = field(default_factory=list)    # its command-line arguments (Hydra interpolation works; all passed as strings)
    source_dir: Optional[str] = None                      # the directory snapshotted and run in; null = the project
    model_path: Optional[str] = "outputs/model.keras"     # registered (with ONNX) when the script saved it; a .keras file or a SavedModel dir; null = register nothing
    python: Optional[str] = None                          # interpreter for the script; null = the worker's
    azureml_compat: bool = False                          # an Azure ML SDK v1 script: `from azureml.core import Run` gets trainkit's run (never shadows a real azureml package)
    keras_datasets: Dict[str, str] = field(default_factory=dict)  # Keras loader -> trainkit dataset answering it offline, e.g. {mnist: mnist}: keras.datasets.mnist.load_data() returns that dataset


@dataclass
class EnvironmentConfig:
    name: str = MISSING                                   # curated preset or "custom"
    python: str = "3.11"                                  # interpreter the preset was built for
    tensorflow: Optional[str] = None                      # expected TF version; checked at run start
    keras: Optional[str] = None                           # expected Keras major.minor; checked at run start
    device: str = "cpu"                                   # cpu | gpu
    pip: List[str] = field(default_factory=list)          # requirement lines: the environment is built with uv (see trainkit/envs.py)
    requirements_file: Optional[str] = None               # a pip requirements file, built with uv like `pip`
    index_url: Optional[str] = None                       # package index (air-gapped clusters: your mirror)
    extra_index_urls: List[str] = field(default_factory=list)
    find_links: List[str] = field(default_factory=list)   # local directories (shipped to ssh hosts) or URLs of wheels
    no_index: bool = False                                # resolve from find_links only (air-gapped hosts)
    image: Optional[str] = None                           # container image: reserved (designed in, not built yet)
    env_vars: Dict[str, str] = field(default_factory=dict)  # extra variables for every worker process
    secret_env: List[str] = field(default_factory=list)   # names of variables passed from this shell to the workers; values are never written to config, logs or command lines
    strict: bool = False                                  # true: a version mismatch fails the run


@dataclass
class WorkspaceConfig:
    root: str = MISSING                                   # where datasets, runs and models live (path or fsspec URL)


@dataclass
class TrialRef:
    """Which Optuna trial a run is (set by the sweeper; empty study = not a trial)."""

    study: str = ""                                       # study name
    storage: str = ""                                     # study storage URL (sqlite:///...)
    trial_id: int = -1                                    # storage id of the trial
    number: int = -1                                      # trial number in the study
    metric: str = ""                                      # per-epoch metric to report
    pruner: str = "none"                                  # the sweeper's pruner, rebuilt in the run
    n_startup_trials: int = 2
    n_warmup_steps: int = 0
    pruner_args: Any = None                               # {key: value}: the pruner's other settings (trainkit.hpo.PRUNERS); Any, as Hydra cannot add keys to a typed dict


@dataclass
class RunConfig:
    experiment: str = "default"                           # runs are grouped by experiment
    name: Optional[str] = None                            # shown with the run (Azure's display_name); null = <experiment>-<n>, n its number in the experiment
    resume: str = "auto"                                  # auto | never | <run id>
    tags: Dict[str, str] = field(default_factory=dict)    # free-form labels stored with the run
    snapshot_source: bool = True                          # keep a copy of the project's files with the run
    snapshot_max_mb: float = 300.0                        # refuse to snapshot more (use .trainkitignore), like Azure ML
    verbose: bool = False                                 # show TensorFlow's start-up lines (absl, oneDNN)
    sweep: Optional[str] = None                           # set by `-m`: the sweep id this run belongs to
    sweep_job: Optional[int] = None                       # set by `-m`: the job number in the sweep
    trial: TrialRef = field(default_factory=TrialRef)     # set by the Optuna sweeper


@dataclass
class ResourceConfiguration:
    cpu: float = 1.0                                      # cores a serving replica needs (Azure's samples: cpu=1)
    memory_gb: float = 0.5                                # memory a serving replica needs (Azure's samples: 0.5 GB)
    gpu: int = 0                                          # GPUs a serving replica needs


@dataclass
class RegistryConfig:
    enabled: bool = True                                  # the chief registers the model after a successful run
    root: str = MISSING                                   # any fsspec URL; config.yaml: ${workspace.root}/models
    model_name: Optional[str] = None                      # null = the experiment's name (run.experiment)
    description: str = ""                                 # "" = "<experiment>, run <id>"
    tags: Dict[str, str] = field(default_factory=dict)    # merged over run.tags
    aliases: List[str] = field(default_factory=list)      # aliases moved to the new version, e.g. [staging]
    resource_configuration: ResourceConfiguration = field(default_factory=ResourceConfiguration)


OPSETS = (13, 18)  # the ONNX opsets tf2onnx 1.17 converts to (inclusive)


@dataclass
class OnnxExportConfig:
    enabled: bool = True                                  # convert with tf2onnx after training
    opset: int = 17                                       # ONNX opset (tf2onnx 1.17 converts 13..18)
    parity_samples: Optional[int] = None                  # test examples compared with onnxruntime; null = all
    max_abs_diff: float = 1e-5                            # parity fails above this |onnx - keras| / max(1, |keras|)
    min_argmax_agreement: float = 1.0                     # parity fails below this share of equal predicted classes


@dataclass
class ExportConfig:
    onnx: OnnxExportConfig = field(default_factory=OnnxExportConfig)


@dataclass
class TrainkitConfig:
    # Groups are typed by the schema each option inherits (`defaults: [base_<group>]`), so options
    # of one group may extend its base (compute=slurm adds fields compute=local does not have).
    # `model` has no schema: `_target_` names the builder and every other key is its argument
    # (checked against the builder's signature at compose time, see targets.py).
    dataset: Any = MISSING
    model: Any = MISSING
    trainer: Any = MISSING
    environment: Any = MISSING
    compute: Any = MISSING
    distribution: Any = MISSING
    entry: Any = MISSING
    workspace: WorkspaceConfig = field(default_factory=WorkspaceConfig)
    registry: RegistryConfig = field(default_factory=RegistryConfig)
    export: ExportConfig = field(default_factory=ExportConfig)
    run: RunConfig = field(default_factory=RunConfig)
    params: Dict[str, Any] = field(default_factory=dict)  # free values of your own (a script's hyperparameters): entry.arguments use ${params.NAME}, sweeps sample params.NAME


GROUP_SCHEMAS = {
    "entry": EntryConfig,
    "dataset": DatasetConfig,
    "trainer": TrainerConfig,
    "environment": EnvironmentConfig,
}


def schemas_of(data: dict) -> dict[str, type]:
    """Each typed group's schema for this config: the chosen compute backend's and distribution's own."""
    from ..compute import backend_class
    from ..distributions import describe

    schemas = {**GROUP_SCHEMAS, "compute": backend_class(data["compute"]["name"]).schema,
               "distribution": describe(data["distribution"]).schema,
               "entry": ScriptEntryConfig if data["entry"]["name"] == "script" else EntryConfig}
    schemas.update(workspace=WorkspaceConfig, registry=RegistryConfig, export=ExportConfig, run=RunConfig)
    return schemas


def load(data: dict) -> TrainkitConfig:
    """The whole resolved config as dataclasses; each group by the schema of its chosen option (the
    compute backend's and the distribution's own)."""
    return TrainkitConfig(model=dict(data["model"]), params=dict(data.get("params") or {}),
                          **{g: from_dict(s, data[g]) for g, s in schemas_of(data).items()})


def unknown_keys(data: dict) -> list[str]:
    """Keys a typed group does not have (`+trainer.epochz=3` gets past Hydra), each with its
    closest known key: 'trainer.epochz: unknown key (did you mean trainer.epochs?)'."""
    out: list[str] = []
    for group, schema in schemas_of(data).items():
        if isinstance(data.get(group), dict):
            out += _unknown(schema, data[group], group)
    return out


def _unknown(schema: type, value, where: str) -> list[str]:
    import dataclasses
    import difflib
    import typing

    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _unknown(schema, v, f"{where}[{i}]")]
    if not isinstance(value, dict):
        return []
    hints = typing.get_type_hints(schema)
    out = []
    for key, v in value.items():
        if key not in hints:
            close = difflib.get_close_matches(str(key), list(hints), n=1)
            out.append(f"{where}.{key}: unknown key of {schema.__name__}"
                       + (f" (did you mean {where}.{close[0]}?)" if close else f" (known: {', '.join(hints)})"))
            continue
        inner = [a for a in (typing.get_args(hints[key]) or (hints[key],)) if dataclasses.is_dataclass(a)]
        if dataclasses.is_dataclass(hints[key]):
            inner = [hints[key]]
        if inner:
            out += _unknown(inner[0], v, f"{where}.{key}")
    return out
