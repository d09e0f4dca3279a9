"""Cross-field checks that run after composition. They collect every problem, then raise once.
Nothing here imports TensorFlow: model builders and user classes are checked by signature
(targets.py), Keras names against the shipped table (config/keras_api.py)."""
from __future__ import annotations

import os
import re
from typing import Any, Callable

from ..errors import ConfigError
from . import keras_api
from ..targets import check_call

RUN_ID = re.compile(r"[0-9]{8}-[0-9]{6}-[0-9a-f]{6}")
IMPORT_PATH = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*")
SHA256 = re.compile(r"[0-9a-f]{64}")
LR_SCHEDULES = ("constant", "cosine", "exponential", "warmup")
MIXED_PRECISION = ("off", "auto", "mixed_float16", "mixed_bfloat16")
SINGULAR = {"losses": "loss", "metrics": "metric", "optimizers": "optimizer"}
MODEL_PROVIDED = {"input_shape", "num_classes", "seed"}   # trainkit passes these when the builder takes them


def missing_keys(cfg: Any) -> list[str]:
    """Every `???` value left in the composed config, as full dotted keys."""
    from omegaconf import OmegaConf

    return sorted(OmegaConf.missing_keys(cfg))


class _Checker:
    def __init__(self, cfg: dict):
        self.cfg = cfg
        self.problems: list[str] = []

    def get(self, key: str) -> Any:
        node: Any = self.cfg
        for part in key.split("."):
            node = node[part]
        return node

    def check(self, key: str, ok: Callable[[Any], bool], expected: str) -> None:
        value = self.get(key)
        try:
            good = ok(value)
        except (TypeError, ValueError):
            good = False
        if not good:
            self.problems.append(f"{key}: expected {expected}, got {value!r}")

    def fail(self, message: str) -> None:
        self.problems.append(message)


def check_config(cfg: dict) -> list[str]:
    """Return every problem in a resolved config (a plain dict); an empty list means valid."""
    c = _Checker(cfg)
    positive = lambda v: isinstance(v, int) and v >= 1  # noqa: E731
    c.check("trainer.epochs", positive, "an integer >= 1")
    c.check("trainer.batch_size", positive, "an integer >= 1")
    c.check("trainer.steps_per_call", positive, "an integer >= 1")
    c.check("trainer.learning_rate", lambda v: 0 < v <= 10, "a number in (0, 10]")
    c.check("trainer.jit_compile", lambda v: v == "auto" or isinstance(v, bool), "auto, true or false")
    c.check("trainer.shuffle_buffer", lambda v: v >= 0, "an integer >= 0 (0 = whole split)")
    c.check("trainer.checkpoint.every_epochs", positive, "an integer >= 1")
    c.check("trainer.checkpoint.keep", positive, "an integer >= 1")
    for i, cb in enumerate(c.get("trainer.callbacks")):
        if not IMPORT_PATH.fullmatch(str(cb.get("cls", ""))):
            c.fail(f"trainer.callbacks[{i}].cls: expected 'module:Class', got {cb.get('cls')!r}")
        else:
            c.problems += check_call(f"trainer.callbacks[{i}].kwargs", cb["cls"], cb.get("kwargs") or {},
                                     target_key=f"trainer.callbacks[{i}].cls")
    _check_entry(c)
    _check_task(c)
    _check_model(c)
    _check_dataset(c)
    _check_distribution(c)
    _check_environment(c)
    c.check("workspace.root", lambda v: bool(str(v).strip()) and _fsspec_url_ok(v),
            "a path or an fsspec URL whose protocol is known and installed")
    c.check("run.experiment", lambda v: bool(re.fullmatch(r"[A-Za-z0-9][\w.-]*", v)),
            "a name of letters, digits, '_', '-' or '.'")
    c.check("run.resume", lambda v: v in ("auto", "never") or bool(RUN_ID.fullmatch(v)),
            "'auto', 'never' or a run id like 20261122-101500-ab12cd")
    c.check("run.snapshot_max_mb", lambda v: v > 0, "a number > 0 (megabytes)")
    _check_registry(c)
    return c.problems


