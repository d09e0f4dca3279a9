"""Atomic per-epoch checkpoints: weights + optimizer slots + history, as npz and a state pointer.

`state.json` is written last (atomically) and names the newest complete checkpoint, so a crash at
any moment leaves either the previous checkpoint or the new one, never a half one.
"""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from ..errors import CheckpointError
from ..fsutil import atomic_write_bytes, atomic_write_json, read_json


class Checkpointer:
    def __init__(self, directory: Path, keep: int = 2):
        self.dir = Path(directory)
        self.keep = keep

    @property
    def state_file(self) -> Path:
        return self.dir / "state.json"

    def latest(self) -> dict | None:
        """{'epoch': last complete epoch (1-based), 'file': ..., 'history': [...]} or None."""
        state = read_json(self.state_file)
        if state and (self.dir / state["file"]).exists():
            return state
        return None

    def save(self, epoch: int, variables: list, history: list[dict], extra: dict | None = None) -> None:
        for partial in self.dir.glob(".*.tmp-*"):   # a killed save's temporary file (only the chief writes here)
            partial.unlink(missing_ok=True)
        buf = io.BytesIO()
        np.savez(buf, *[np.asarray(v.numpy()) for v in variables])
        name = f"epoch-{epoch:04d}.npz"
        atomic_write_bytes(self.dir / name, buf.getvalue())
        atomic_write_json(self.state_file, {"epoch": epoch, "file": name, "history": history,
                                            "num_variables": len(variables), **(extra or {})})
        for old in sorted(self.dir.glob("epoch-*.npz"))[:-self.keep]:
            old.unlink(missing_ok=True)

    def restore(self, variables: list) -> dict | None:
        state = self.latest()
        if state is None:
            return None
        with np.load(self.dir / state["file"]) as data:
            arrays = [data[f"arr_{i}"] for i in range(len(data.files))]
        if len(arrays) != len(variables):
            raise CheckpointError(f"{self.dir / state['file']}: expected {len(variables)} variables, checkpoint "
                                  f"has {len(arrays)}: the model config changed since this checkpoint was saved; "
                                  "resume with the config it was saved with, or start afresh with run.resume=never")
        for var, value in zip(variables, arrays):
            var.assign(value)
        return state
