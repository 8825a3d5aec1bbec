"""The conversion pipeline: ANN graph → SNN graph, as a flat list of named passes."""

from __future__ import annotations

from snnc.passes.balance_thresholds import BalanceThresholds
from snnc.passes.base import PASSES, Pass
from snnc.passes.canonicalize import Canonicalize
from snnc.passes.fold_bn import FoldBatchNorm
from snnc.passes.fold_constants import FoldConstants
from snnc.passes.lower_pooling import LowerPooling
from snnc.passes.schedule import Schedule
from snnc.passes.spike_confidence import SpikeConfidence
from snnc.passes.substitute_neurons import SubstituteNeurons

from snnc.errors import UsageError

DEFAULT_PASSES = (
    "fold-constants",
    "canonicalize",
    "fold-bn",
    "lower-pooling",
    "substitute-neurons",
    "balance-thresholds",
    "spike-confidence",
    "schedule",
)


def conversion_pipeline(
    neuron: str = "ilif",
    percentile: float = 99.99,
    per_channel: bool = False,
    reset: str = "subtract",
    v_init: float = 0.5,
    maxpool: str = "gate",
    pipelined: bool = True,
    names: tuple[str, ...] = DEFAULT_PASSES,
    msat: dict | None = None,
    spike_confidence: bool = False,
) -> list[Pass]:
    """The passes in `names`, each configured from these settings."""
    build = {
        FoldConstants.name: lambda: FoldConstants(),
        Canonicalize.name: lambda: Canonicalize(),
        FoldBatchNorm.name: lambda: FoldBatchNorm(),
        LowerPooling.name: lambda: LowerPooling(neuron=neuron, maxpool=maxpool),
        SubstituteNeurons.name: lambda: SubstituteNeurons(model=neuron, reset=reset, v_init=v_init, msat=msat),
        BalanceThresholds.name: lambda: BalanceThresholds(percentile=percentile, per_channel=per_channel),
        SpikeConfidence.name: lambda: SpikeConfidence(apply=spike_confidence),
        Schedule.name: lambda: Schedule(pipelined=pipelined),
    }
    unknown = [n for n in names if n not in build]
    if unknown:
        raise UsageError(f"unknown pass(es) {unknown}; known: {', '.join(PASSES)}")
    return [build[n]() for n in names]
