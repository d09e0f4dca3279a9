"""Model registry (store.py: no TensorFlow) and ONNX export (export.py: TensorFlow, tf2onnx, onnxruntime)."""
from .store import ModelRef, Registry, check_name

__all__ = ["ModelRef", "Registry", "check_name"]
