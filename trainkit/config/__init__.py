"""Config schemas and validation. Only this package and the entry point import Hydra."""

__all__: list[str] = []   # internal: configs are composed by `python -m trainkit` and trainkit.compose