def _check_environment(c: _Checker) -> None:
    if c.get("environment.name") == "custom":
        req = c.get("environment.requirements_file")
        if not req or not os.path.isfile(os.path.expanduser(str(req))):
            c.fail("environment.requirements_file: expected an existing pip requirements file for "
                   f"environment=custom, got {req!r}")
    c.check("environment.device", lambda v: v in ("cpu", "gpu"), "'cpu' or 'gpu'")
    _check_keras(c)
    for i, req in enumerate(c.get("environment.pip")):
        if not isinstance(req, str) or not req.strip() or req.strip().startswith("-"):
            c.fail(f"environment.pip[{i}]: expected a requirement like 'tabulate==0.9.0', got {req!r} "
                   "(index options go in environment.index_url / find_links)")
    req_file = c.get("environment.requirements_file")
    if req_file and not os.path.isfile(os.path.expanduser(str(req_file))) and c.get("environment.name") != "custom":
        c.fail(f"environment.requirements_file: expected an existing pip requirements file, got {req_file!r}")
    elif req_file and os.path.isfile(os.path.expanduser(str(req_file))):   # its lines, as environment.pip items
        with open(os.path.expanduser(str(req_file)), errors="replace") as f:
            text = f.read()
        for n, line in enumerate(text.splitlines(), 1):
            if line.strip().startswith("-"):
                from ..compute.envs import hide_credentials

                shown = hide_credentials(line.strip())
                c.fail(f"environment.requirements_file: {req_file} line {n}: expected a requirement like "
                       f"'tabulate==0.9.0', got {shown!r} (options such as -r, -e, --index-url are not "
                       "passed on: index options go in environment.index_url / find_links, other files' requirements "
                       "in environment.pip)")
    c.check("environment.image", lambda v: v is None, "null: container images are designed in (the worker's "
            "command prefix) but not built yet")


def _check_keras(c: _Checker) -> None:
    """environment.keras: "2" (your script with Keras 2: tf-keras), "3" (or a 3.x) or null."""
    from ..keras2_shim import MAJORS, is_keras2, major

    value = c.get("environment.keras")
    if value is not None and not (re.fullmatch(r"\d+(\.\d+)*", str(value)) and major(value) in MAJORS):
        c.fail(f"environment.keras: expected '2' (Keras 2 for your script, tf-keras), '3' or null, got {value!r}")
    elif is_keras2({"keras": value}) and c.get("entry.name") != "script":
        c.fail(f"environment.keras: '2' runs your own script with Keras 2 (entry=script); expected entry=script, "
               f"or keras '3' for trainkit's own loop (Keras 3), got entry={c.get('entry.name')!r}")


def _keras_or_target(c: _Checker, kind: str, key: str, name: str, args: dict, args_key: str) -> None:
    """A Keras loss/metric/optimizer name or a `module:Class`, with arguments its constructor takes."""
    if ":" in str(name) or "." in str(name):
        c.problems += check_call(args_key, name, args, target_key=key)
        return
    entry = keras_api.lookup(kind, name)
    current = keras_api.installed_version() in (None, keras_api.table()["keras"])
    if entry is None:
        if current:
            known = sorted({e["default_name"] for e in keras_api.table()[kind].values()})
            c.fail(f"{key}: expected a Keras {SINGULAR[kind]} name ({', '.join(known)}) or 'module:Class', "
                   f"got {name!r}")
        return
    if current:
        c.problems += [f"{args_key}.{k}: not an argument of keras.{kind}.{entry['class']} "
                       f"(it takes: {', '.join(entry['params'])})" for k in args if k not in entry["params"]]


