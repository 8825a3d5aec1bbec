"""Neuron models as registered classes: `model("if")`, `names()`; `RATE` and `BIT_PLANE` codings.

Each model's file holds its equations, defaults, coding and both reference steps (base.py
says which hooks engines call). Adding a model: its class here (registered below), its kernel
builders in the targets (targets/cpu: plan lowering and LLVM kernels; targets/accel: the
instructions it emits and the simulator's), and its tests (docs/architecture.md).
"""

from __future__ import annotations

from snnc.errors import UsageError
from snnc.models.base import BIT_PLANE, RATE, Coding, NeuronModel
from snnc.models.if_ import IntegrateAndFire
from snnc.models.ilif import ILif
from snnc.models.msat import Msat

MODELS: dict[str, NeuronModel] = {cls.name: cls() for cls in (IntegrateAndFire, ILif, Msat)}


def names() -> tuple[str, ...]:
    return tuple(MODELS)


def model(name: str) -> NeuronModel:
    if name not in MODELS:
        raise UsageError(f"unknown neuron model {name!r}; known: {', '.join(MODELS)}")
    return MODELS[name]


__all__ = ["BIT_PLANE", "MODELS", "RATE", "Coding", "NeuronModel", "model", "names"]
