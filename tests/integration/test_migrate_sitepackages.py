"""`trainkit migrate` on tens of thousands of real Python files no one here wrote: every `.py` of
this environment's site-packages (TensorFlow, Keras, Ray, Jupyter, ...). Nothing escapes as an
exception and the process stays under 500 MB."""
from __future__ import annotations

import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

CHILD = """
import sys
from trainkit.cli import main
rc = main(sys.argv[1:])
peak = [ln for ln in open('/proc/self/status') if ln.startswith('VmHWM')][0].split()[1]
print(f'peak_kb={peak} rc={rc}', flush=True)
"""


def test_migrate_over_all_of_site_packages_raises_nothing_and_stays_under_500_mb(tmp_path):
    site = Path(sysconfig.get_paths()["purelib"])
    files = sum(1 for _ in site.rglob("*.py"))
    assert files > 10_000, files
    proc = subprocess.run([sys.executable, "-c", CHILD, "migrate", str(site), "--to", str(tmp_path / "out")],
                          capture_output=True, text=True, timeout=1200)
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    summary = [ln for ln in proc.stdout.splitlines() if ln.startswith("migrated ")]
    assert summary, proc.stdout[-2000:]
    peak_kb = int(proc.stdout.rsplit("peak_kb=", 1)[1].split()[0])
    assert peak_kb < 500_000, f"peak {peak_kb} kB over {files} files"
    report = (tmp_path / "out" / "MIGRATION.md").read_text()
    assert report.startswith("# Migration from Azure ML SDK v1")
