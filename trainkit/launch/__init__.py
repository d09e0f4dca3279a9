"""What happens on the submitting machine before a compute backend takes over: finding the project,
its source snapshot, built environments, creating the run record (submit.py), `trainkit init`."""

__all__: list[str] = []   # internal: the submitting side of `python -m trainkit` and trainkit.submit
