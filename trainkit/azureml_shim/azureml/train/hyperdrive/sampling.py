"""HyperDrive's sampling methods as the Optuna sweeper's samplers: random, grid (every combination of
choices, in order), Bayesian (Optuna's TPE, where Azure used Gaussian processes)."""
from __future__ import annotations


class HyperParameterSampling:
    sampler = "random"

    def __init__(self, parameter_space: dict, properties: dict | None = None):
        if not isinstance(parameter_space, dict) or not parameter_space:
            raise ValueError(f"{type(self).__name__}: expected a dict of parameter expressions, got {parameter_space!r}")
        self.parameter_space, self.properties = dict(parameter_space), dict(properties or {})

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.parameter_space})"


class RandomParameterSampling(HyperParameterSampling):
    sampler = "random"


class GridParameterSampling(HyperParameterSampling):
    sampler = "grid"


class BayesianParameterSampling(HyperParameterSampling):
    sampler = "tpe"


__all__ = ["HyperParameterSampling", "RandomParameterSampling", "GridParameterSampling", "BayesianParameterSampling"]
