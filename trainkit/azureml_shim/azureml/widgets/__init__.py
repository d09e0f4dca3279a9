"""`from azureml.widgets import RunDetails`: `RunDetails(run).show()` keeps one output updated while a
run (trainkit.RunDetails) or a HyperDrive sweep (its trials, best first) goes on; no widget library."""
from __future__ import annotations


class RunDetails:
    """A run's or a sweep's page in the notebook, refreshed in place until it ended."""

    def __init__(self, run_instance, every_s: float = 2.0):
        self.run, self.every_s, self.thread = run_instance, every_s, None

    def show(self, block: bool = False) -> None:
        """Display it, refreshed in place until it ended (trainkit.RunDetails); returns None."""
        from trainkit.api.notebook import RunDetails as Details

        sweep = getattr(self.run, "_sweep", None)
        details = Details(sweep if sweep is not None else self.run._api, self.every_s)
        details.show(block)
        self.thread = details.thread

    def get_widget_data(self, widget_settings=None) -> dict:
        """The data the widget shows: the run's status and metrics (a sweep: its trials)."""
        sweep = getattr(self.run, "_sweep", None)
        if sweep is None:
            return {"status": self.run.get_status(), "metrics": self.run.get_metrics()}
        return {"status": self.run.get_status(), "child_runs": sweep.summary()["rows"]}


__all__ = ["RunDetails"]
