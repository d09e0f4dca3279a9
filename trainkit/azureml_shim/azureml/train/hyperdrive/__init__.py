"""Azure ML SDK v1's HyperDrive on trainkit's Optuna sweeper: `HyperDriveConfig`, the sampling
methods, the parameter expressions, the early-termination policies (the sweeper's pruners of the
same rules), `PrimaryMetricGoal` and `HyperDriveRun`."""
from .parameter_expressions import (choice, lognormal, loguniform, normal, qlognormal, qloguniform, qnormal,
                                    quniform, randint, uniform)
from .policy import (BanditPolicy, EarlyTerminationPolicy, MedianStoppingPolicy, NoTerminationPolicy,
                     TruncationSelectionPolicy)
from .run import HyperDriveRun
from .runconfig import HyperDriveConfig, PrimaryMetricGoal
from .sampling import BayesianParameterSampling, GridParameterSampling, HyperParameterSampling, RandomParameterSampling

__all__ = ["HyperDriveConfig", "PrimaryMetricGoal", "HyperDriveRun", "RandomParameterSampling",
           "GridParameterSampling", "BayesianParameterSampling", "HyperParameterSampling", "BanditPolicy",
           "MedianStoppingPolicy", "TruncationSelectionPolicy", "NoTerminationPolicy", "EarlyTerminationPolicy",
           "choice", "randint", "uniform", "quniform", "loguniform", "qloguniform", "normal", "qnormal", "lognormal",
           "qlognormal"]
