"""The ONNX frontend: a registry of small converters, one file per op family."""

from snnc.frontend.importer import import_onnx, load_model
from snnc.frontend.registry import support_table, supported_ops

__all__ = ["import_onnx", "load_model", "support_table", "supported_ops"]
