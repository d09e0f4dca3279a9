"""`trainkit migrate --fix`: the mechanical rewrites of compat's findings, made with LibCST so that
comments and layout stay as they were, and (asked for, for TF 1 scripts) TensorFlow's own
`tf_upgrade_v2` on a temporary copy. Nothing here writes the input file: the new text is returned and
the caller writes the project's copy. No rewrite adds or removes a line, so the line numbers of the
findings are those of the original file."""
from __future__ import annotations

import re
from pathlib import Path

from .compat import Edit, Finding, scan

UPGRADE_TIMEOUT = 600      # seconds for tf_upgrade_v2 (it imports TensorFlow: ~10 s here)
FIX_MAX_CHARS = 300_000    # LibCST takes ~10 s per 100 kB here; a training script is a few kB
UPGRADE_MODULE = "tensorflow.tools.compatibility.tf_upgrade_v2_main"   # what the venv's tf_upgrade_v2 runs
LEGACY = "keras.optimizers.legacy"
REPORT_LINE = re.compile(r"^(\d+):(\d+): (INFO|WARNING|ERROR): (.*)$")


def apply(path: str, text: str, keras: str = "3", tf_upgrade: bool = False) -> tuple[str, list[Finding]]:
    """`text` with every mechanical finding rewritten, and the findings applied (original line numbers).
    With `tf_upgrade`, a script with TF 1 names also goes through tf_upgrade_v2, then the rewrites again
    (on Keras 3, that undoes its move of tf.keras optimizers to `legacy`, which Keras 3 refuses)."""
    new, applied = rewrite(path, text, keras)
    if not tf_upgrade or not any(f.kind == "tf1" and f.mechanical and f.edit is None for f in scan(path, new, keras)):
        return new, applied
    upgraded, changes = upgrade_tf1(path, new)
    again, reapplied = rewrite(path, upgraded, keras)
    if keras == "3":   # its legacy optimizers and our undoing of them cancel out: neither is a change
        undone = {f.line for f in reapplied if f.rule.endswith(LEGACY)}
        changes = [f for f in changes if not (f.line in undone and LEGACY in f.what)]
        reapplied = [f for f in reapplied if not f.rule.endswith(LEGACY)]
    return again, sorted(applied + changes + reapplied, key=lambda f: (f.line, f.col))


def rewrite(path: str, text: str, keras: str = "3") -> tuple[str, list[Finding]]:
    """The LibCST pass: every finding of `scan` that carries an edit, applied where its node is found (a file
    over FIX_MAX_CHARS, or one LibCST cannot parse, is left as it is: nothing applied)."""
    findings = [f for f in scan(path, text, keras) if f.edit is not None]
    if not findings or len(text) > FIX_MAX_CHARS:
        return text, []
    import libcst as cst
    from libcst.metadata import MetadataWrapper

    try:
        module = MetadataWrapper(cst.parse_module(text), unsafe_skip_copy=True)   # parsed here, used once
    except (cst.ParserSyntaxError, RecursionError, MemoryError):
        return text, []
    rewriter = _rewriter({f.edit: f for f in findings})
    new = module.visit(rewriter).code
    return new, [f for f in findings if f.edit in rewriter.done]


def _rewriter(edits: dict[Edit, Finding]):
    """A LibCST transformer that replaces each node whose source span is an edit's span (built lazily: libcst is heavy)."""
    import libcst as cst
    from libcst.metadata import PositionProvider

    by_span = {(e.start, e.end): e for e in edits}

    class Rewriter(cst.CSTTransformer):
        METADATA_DEPENDENCIES = (PositionProvider,)

        def __init__(self):
            super().__init__()
            self.done: set[Edit] = set()

        def on_leave(self, original, updated):
            if not isinstance(original, (cst.Name, cst.Attribute, cst.ImportFrom, cst.ImportAlias)):
                return updated
            pos = self.get_metadata(PositionProvider, original, None)
            edit = pos and by_span.get(((pos.start.line, pos.start.column), (pos.end.line, pos.end.column)))
            if edit is None or edit in self.done:
                return updated
            self.done.add(edit)
            return _replacement(cst, updated, edit.text)

    return Rewriter()


def _replacement(cst, node, text: str):
    """The new node for `text`, keeping what the old node owned around it (parentheses, comma, semicolon)."""
    if isinstance(node, cst.ImportFrom):
        return cst.parse_statement(text + "\n").body[0].with_changes(semicolon=node.semicolon)
    if isinstance(node, cst.ImportAlias):
        return cst.parse_statement(f"import {text}\n").body[0].names[0].with_changes(comma=node.comma)
    new = cst.parse_expression(text)
    if isinstance(new, (cst.Name, cst.Attribute)):
        return new.with_changes(lpar=node.lpar, rpar=node.rpar)
    return new


# ------------------------------------------------------------------ TensorFlow's tf_upgrade_v2, on a copy
def upgrade_tf1(path: str, text: str, timeout: float = UPGRADE_TIMEOUT) -> tuple[str, list[Finding]]:
    """`text` through tf_upgrade_v2 (run on a temporary copy, with this interpreter), and what it changed
    as findings; if it cannot run, the text unchanged and one finding saying why."""
    import os
    import subprocess
    import sys
    import tempfile

    with tempfile.TemporaryDirectory(prefix="trainkit-tf-upgrade-") as tmp:
        src, out, report = (Path(tmp) / n for n in ("in.py", "out.py", "report.txt"))
        src.write_text(text)
        cmd = [sys.executable, "-m", UPGRADE_MODULE, "--infile", str(src),
               "--outfile", str(out), "--reportfile", str(report)]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL,
                                  env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
            failed = None if proc.returncode == 0 and out.exists() else \
                f"exit {proc.returncode}: {(proc.stderr.strip().splitlines() or [''])[-1][:300]}"
        except (OSError, subprocess.TimeoutExpired) as e:
            failed = f"{type(e).__name__}: {e}"
        if failed:
            return text, [Finding(path, 1, "tf1", f"tf_upgrade_v2 did not run ({failed})",
                                  "run `tf_upgrade_v2 --infile FILE --outfile FILE` by hand", False, "tf_upgrade_v2")]
        return out.read_text(), parse_report(path, report.read_text())


def parse_report(path: str, report: str) -> list[Finding]:
    """tf_upgrade_v2's report as findings: each change it made (INFO) and each it asks you to check (WARNING)."""
    detailed = report.split("Detailed log follows:", 1)[-1]
    found = []
    for line in detailed.splitlines():
        m = REPORT_LINE.match(line.strip())
        if m and m.group(3) != "ERROR":     # ERROR: it changed nothing there (compat's own finding says what to do)
            fix = "applied by tf_upgrade_v2" + ("; check it" if m.group(3) == "WARNING" else "")
            found.append(Finding(path, int(m.group(1)), "tf1", m.group(4), fix, True, "tf_upgrade_v2",
                                 col=int(m.group(2))))
    return found
