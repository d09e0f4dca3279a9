"""What happens on the submitting machine before a compute backend takes over: finding the project,
its source snapshot, built environments, creating the run record (submit.py), `trainkit init`."""
