"""The compatibility review of an experiment's scripts: what breaks on today's stack (numpy 2,
Keras 3, TF 1, run-time downloads, azureml imports), each with its place and fix; with `--fix`
the mechanical rewrites are applied to the project's copies (never to the sources)."""
from __future__ import annotations

from . import Migration


def review(m: Migration, exp) -> None:
    from ..compat import scan

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
        m.project.findings += [f for f in scan(path, text, keras=exp.keras)]
