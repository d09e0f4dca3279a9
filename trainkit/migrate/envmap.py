"""Azure ML SDK v1 environments in trainkit's terms, as pure functions (no I/O but reading what the
base interpreter has installed): curated environment names, pip and conda requirement lines.

Shared by `trainkit migrate` and the v1 notebook API (`Environment.get(ws, name)`), so both map an
environment the same way. Every change made to what the user wrote is returned as a note."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

KERAS2_BEFORE = (2, 16)     # TensorFlow before 2.16 came with Keras 2 (`tf.keras`): scripts of that era expect it
CURATED = re.compile(r"(?i)^azureml-.*?\b(tensorflow|tf)-(\d+)\.(\d+)\b(.*)$")
FRAMEWORK = re.compile(r"(?i)^(tensorflow(-gpu|-cpu|-intel|-macos)?|tf-nightly(-gpu)?|tensorflow-estimator|keras|tf-keras"
                       r"|keras-preprocessing|keras-applications|horovod|tensorboard|tensorflow-io)$")
AZUREML = re.compile(r"(?i)^(azureml([-._].*)?|azure-ml(-.*)?|inference-schema)$")
AZUREML_MLFLOW = re.compile(r"(?i)^azureml-mlflow$")
SYSTEM_ONLY = {"cudatoolkit", "cudnn", "nccl", "mkl", "mkl-service", "libgcc", "libgcc-ng", "libstdcxx-ng", "blas",
               "openmpi", "mpi4py", "intel-openmp", "cuda", "cuda-toolkit", "cupti", "libprotobuf", "ca-certificates",
               "openssl", "certifi", "setuptools", "wheel"}
CONDA_TO_PYPI = {"pytorch": "torch", "py-opencv": "opencv-python-headless", "opencv": "opencv-python-headless",
                 "pytorch-cpu": "torch", "torchvision-cpu": "torchvision", "tensorflow-mkl": "tensorflow",
                 "py-xgboost": "xgboost", "lightgbm": "lightgbm", "pyyaml": "pyyaml", "beautifulsoup4": "beautifulsoup4",
                 "scikit-image": "scikit-image", "scikit-learn": "scikit-learn", "pillow": "pillow",
                 "matplotlib": "matplotlib", "matplotlib-base": "matplotlib", "pandas": "pandas", "numpy": "numpy",
                 "scipy": "scipy", "h5py": "h5py", "seaborn": "seaborn", "tqdm": "tqdm", "requests": "requests",
                 "joblib": "joblib", "nltk": "nltk", "gensim": "gensim", "spacy": "spacy", "pyarrow": "pyarrow",
                 "sympy": "sympy", "networkx": "networkx", "statsmodels": "statsmodels", "plotly": "plotly",
                 "ipykernel": "ipykernel", "jupyter": "jupyter", "protobuf": "protobuf", "six": "six",
                 "absl-py": "absl-py", "psutil": "psutil", "cython": "cython", "numba": "numba", "xlrd": "xlrd",
                 "openpyxl": "openpyxl", "sqlalchemy": "sqlalchemy", "click": "click", "pydot": "pydot",
                 "graphviz": "graphviz", "imageio": "imageio", "onnx": "onnx", "onnxruntime": "onnxruntime",
                 "tensorflow-datasets": "tensorflow-datasets", "tensorflow-hub": "tensorflow-hub"}
REQ = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?\s*(.*?)\s*$")


@dataclass
class EnvChoice:
    """What trainkit environment an Azure environment becomes."""

    keras: str = "3"                  # "2": the Keras 2 environment (tf-keras), for TF 2.x-era scripts
    device: str = "cpu"
    tf1: bool = False                 # written for TensorFlow 1.x: its scripts need a port
    tensorflow: str | None = None     # the TensorFlow version the user asked for ("2.3"), if any
    pip: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def preset(self) -> str:
        """trainkit's environment preset with this device and Keras."""
        return f"tensorflow-2.21-{'keras2-' if self.keras == '2' else ''}{self.device}"


def tf_choice(choice: EnvChoice, major: int, minor: int, source: str) -> None:
    choice.tensorflow = f"{major}.{minor}"
    if major < 2:
        choice.tf1 = True
        choice.keras = "2"
        choice.notes.append(f"{source}: TensorFlow {major}.{minor} (TF 1.x): its scripts need a port to TF 2 "
                            "(`trainkit migrate --fix` runs TensorFlow's tf_upgrade_v2 on the project's copies); "
                            "they run in the Keras 2 environment meanwhile")
    elif (major, minor) < KERAS2_BEFORE:
        choice.keras = "2"
        choice.notes.append(f"{source}: TensorFlow {major}.{minor} came with Keras 2: the Keras 2 environment "
                            "(TensorFlow 2.21 with tf-keras, TF_USE_LEGACY_KERAS=1)")


