"""HyperDrive's early-termination policies: the sweeper's pruners of the same names and rules
(trainkit/policies.py), mapped by `trainkit migrate`'s table (migrate/emit/policies.py)."""
from __future__ import annotations


class EarlyTerminationPolicy:
    """A policy and the arguments it was given (`pruner()`: the sweeper's pruner config)."""

    def __init__(self, **kwargs):
        self.kwargs = {k: v for k, v in kwargs.items() if v is not None}
        for k, v in self.kwargs.items():
            setattr(self, k, v)

    def pruner(self) -> tuple[dict, str | None]:
        from trainkit.migrate.emit.policies import pruner_of
        from trainkit.migrate.values import Sdk

        return pruner_of(Sdk(type(self).__name__, kwargs=dict(self.kwargs)))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.kwargs.items())})"


class BanditPolicy(EarlyTerminationPolicy):
    def __init__(self, evaluation_interval: int = 1, slack_factor: float | None = None,
                 slack_amount: float | None = None, delay_evaluation: int = 0):
        if (slack_factor is None) == (slack_amount is None):
            raise ValueError("BanditPolicy: expected exactly one of slack_factor and slack_amount")
        super().__init__(evaluation_interval=evaluation_interval, slack_factor=slack_factor,
                         slack_amount=slack_amount, delay_evaluation=delay_evaluation)


class MedianStoppingPolicy(EarlyTerminationPolicy):
    def __init__(self, evaluation_interval: int = 1, delay_evaluation: int = 0):
        super().__init__(evaluation_interval=evaluation_interval, delay_evaluation=delay_evaluation)


class TruncationSelectionPolicy(EarlyTerminationPolicy):
    def __init__(self, truncation_percentage: int, evaluation_interval: int = 1, delay_evaluation: int = 0,
                 exclude_finished_jobs: bool = False):
        super().__init__(truncation_percentage=truncation_percentage, evaluation_interval=evaluation_interval,
                         delay_evaluation=delay_evaluation, exclude_finished_jobs=exclude_finished_jobs)


class NoTerminationPolicy(EarlyTerminationPolicy):
    def __init__(self):
        super().__init__()


__all__ = ["EarlyTerminationPolicy", "BanditPolicy", "MedianStoppingPolicy", "TruncationSelectionPolicy",
           "NoTerminationPolicy"]