def _check_entry(c: _Checker) -> None:
    from pathlib import Path

    from ..launch.project import project_root

    entry = c.get("entry")
    if entry["name"] not in ("trainer", "script"):
        c.fail(f"entry.name: expected 'trainer' or 'script', got {entry['name']!r}")
        return
    if entry["name"] != "script":
        return
    src = Path(os.path.expanduser(entry["source_dir"])).resolve() if entry["source_dir"] else project_root()
    if not src.is_dir():
        c.fail(f"entry.source_dir: expected an existing directory, got {entry['source_dir']!r}")
        return
    script = (src / str(entry["script"])).resolve()
    if src not in script.parents or not script.is_file():
        c.fail(f"entry.script: expected a file inside {src}, got {entry['script']!r}"
               + ("" if src in script.parents else " (outside the source directory)"))
    elif Path(str(entry["script"])).is_absolute():   # the snapshot's copy runs, never the original
        entry["script"] = script.relative_to(src).as_posix()
    for i, a in enumerate(entry["arguments"]):
        if isinstance(a, (dict, list)):
            c.fail(f"entry.arguments[{i}]: expected a string or a number, got {a!r}")
    mp = entry["model_path"]
    if mp is not None and (Path(mp).is_absolute() or ".." in Path(mp).parts or not str(mp).strip()):
        c.fail(f"entry.model_path: expected null or a path inside the run (like outputs/model.keras), got {mp!r}")
    if entry.get("azureml_compat"):
        from ..shimpath import real_azureml

        found = real_azureml()   # trainkit's own shim (a notebook's %load_ext trainkit.azureml) is not one
        if found:
            c.fail(f"entry.azureml_compat: expected no azureml package here, got one at "
                   f"{found} (a real Azure ML SDK is installed: "
                   "trainkit does not shadow it; set entry.azureml_compat=false)")
    _check_keras_datasets(c, entry.get("keras_datasets") or {})
    py = entry["python"]
    if py and _backend(c) is not None and _backend(c).runs_here and not os.access(os.path.expanduser(py), os.X_OK):
        c.fail(f"entry.python: expected an executable interpreter, got {py!r}")


def _check_keras_datasets(c: _Checker, wanted: dict) -> None:
    from ..keras_datasets import LOADERS

    for loader, name in wanted.items():
        if loader not in LOADERS:
            c.fail(f"entry.keras_datasets.{loader}: expected a Keras loader trainkit datasets can answer "
                   f"({', '.join(LOADERS)}), got {loader!r}")
        if not isinstance(name, str) or not name.strip():
            c.fail(f"entry.keras_datasets.{loader}: expected the name of a trainkit dataset (like {loader}), got {name!r}")


def _check_task(c: _Checker) -> None:
    t = c.get("trainer")
    _keras_or_target(c, "losses", "trainer.loss", t["loss"], t["loss_args"], "trainer.loss_args")
    if "reduction" in t["loss_args"]:
        c.fail("trainer.loss_args.reduction: expected it unset (trainkit averages the loss over the global "
               f"batch itself), got {t['loss_args']['reduction']!r}")
    names = ["loss"]
    for i, m in enumerate(t["metrics"]):
        if isinstance(m, str):
            name, args = m, {}
        elif isinstance(m, dict) and set(m) <= {"name", "args"} and isinstance(m.get("name"), str):
            name, args = m["name"], dict(m.get("args") or {})
        else:
            c.fail(f"trainer.metrics[{i}]: expected a name or {{name: ..., args: {{...}}}}, got {m!r}")
            continue
        if name.lower() not in ("accuracy", "acc"):
            _keras_or_target(c, "metrics", f"trainer.metrics[{i}]", name, args, f"trainer.metrics[{i}].args")
        names.append(str(args.get("name") or name))
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        c.fail(f"trainer.metrics: expected distinct names (and none called 'loss'), got {dupes} more than once; "
               "give one a name with {name: ..., args: {name: other}}")
    _keras_or_target(c, "optimizers", "trainer.optimizer", t["optimizer"], t["optimizer_args"],
                     "trainer.optimizer_args")
    if "learning_rate" in t["optimizer_args"]:
        c.fail("trainer.optimizer_args.learning_rate: expected it unset (set trainer.learning_rate and "
               f"trainer.lr_schedule), got {t['optimizer_args']['learning_rate']!r}")
    c.check("trainer.lr_schedule", lambda v: v in LR_SCHEDULES, f"one of {list(LR_SCHEDULES)}")
    c.check("trainer.warmup_epochs", lambda v: 0 <= v < t["epochs"], f"a number in [0, trainer.epochs={t['epochs']})")
    if t["lr_schedule"] == "warmup" and not t["warmup_epochs"] > 0:
        c.fail(f"trainer.warmup_epochs: expected a number > 0 for lr_schedule=warmup, got {t['warmup_epochs']!r}")
    c.check("trainer.lr_decay_rate", lambda v: 0 < v <= 1, "a number in (0, 1]")
    c.check("trainer.lr_decay_epochs", lambda v: v > 0, "a number > 0")
    c.check("trainer.min_lr_ratio", lambda v: 0 <= v <= 1, "a number in [0, 1]")
    c.check("trainer.mixed_precision", lambda v: v in MIXED_PRECISION, f"one of {list(MIXED_PRECISION)}")


