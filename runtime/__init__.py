"""Execution: the numpy reference executors (the living definition of the semantics)."""

from snnc.runtime.ann import execute

__all__ = ["execute"]
