"""`from azureml.core.compute_target import ComputeTargetException` (and the targets themselves)."""
from ..exceptions import ComputeTargetException
from .compute import AmlCompute, ComputeTarget

AbstractComputeTarget = ComputeTarget

__all__ = ["ComputeTargetException", "ComputeTarget", "AmlCompute", "AbstractComputeTarget"]
