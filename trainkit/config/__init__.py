"""Config schemas and validation. Only this package and the entry point import Hydra."""