def curated(name: str) -> EnvChoice:
    """A curated environment's name (`AzureML-TensorFlow-2.3-GPU`, `azureml-tensorflow-2.11-cuda11`)."""
    choice = EnvChoice()
    text = str(name)
    if re.search(r"(?i)gpu|cuda", text):
        choice.device = "gpu"
    m = CURATED.match(text)
    if m:
        tf_choice(choice, int(m.group(2)), int(m.group(3)), f"curated environment {text}")
    else:
        choice.notes.append(f"curated environment {text}: no TensorFlow version in its name: trainkit's base "
                            f"environment (TensorFlow 2.21, Keras 3, {choice.device})")
    return choice


def split_req(line: str) -> tuple[str, str]:
    """(package name, version spec) of a requirement line; ('', line) when it is not one."""
    m = REQ.match(str(line).split(";")[0].split("#")[0])
    return (m.group(1), (m.group(3) or "").strip()) if m else ("", str(line))


def tf_version(spec: str) -> tuple[int, int] | None:
    m = re.search(r"(\d+)\.(\d+)", spec)
    return (int(m.group(1)), int(m.group(2))) if m and re.match(r"\s*(==|~=|<=|<|>=|=)", spec or "==") else None


def base_version(name: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None
    except Exception:   # noqa: BLE001 - a broken distribution in the base is not the user's problem
        return None


def map_pip(lines: list[str], choice: EnvChoice, source: str) -> None:
    """pip requirement lines into `choice.pip`, with a note for each one changed or dropped."""
    for line in lines:
        name, spec = split_req(line)
        low = name.lower()
        if not name:
            choice.notes.append(f"{source}: {line!r}: not a requirement line: left out")
        elif AZUREML_MLFLOW.match(low):
            choice.notes.append(f"{source}: {line}: mlflow-skinny instead (MLflow logs into the trainkit run)")
            keep(choice, "mlflow-skinny", "", "mlflow-skinny", source)
        elif AZUREML.match(low):
            choice.notes.append(f"{source}: {line}: not needed (trainkit answers `azureml` imports: entry.azureml_compat)")
        elif FRAMEWORK.match(low):
            framework(choice, low, spec, line, source)
        else:
            keep(choice, name, spec, line, source)


def framework(choice: EnvChoice, low: str, spec: str, line: str, source: str) -> None:
    if low.startswith(("tensorflow", "tf-nightly")) and low not in ("tensorflow-io", "tensorflow-estimator"):
        version = tf_version(spec)
        if "gpu" in low:
            choice.device = "gpu"
        if version:
            tf_choice(choice, *version, f"{source}: {line}")
    elif low == "keras" and spec and tf_version(spec) and tf_version(spec)[0] == 2:
        choice.keras = "2"
        choice.notes.append(f"{source}: {line}: Keras 2: the Keras 2 environment (tf-keras)")
    choice.notes.append(f"{source}: {line}: provided by trainkit's base environment (TensorFlow 2.21, Horovod; "
                        f"Keras {'2 through tf-keras' if choice.keras == '2' else '3'})")


def keep(choice: EnvChoice, name: str, spec: str, line: str, source: str) -> None:
    have = base_version(name)
    if have is None:
        choice.pip.append(line.strip())
        return
    if spec and not satisfied(have, spec):
        choice.notes.append(f"{source}: {line}: the base environment has {name} {have} (that pin cannot be met "
                            "with TensorFlow 2.21 on Python 3.11): left out")
    else:
        choice.notes.append(f"{source}: {line}: provided by the base environment ({name} {have})")


def satisfied(version: str, spec: str) -> bool:
    try:
        from packaging.specifiers import SpecifierSet

        return SpecifierSet(spec.replace(" ", "")).contains(version, prereleases=True)
    except Exception:   # noqa: BLE001 - an unreadable spec: treat as not met (it is reported)
        return False


def map_conda(packages: list[str], choice: EnvChoice, source: str) -> None:
    """Conda package specs: Python's version dropped, frameworks to the base, the rest to their PyPI names."""
    for spec in packages:
        text = str(spec).strip()
        body = text.split("::")[-1].strip()
        name = re.split(r"[=<>!~ ]", body, maxsplit=1)[0].lower()
        rest = body[len(name):]
        if name in ("python", "pip"):
            if name == "python":
                choice.notes.append(f"{source}: {text}: trainkit's environments use Python 3.11")
        elif FRAMEWORK.match(name) or AZUREML.match(name):
            map_pip([name + conda_spec(rest)], choice, source)
        elif name in SYSTEM_ONLY:
            choice.notes.append(f"{source}: conda package {text}: no PyPI package (a system or GPU library): left out")
        elif name in CONDA_TO_PYPI:
            map_pip([CONDA_TO_PYPI[name] + conda_spec(rest)], choice, f"{source} (conda {text})")
        else:
            choice.notes.append(f"{source}: conda package {text}: no PyPI name known to trainkit: add the PyPI "
                                "package to the environment's pip list yourself")


def conda_spec(rest: str) -> str:
    """A conda version spec as pip's (`=2.2` -> `==2.2.*`, `==2.2.0` kept, `>=1` kept)."""
    rest = rest.strip()
    if not rest:
        return ""
    if re.match(r"^=\d", rest):
        return f"=={rest[1:]}.*" if rest.count(".") < 2 else f"=={rest[1:]}"
    return rest.split("=", 2)[0] if rest.count("=") > 2 else rest
