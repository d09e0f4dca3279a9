"""`trainkit migrate` against the plain baseline of reading and parsing the same files with `ast`.

    .venv/bin/python scripts/bench_migrate.py [FOLDER] [--repeats N]

FOLDER defaults to this environment's site-packages (tens of thousands of files no one here wrote).
Each measurement is a fresh process: wall time and peak memory (VmHWM) of the baseline (read every
.py/.ipynb file, ast.parse its code) and of `trainkit migrate FOLDER --to TMP` (the analyzer, the
emitter and the report), interleaved; the ratio is migrate / baseline, median of the repeats."""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time

PEAK = "print([ln for ln in open('/proc/self/status') if ln.startswith('VmHWM')][0].split()[1])"
BASELINE = """
import ast, json, os, sys
for top, dirs, files in os.walk(sys.argv[1]):
    for f in files:
        if f.endswith(('.py', '.ipynb')):
            path = os.path.join(top, f)
            try:
                text = open(path, 'rb').read().decode('utf-8', 'replace')
                if f.endswith('.ipynb'):
                    text = '\\n'.join(''.join(c.get('source', '')) for c in json.loads(text).get('cells', []))
                ast.parse(text)
            except (SyntaxError, ValueError, RecursionError, MemoryError, AttributeError):
                pass
""" + PEAK
MIGRATE = "import sys\nfrom trainkit.cli import main\nmain(sys.argv[1:])\n" + PEAK


def measure(code: str, args: list[str]) -> tuple[float, int]:
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, check=True).stdout
    return time.perf_counter() - start, int(out.split()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("folder", nargs="?", default=sysconfig.get_paths()["purelib"])
    p.add_argument("--repeats", type=int, default=3)
    a = p.parse_args()
    rows = []
    for i in range(a.repeats):
        base = measure(BASELINE, [a.folder])
        with tempfile.TemporaryDirectory() as tmp:
            mig = measure(MIGRATE, ["migrate", a.folder, "--to", f"{tmp}/out"])
        rows.append((base, mig))
        print(f"repeat {i + 1}: parse {base[0]:.1f} s {base[1] / 1024:.0f} MB | migrate {mig[0]:.1f} s "
              f"{mig[1] / 1024:.0f} MB | ratio {mig[0] / base[0]:.2f}", flush=True)
    ratios = [m[0] / b[0] for b, m in rows]
    print(f"{a.folder}: migrate / parse = {statistics.median(ratios):.2f} (median of {a.repeats}; "
          f"range {min(ratios):.2f}-{max(ratios):.2f}); migrate peak {max(m[1] for _, m in rows) / 1024:.0f} MB")


if __name__ == "__main__":
    main()
