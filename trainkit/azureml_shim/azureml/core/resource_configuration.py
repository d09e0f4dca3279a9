"""`ResourceConfiguration(cpu, memory_in_gb, gpu)`: the resources a registered model is served with
(kept as the registry entry's resource_configuration)."""
from __future__ import annotations


class ResourceConfiguration:
    def __init__(self, cpu: float | None = None, memory_in_gb: float | None = None, gpu: int | None = None):
        self.cpu, self.memory_in_gb, self.gpu = cpu, memory_in_gb, gpu

    def serialize(self) -> dict:
        return {"cpu": self.cpu, "memoryInGB": self.memory_in_gb, "gpu": self.gpu}

    def __repr__(self) -> str:
        return f"ResourceConfiguration(cpu={self.cpu}, memory_in_gb={self.memory_in_gb}, gpu={self.gpu})"


__all__ = ["ResourceConfiguration"]
