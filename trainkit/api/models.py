"""`trainkit.ModelVersion`: one registered version of a model (Azure ML's Model)."""
from __future__ import annotations

from pathlib import Path

import numpy as np


class ModelVersion:
    """`name:version` in the workspace's registry: its entry (framework, resources, lineage, ONNX
    parity), its files, and `predict` with onnxruntime on its model.onnx."""

    def __init__(self, workspace, name: str, version: int):
        self.workspace, self.name, self.version = workspace, name, int(version)
        self._session = None

    @property
    def metadata(self) -> dict:
        """The version's registry entry (what `trainkit models show --json` prints)."""
        from ..registry.store import ModelRef

        return self.workspace.registry.entry(ModelRef(self.name, self.version))

    @property
    def path(self) -> Path | str:
        """Where the version lives in the registry (a local directory, or an fsspec URL)."""
        path = self.metadata["path"]
        return Path(path) if "://" not in str(path) else path

    @property
    def aliases(self) -> list[str]:
        return list(self.metadata.get("aliases") or [])

    @property
    def tags(self) -> dict:
        return dict(self.metadata.get("tags") or {})

    @property
    def run_id(self) -> str | None:
        """The run that trained it (None for a model registered from a file)."""
        return self.metadata.get("run_id")

    def download(self, to: str | Path | None = None, artifact: str | None = None) -> list[Path]:
        """Copy the version's artifacts (or one: model.keras, saved_model, model.onnx), sha256
        verified, into `to` (default ./NAME-vVERSION)."""
        dest = Path(to or f"{self.name}-v{self.version}")
        return self.workspace.registry.download(self.name, self.version, dest, artifact)

    def predict(self, x, batch: int = 1024) -> np.ndarray:
        """The model's first output for `x` (numpy, the model's input shape), run by onnxruntime
        on the registered model.onnx (by TensorFlow on its SavedModel when the version has no
        usable ONNX export), `batch` rows per call."""
        session = self._open()
        [inp] = session.get_inputs()
        x = np.asarray(x, dtype=np.float32)
        outs = [session.run(None, {inp.name: x[i:i + batch]})[0] for i in range(0, len(x), batch)]
        return np.concatenate(outs) if outs else np.zeros((0,), np.float32)

    def _open(self):
        if self._session is None:
            from ..serve.models import fetch
            from ..serve.runtimes import open_session

            entry, runtime, path = fetch(self.workspace.registry, self.name, self.version,
                                         self.workspace.root / "serving-cache")
            self._session = open_session(runtime, path, 1, [t["name"] for t in entry["signature"]["outputs"]])
        return self._session

    def __repr__(self) -> str:
        return f"ModelVersion({self.name!r}, {self.version})"

    def _repr_html_(self) -> str:
        import html

        e = self.metadata
        onnx = e.get("onnx") or {}
        metrics = "".join(f"<tr><td>{html.escape(k)}</td><td>{v:.4f}</td></tr>" for k, v in (e.get("metrics") or {}).items()
                          if isinstance(v, float))
        return (f"<div class='trainkit-model'><b>model {html.escape(self.name)}:{html.escape(str(self.version))}</b> "
                f"aliases {html.escape(', '.join(self.aliases) or '-')} · run {html.escape(str(e.get('run_id')))} · "
                f"onnx {html.escape(str(onnx.get('status')))}"
                + (f" (max_abs_diff {onnx['max_abs_diff']:.2g})" if isinstance(onnx.get("max_abs_diff"), float) else "")
                + (f"<table>{metrics}</table>" if metrics else "") + "</div>")
