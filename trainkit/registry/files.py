"""A model registered from files keeps them as they were (Azure ML's `Model.register(ws, model_path,
model_name)`, `run.register_model(model_name, model_path=...)`): the file or folder at the path is
stored under `files/<its own name>` in the version, and a score.py finds it where Azure put it,
`os.path.join(AZUREML_MODEL_DIR, '<its name>')`. trainkit's own artifacts go beside it when
trainkit can load the model (Keras 3: a .keras file, a SavedModel, a whole-model .h5, a model's
JSON with its weights): model.onnx (exported and checked), model.keras, saved_model (only when no
ONNX export is usable, for `--runtime tensorflow`). When it cannot, the files are registered all
the same, with the reason under `onnx` (status "skipped"): score.py loads them itself.

A version without `files/` (a run's own model) shows a score.py all its artifacts instead
(model.keras, saved_model/, model.onnx). Registering files: registry/publish.py (`register_files`);
this module imports no TensorFlow."""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from ..errors import NotFoundError, UsageError
from ..fsutil import sha256_file
from .store import ModelRef, Registry

FILES = "files"   # the artifact prefix of the files as registered


def registered_name(path: Path) -> str:
    """The name the file or folder keeps: its own (`outputs/model` -> `model`)."""
    return Path(os.path.abspath(path)).name


def original_artifacts(path: Path) -> dict[str, Path]:
    """{files/<name>: path}: what `Registry.register` stores for the files as they are."""
    if path.is_symlink() or not path.exists():
        raise NotFoundError(f"model_path {str(path)!r}: expected a file or a folder, got "
                            f"{'a symbolic link' if path.is_symlink() else 'nothing there'}")
    return {f"{FILES}/{registered_name(path)}": path}


TRAINKIT_OUTPUTS = ("model.keras", "saved_model", "model.onnx", ".model.keras.tmp.keras", ".saved_model.tmp")


def run_files(run_dir: Path, rel: str, saved: dict | None = None) -> dict[str, Path]:
    """{files/...: path} of the model a run saved at `rel`, as the script left it: without what
    trainkit writes there itself (its .keras copy, SavedModel and ONNX export in outputs/model, a
    Keras 2 model's conversion), unless that is the script's own model (`saved`: load_script_model's
    record of what was found)."""
    src = run_dir / rel
    leaf = registered_name(src)
    if not src.is_dir():
        return original_artifacts(src)
    saved = saved or {}
    drop = {src / n for n in TRAINKIT_OUTPUTS} if src == run_dir / "outputs" / "model" else set()
    if saved.get("converted_to"):
        drop.add(run_dir / saved["converted_to"])
    drop -= {run_dir / f for f in saved.get("files", [])}
    return {f"{FILES}/{leaf}/{child.name}": child for child in sorted(src.iterdir())
            if child not in drop and not child.is_symlink()}


def files_record(path: Path, saved: dict | None) -> dict:
    """What an entry says of its files: their name and the model's format (None: not a Keras model)."""
    return {"name": registered_name(path), "format": (saved or {}).get("format")}


def has_files(entry: dict) -> bool:
    return any(k.startswith(FILES + "/") for k in entry.get("manifest") or {})


def visible(entry: dict) -> dict[str, str]:
    """{path a score.py sees: sha256} of a version: `files/`'s contents, else every artifact."""
    manifest = entry.get("manifest") or {}
    if has_files(entry):
        return {k[len(FILES) + 1:]: v["sha256"] for k, v in manifest.items() if k.startswith(FILES + "/")}
    return {k: v["sha256"] for k, v in manifest.items()}


def materialize(registry: Registry, name: str, version: int, dest: Path) -> Path:
    """The version's files as a score.py sees them, in `dest` (AZUREML_MODEL_DIR of one model):
    a verified copy, reused when it holds exactly these files with these sha256."""
    entry = registry.entry(ModelRef(name, version))
    want = visible(entry)
    if dest.is_dir() and _holds_exactly(dest, want):
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}-", dir=dest.parent))
    try:
        registry.download(name, version, tmp, FILES if has_files(entry) else None)   # verifies every sha256
        src = tmp / FILES if has_files(entry) else tmp
        if dest.exists():
            shutil.rmtree(dest)
        os.replace(src, dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dest


def model_path_in(version_dir: Path) -> Path:
    """Azure's `Model.get_model_path` answer inside a version's folder: its only file or folder,
    else the folder itself."""
    children = [p for p in version_dir.iterdir() if not p.name.startswith(".")] if version_dir.is_dir() else []
    return children[0] if len(children) == 1 else version_dir


def _holds_exactly(dest: Path, want: dict[str, str]) -> bool:
    have = {p.relative_to(dest).as_posix(): p for p in dest.rglob("*") if p.is_file() or p.is_symlink()}
    return set(have) == set(want) and all(not p.is_symlink() and sha256_file(p) == want[rel] for rel, p in have.items())



def check_model_path(model_path) -> Path:
    """A model_path argument as a Path, refused when it is not a str or path."""
    if not isinstance(model_path, (str, os.PathLike)) or not str(model_path):
        raise UsageError(f"model_path: expected the path of a model file or folder, got {model_path!r}")
    return Path(model_path)