def _check_model(c: _Checker) -> None:
    m = c.get("model")
    target = m.get("_target_")
    if not target:
        hint = " (model.builder is now model._target_: package.module.function)" if "builder" in m else ""
        c.fail(f"model._target_: expected the builder, e.g. trainkit.models.mnist_dnn.build{hint}, got {target!r}")
        return
    kwargs = {k: v for k, v in m.items() if not str(k).startswith("_") and k != "name"}
    c.problems += check_call("model", target, kwargs, provided=MODEL_PROVIDED, target_key="model._target_")


def _check_dataset(c: _Checker) -> None:
    from ..data.datasets import safe_name
    from ..data.formats import FORMATS, get_format
    from ..names import valid_name

    ds = c.get("dataset")
    c.check("dataset.name", valid_name, "1-128 letters, digits, '.', '_' or '-' (no '/', '..')")
    if ds["format"] not in FORMATS:
        c.fail(f"dataset.format: expected one of {sorted(FORMATS)}, got {ds['format']!r}")
        return
    fmt = get_format(ds["format"])
    c.check("dataset.sources", lambda v: len(v) > 0 or not fmt.needs_sources, "at least one source URL")
    for i, f in enumerate(ds["files"]):
        if not safe_name(str(f.get("name", ""))):
            c.fail(f"dataset.files[{i}].name: expected a file name, a directory name ending in '/' or a glob, "
                   f"inside the source (no '/', '\\', '..'), got {f.get('name')!r}")
        if f.get("sha256") is not None and not SHA256.fullmatch(str(f["sha256"])):
            c.fail(f"dataset.files[{i}].sha256: expected 64 lowercase hex digits or null (record on first fetch), "
                   f"got {f.get('sha256')!r}")
        if f.get("role") not in fmt.roles:
            c.fail(f"dataset.files[{i}].role: expected one of {list(fmt.roles)} for format={ds['format']}, got {f.get('role')!r}")
    roles = {f.get("role") for f in ds["files"]}
    if fmt.role_splits and "train" not in roles:
        c.fail(f"dataset.files: expected a file with role 'train', got roles {sorted(map(str, roles))}")
    c.problems += fmt.check(ds)
    c.check("dataset.version", lambda v: v is None or (isinstance(v, int) and v >= 1), "null or a version number >= 1")
    c.check("dataset.offline", lambda v: v in ("fallback", "error"), "fallback or error")
    c.check("dataset.in_memory", lambda v: str(v).lower() in ("auto", "true", "false"), "auto, true or false")
    if str(ds["in_memory"]).lower() == "false" and not fmt.streams:
        c.fail(f"dataset.in_memory: format={ds['format']} is read whole; expected auto or true, got false")
    c.check("dataset.memory_fraction", lambda v: 0 < v <= 1, "a fraction in (0, 1]")
    c.check("dataset.validation_size", lambda v: v is None or v >= 0, "null or an integer >= 0")
    c.check("dataset.validation_fraction", lambda v: 0 <= v < 1, "a fraction in [0, 1)")
    c.check("dataset.test_fraction", lambda v: 0 <= v < 1, "a fraction in [0, 1)")
    if fmt.role_splits and "test" not in roles and not ds["test_fraction"] > 0:
        c.fail("dataset.test_fraction: expected a fraction > 0 when no file has role 'test' (the run reports "
               f"test metrics), got {ds['test_fraction']}")
    for key in ("dataset.limit_train", "dataset.limit_test"):
        c.check(key, lambda v: v is None or v >= 1, "null or an integer >= 1")
    limit, val = c.get("dataset.limit_train"), c.get("dataset.validation_size")
    if isinstance(limit, int) and isinstance(val, int) and limit >= 1 and val >= limit:
        c.fail(f"dataset.validation_size: expected fewer than dataset.limit_train={limit} "
               f"examples, got {val}")
    c.check("dataset.num_classes", lambda v: v is None or v >= 2, "null (regression) or an integer >= 2")
    for key in ("max_file_mb", "download_deadline_s", "download_timeout_s", "max_image_pixels"):
        c.check(f"dataset.{key}", lambda v: v > 0, "a number > 0")
    c.check("dataset.max_compression_ratio", lambda v: v >= 1, "a number >= 1")
    # (entry=script: the script picks its own loss; trainer.loss says nothing about its data)
    classifier = keras_api.canonical_loss(c.get("trainer.loss")) in keras_api.ACCURACY_FOR_LOSS
    if classifier and c.get("entry.name") != "script" and ds["num_classes"] is None and not fmt.knows_classes:
        c.fail(f"dataset.num_classes: expected the number of classes for trainer.loss={c.get('trainer.loss')}, "
               "got null (null means regression targets)")


