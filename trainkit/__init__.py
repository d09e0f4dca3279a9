"""trainkit: declarative, config-driven Keras 3 training."""

__version__ = "0.1.0"
