"""The converter registry: ONNX (domain, op_type, since_version) → a function building IR.

A converter is registered for the schema versions whose semantics it implements; the model's
opset picks the schema version through `onnx.defs.get_schema`, and a version nobody
registered is an error rather than a guess.
"""

from __future__ import annotations

from collections.abc import Callable

import onnx.defs

from snnc.errors import UnsupportedError

DEFAULT_DOMAINS = ("", "ai.onnx")
CONVERTERS: dict[tuple[str, str], dict[int, Callable]] = {}


def converter(op_type: str, versions: tuple[int, ...], domain: str = ""):
    """Register the decorated function for `op_type` at each schema since_version in `versions`."""

    def register(fn: Callable) -> Callable:
        table = CONVERTERS.setdefault((domain, op_type), {})
        for version in versions:
            if version in table:
                raise ValueError(f"{op_type}-{version} registered twice")
            table[version] = fn
        return fn

    return register


def schema_version(domain: str, op_type: str, opset: int) -> int | None:
    """The since_version of the schema that `opset` selects, or None if ONNX knows no such op."""
    try:
        return onnx.defs.get_schema(op_type, opset, domain).since_version
    except onnx.defs.SchemaError:
        return None


def find_converter(domain: str, op_type: str, opset: int, where: str) -> Callable:
    """The converter for this op at this opset; `where` names the node for the error message."""
    domain = "" if domain in DEFAULT_DOMAINS else domain
    table = CONVERTERS.get((domain, op_type))
    if table is None:
        raise UnsupportedError(
            f"{where}: operator {op_type} (domain {domain or 'ai.onnx'}, opset {opset}) has no converter. "
            f"Supported: {', '.join(supported_ops())}"
        )
    version = schema_version(domain, op_type, opset)
    if version is None or version not in table:
        known = ", ".join(str(v) for v in sorted(table))
        raise UnsupportedError(
            f"{where}: {op_type} at opset {opset} selects schema version {version}, "
            f"which snnc does not support (supported versions: {known})"
        )
    return table[version]


def supported_ops() -> list[str]:
    return sorted(op for (domain, op) in CONVERTERS if domain == "")


def support_table() -> list[tuple[str, list[int]]]:
    """(op, registered since_versions) for the README's table."""
    return [(op, sorted(CONVERTERS[("", op)])) for op in supported_ops()]
