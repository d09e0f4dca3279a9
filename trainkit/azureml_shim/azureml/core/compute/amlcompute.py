"""`from azureml.core.compute.amlcompute import AmlCompute`."""
from . import AmlCompute, ComputeStatus as AmlComputeStatus, ProvisioningConfiguration as AmlComputeProvisioningConfiguration

__all__ = ["AmlCompute", "AmlComputeStatus", "AmlComputeProvisioningConfiguration"]
