"""HyperDrive's parameter expressions. trainkit's Optuna sweeper samples choice, uniform,
loguniform (natural-log bounds, as Azure's), quniform, qloguniform (without its q) and randint;
normal and lognormal distributions are refused at submission, naming what to use instead."""
from __future__ import annotations


class Expression:
    """One expression: its kind (`choice`, `uniform`, ...) and its arguments."""

    def __init__(self, kind: str, *args):
        self.kind, self.args = kind, list(args)

    def __repr__(self) -> str:
        return f"{self.kind}({', '.join(map(repr, self.args))})"

    def __iter__(self):   # Azure's expressions were lists: ["choice", [[1, 2]]]
        return iter([self.kind, [self.args]])


def choice(*options) -> Expression:
    if len(options) == 1 and not isinstance(options[0], (str, bytes)) and hasattr(options[0], "__iter__"):
        options = tuple(options[0])
    return Expression("choice", list(options))


def randint(upper: int) -> Expression:
    return Expression("randint", upper)


def uniform(min_value: float, max_value: float) -> Expression:
    return Expression("uniform", min_value, max_value)


def quniform(min_value: float, max_value: float, q: float) -> Expression:
    return Expression("quniform", min_value, max_value, q)


def loguniform(min_value: float, max_value: float) -> Expression:
    return Expression("loguniform", min_value, max_value)


def qloguniform(min_value: float, max_value: float, q: float) -> Expression:
    return Expression("qloguniform", min_value, max_value, q)


def normal(mu: float, sigma: float) -> Expression:
    return Expression("normal", mu, sigma)


def qnormal(mu: float, sigma: float, q: float) -> Expression:
    return Expression("qnormal", mu, sigma, q)


def lognormal(mu: float, sigma: float) -> Expression:
    return Expression("lognormal", mu, sigma)


def qlognormal(mu: float, sigma: float, q: float) -> Expression:
    return Expression("qlognormal", mu, sigma, q)


__all__ = ["choice", "randint", "uniform", "quniform", "loguniform", "qloguniform", "normal", "qnormal",
           "lognormal", "qlognormal"]
