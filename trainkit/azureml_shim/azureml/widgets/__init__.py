"""`from azureml.widgets import RunDetails`: `RunDetails(run).show()` keeps one output updated while a
run (trainkit.RunDetails) or a HyperDrive sweep (its trials, best first) goes on; no widget library."""
from __future__ import annotations

import threading
import time


class RunDetails:
    """A run's or a sweep's page in the notebook, refreshed in place until it ended."""

    def __init__(self, run_instance, every_s: float = 2.0):
        self.run, self.every_s, self.thread = run_instance, every_s, None

    def show(self, block: bool = False) -> "RunDetails":
        sweep = getattr(self.run, "_sweep", None)
        if sweep is None:
            from trainkit.api.notebook import RunDetails as Details

            Details(self.run._api, self.every_s).show(block)
            return self
        self._follow_sweep(sweep, block)
        return self

    def get_widget_data(self, widget_settings=None) -> dict:
        """The data the widget shows: the run's status and metrics (a sweep: its trials)."""
        sweep = getattr(self.run, "_sweep", None)
        if sweep is None:
            return {"status": self.run.get_status(), "metrics": self.run.get_metrics()}
        return {"status": self.run.get_status(), "child_runs": sweep.summary()["rows"]}

    def _follow_sweep(self, sweep, block: bool) -> None:
        from IPython.display import HTML, display

        from trainkit.api.notebook import sweep_html

        handle = display(HTML(sweep_html(sweep)), display_id=True)

        def follow() -> None:
            while not sweep.done():
                time.sleep(self.every_s)
                handle.update(HTML(sweep_html(sweep)))
            handle.update(HTML(sweep_html(sweep)))

        if block:
            follow()
        else:
            self.thread = threading.Thread(target=follow, daemon=True)
            self.thread.start()


__all__ = ["RunDetails"]
