"""The worker side: what runs in each rank's process (`python -m trainkit.worker JOB_SPEC`): the
recipe, strategies, the user's script, environment checks. Imports TensorFlow only where it trains."""

__all__: list[str] = []   # internal: runs inside each rank's process
