"""Needs a package the base environment does not have (tabulate): it runs only in a built environment."""
import sys

import tabulate

from trainkit.run import get_context

print(f"tabulate {tabulate.__version__} imported from {tabulate.__file__} by {sys.executable}", flush=True)
get_context().log("tabulate_ok", 1)
