"""A script a compromised host might run: it leaves a symbolic link to a local secret in outputs/."""
import os
import sys

from trainkit.run import get_context

run = get_context()
(run.output_dir / "result.txt").write_text("ok\n")
os.symlink(sys.argv[1], run.output_dir / "leak")
os.symlink(os.path.dirname(sys.argv[1]), run.output_dir / "leakdir")
run.log("score", 1.0)