def _backend(c: _Checker):
    """The compute target's backend, with its typed config (None when compute.name is unknown)."""
    from ..compute import BACKENDS, get_backend

    name = c.get("compute.name")
    return get_backend(c.get("compute")) if name in BACKENDS else None


def _check_distribution(c: _Checker) -> None:
    from ..compute import BACKENDS
    from ..distributions import DISTRIBUTIONS
    from ..typed import from_dict

    dist = c.get("distribution")
    name, before = dist.get("name"), len(c.problems)
    if name not in DISTRIBUTIONS:
        c.fail(f"distribution.name: expected one of {sorted(DISTRIBUTIONS)}, got {name!r}")
        return
    d = DISTRIBUTIONS[name]
    typed = from_dict(d.schema, dist)
    c.problems += d.check(typed)
    procs = d.processes(typed) if len(c.problems) == before else None
    backend = _backend(c)
    if backend is None:
        c.fail(f"compute.name: expected one of {sorted(BACKENDS)}, got {c.get('compute.name')!r}")
    else:
        c.problems += backend.check(procs or 1)
    _check_secrets(c)
    if len(c.problems) > before:
        return
    key, slots = backend.capacity(procs)
    if procs > slots:
        c.fail(f"{key}: distribution={name} needs {procs} processes"
               + (" (1 chief + workers + ps)" if d.coordinated else "")
               + f" but compute={c.get('compute.name')} has {key}={slots}; "
               f"lower the process count or raise {key}")
    batch, replicas = c.get("trainer.batch_size"), d.replicas(typed)
    if c.get("entry.name") == "script":   # a script batches its own data: no global batch to split here
        return
    if isinstance(batch, int) and batch % replicas:
        c.fail(f"trainer.batch_size: the global batch must split evenly over {replicas} replicas of "
               f"distribution={name}, got {batch}")


