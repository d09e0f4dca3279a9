"""The compatibility review of an experiment's scripts: what breaks on today's stack (numpy 2,
Keras 3, TF 1, run-time downloads, azureml imports), each with its place and fix; with `--fix`
the mechanical rewrites are applied to the project's copies (never to the sources).

Scripts that use Keras 2 APIs with no mechanical Keras 3 rewrite (`_set_inputs`, `model.save` of a
SavedModel folder, `fit_generator` with workers...) run in the Keras 2 environment instead, unless
their environment asked for Keras 3 explicitly (a TensorFlow 2.16+ pin)."""
from __future__ import annotations

import re

from . import Migration

LOADER = re.compile(r"^(?:tensorflow\.)?keras\.datasets\.(\w+)\.load_data$")
IMAGE_LOADERS = ("mnist", "fashion_mnist")   # what an MNIST-format (IDX, 10 classes) dataset answers; trainkit has both
KERAS2_PRESETS = {"tensorflow-2.21-cpu": "tensorflow-2.21-keras2-cpu", "tensorflow-2.21-gpu": "tensorflow-2.21-keras2-gpu"}


def review(m: Migration, exp) -> None:
    from ..compat import scan

    if exp.keras == "3" and not exp.keras_pinned:
        needs = sorted({f"{f.path}:{f.line}" for path, text in exp.scripts.items()
                        for f in scan(path, text, keras="3") if f.kind == "keras3" and not f.mechanical})
        if needs:
            keras2(m, exp, needs)
    loaders: set[str] = set()
    for path, text in exp.scripts.items():
        if m.opts.fix:
            from ..fix import apply

            new, applied = apply(path, text, keras=exp.keras, tf_upgrade=True)
            if applied:
                m.project.copies.pop(path, None)
                m.project.files[path] = new
                m.project.fixed += applied
                exp.scripts[path] = new
                text = new
        found = scan(path, text, keras=exp.keras)
        m.project.findings += found
        loaders |= {hit.group(1) for f in found if (hit := LOADER.match(f.rule or ""))}
    if loaders:
        keras_datasets(m, exp, loaders)


def keras2(m: Migration, exp, where: list[str]) -> None:
    """Run the experiment in the Keras 2 environment (its scripts use Keras 2 APIs)."""
    exp.keras = "2"
    defaults = exp.body["defaults"]
    env = next((d for d in defaults if isinstance(d, dict) and "override /environment" in d), None)
    if env is None:
        defaults.insert(1, {"override /environment": "tensorflow-2.21-keras2-cpu"})
    elif env["override /environment"] in KERAS2_PRESETS:
        env["override /environment"] = KERAS2_PRESETS[env["override /environment"]]
    else:
        exp.body["environment"] = {"keras": "2"}
    m.project.note(f"conf/experiment/{exp.name}.yaml: its scripts use Keras 2 APIs that Keras 3 does not have "
                   f"({', '.join(where[:4])}{', ...' if len(where) > 4 else ''}): it runs in the Keras 2 environment "
                   "(tf-keras, unchanged scripts); port them and set environment.keras=3 to move on")


def keras_datasets(m: Migration, exp, loaders: set[str]) -> None:
    """`keras.datasets.<name>.load_data()` in the scripts: answered offline by the run's dataset when
    it is MNIST-format, else by trainkit's dataset of that name (`entry.keras_datasets`)."""
    defaults = exp.body["defaults"]
    own = next((d["override /dataset"] for d in defaults if isinstance(d, dict) and "override /dataset" in d), None)
    mapping, rest = {}, sorted(loaders - set(IMAGE_LOADERS))
    for loader in sorted(loaders & set(IMAGE_LOADERS)):
        if own is None:
            own = loader
            defaults.insert(0, {"override /dataset": loader})
        mapping[loader] = own
    if mapping:
        exp.body["entry"]["keras_datasets"] = mapping
        builtin = sorted(set(mapping.values()) & {"mnist"})
        m.project.note(f"conf/experiment/{exp.name}.yaml: the script calls keras.datasets "
                       f"{', '.join(f'{k}.load_data()' for k in mapping)}: entry.keras_datasets answers it with the "
                       f"dataset {', '.join(sorted(set(mapping.values())))}, no download in the run"
                       + ("; trainkit's mnist is fetched and verified once, then cached: offline, Debian's "
                          "Fashion-MNIST stands in with dataset=fashion_mnist 'entry.keras_datasets={mnist: "
                          "fashion_mnist}'" if builtin else ""))
    if rest:
        m.project.note(f"conf/experiment/{exp.name}.yaml: keras.datasets {', '.join(rest)}: no trainkit dataset "
                       "answers it here: configure one and add it to entry.keras_datasets (cifar10/cifar100), or give "
                       "the script its data")
