"""Helpers shared by converters: window attributes and auto_pad."""

from __future__ import annotations

from snnc.frontend.context import ImportContext


def window_attributes(ctx: ImportContext, spatial: tuple[int, ...], kernel: tuple[int, ...], dilations=None) -> dict:
    """strides and explicit pads for a windowed op, resolving auto_pad (SAME_UPPER/LOWER, VALID)."""
    attrs = ctx.attrs()
    nsp = len(spatial)
    if nsp not in (1, 2):
        raise ctx.unsupported(f"{nsp}-D windows are not supported (only 1-D and 2-D)")
    strides = tuple(attrs.get("strides", (1,) * nsp))
    dilations = tuple(dilations or (1,) * nsp)
    auto_pad = attrs.get("auto_pad", "NOTSET")
    if auto_pad in ("NOTSET", ""):
        pads = tuple(attrs.get("pads", (0,) * (2 * nsp)))
    elif auto_pad == "VALID":
        pads = (0,) * (2 * nsp)
    elif auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        pads = same_pads(spatial, kernel, strides, dilations, upper=auto_pad == "SAME_UPPER")
    else:
        raise ctx.unsupported(f"auto_pad={auto_pad!r} is not an ONNX value")
    if len(strides) != nsp or len(pads) != 2 * nsp:
        raise ctx.unsupported(f"strides {strides} / pads {pads} do not match {nsp} spatial dims")
    if any(p < 0 for p in pads):
        raise ctx.unsupported(f"negative pads {pads} are not supported")
    return {"strides": strides, "pads": pads}


def same_pads(spatial, kernel, strides, dilations, upper: bool) -> tuple[int, ...]:
    """Pads giving output = ceil(input / stride); the odd cell goes at the end (upper) or start."""
    begins, ends = [], []
    for size, k, s, d in zip(spatial, kernel, strides, dilations):
        out = -(-size // s)
        total = max(0, (out - 1) * s + (k - 1) * d + 1 - size)
        small, large = total // 2, total - total // 2
        begins.append(small if upper else large)
        ends.append(large if upper else small)
    return tuple(begins + ends)


def normalize_axes(ctx: ImportContext, axes, rank: int) -> list[int]:
    result = []
    for axis in axes:
        axis = int(axis)
        if not -rank <= axis < rank:
            raise ctx.unsupported(f"axis {axis} out of range for rank {rank}")
        result.append(axis % rank)
    return result


def require_non_batch(ctx: ImportContext, axes, what: str) -> None:
    if 0 in axes:
        raise ctx.unsupported(f"{what} along the batch dimension (axis 0) is not supported")