def _check_secrets(c: _Checker) -> None:
    for i, var in enumerate(c.get("environment.secret_env")):
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", str(var)):
            c.fail(f"environment.secret_env[{i}]: expected an environment variable name, got {var!r}")
        elif var not in os.environ:
            c.fail(f"environment.secret_env[{i}]: expected ${var} to be set in this shell, it is not")


def _check_registry(c: _Checker) -> None:
    from .schema import OPSETS
    from ..names import valid_name as name_ok

    expected = "1-128 letters, digits, '.', '_' or '-' (no '/', '..' or control characters)"
    c.check("registry.model_name", lambda v: v is None or name_ok(v), "null or " + expected)
    for i, alias in enumerate(c.get("registry.aliases")):
        if not name_ok(alias) or str(alias).isdigit():
            c.fail(f"registry.aliases[{i}]: expected {expected}, not a number, got {alias!r}")
    for key in ("cpu", "memory_gb", "gpu"):
        c.check(f"registry.resource_configuration.{key}", lambda v: v >= 0, "a number >= 0")
    ws_root = str(c.get("workspace.root"))
    if not (str(c.get("registry.root")).startswith(ws_root.rstrip("/") + "/") and not _fsspec_url_ok(ws_root)):
        # (derived from a bad workspace.root: that key was named already, the one the user typed)
        c.check("registry.root", _fsspec_url_ok, "a path or an fsspec URL whose protocol is known and installed")
    c.check("export.onnx.opset", lambda v: isinstance(v, int) and OPSETS[0] <= v <= OPSETS[1],
            f"an integer in [{OPSETS[0]}, {OPSETS[1]}] (what tf2onnx 1.17 converts to)")
    c.check("export.onnx.parity_samples", lambda v: v is None or v >= 1, "null (all) or an integer >= 1")
    c.check("export.onnx.max_abs_diff", lambda v: v >= 0, "a number >= 0")
    c.check("export.onnx.min_argmax_agreement", lambda v: 0 <= v <= 1, "a fraction in [0, 1]")


def _fsspec_url_ok(url: str) -> bool:
    import fsspec

    if "://" not in url:
        return bool(url.strip())
    try:
        fsspec.get_filesystem_class(url.split("://", 1)[0])
    except (ImportError, ValueError):  # a known protocol without its package (e.g. s3fs); an unknown one
        return False
    return True


def validate(cfg: Any, overrides: list[str] | None = None) -> dict:
    """Resolve a composed DictConfig into a plain dict, raising ConfigError with every problem.
    `overrides`: the command line's, when known (entry=script: trainer keys set there are named)."""
    from omegaconf import OmegaConf

    missing = missing_keys(cfg)
    if missing:
        raise ConfigError([f"{k}: expected a value, got ??? (missing; set it with {k}=...)"
                           for k in missing])
    data = OmegaConf.to_container(cfg, resolve=True)
    data.pop("hydra", None)
    from .schema import TrainkitConfig

    known = set(TrainkitConfig.__dataclass_fields__)
    problems = [f"{k}: unknown top-level key (expected one of {sorted(known)}), got {k}={data[k]!r}"
                for k in data if k not in known]
    problems += check_config(data)
    if not problems:
        from .schema import unknown_keys

        problems += unknown_keys(data)
    problems += _script_settings(cfg, data, overrides)
    if problems:
        raise ConfigError(problems)
    return data


def _script_settings(cfg: Any, data: dict, overrides: list[str] | None) -> list[str]:
    """entry=script: trainer keys its script would never see (config/script_settings.py); the
    warnings are printed here, the problems returned."""
    import sys

    from omegaconf import OmegaConf

    from .script_settings import check_script_settings

    problems, warnings = check_script_settings(OmegaConf.to_container(cfg, resolve=False), data, overrides)
    for w in warnings:
        print(f"warning: {w}", file=sys.stderr, flush=True)
    return problems
