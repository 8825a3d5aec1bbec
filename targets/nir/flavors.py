"""The forms a NIR export takes, one per importer whose conventions differ from NIR's text.

NIR (v1.0) says what a node computes but not everything an importer needs, and importers read
it differently. What each one did when we ran it (tests/interop, docs/interop.md):

- snnTorch 1.0 (`snntorch.import_nir.import_from_nir`): IF becomes `Leaky(beta=0.9,
  init_hidden=False)`, which leaks and hands its (spikes, membrane) pair to the next layer, so no
  IF network with a layer after a neuron runs. LIF becomes `Leaky(beta=1 − dt/τ, reset to zero)`
  with dt = 1e-4 and weights scaled by r·dt/τ: with τ = 1e12 and r = τ/dt that is IF with reset
  to zero, exactly (β rounds to 1 in float32). One threshold per layer; AvgPool2d, no SumPool2d;
  `Flatten` dims are passed to torch unshifted (NIR's start_dim 0 flattens the batch), so a dense
  layer after a map goes out as a convolution over the whole map.
- Sinabs 3.1 (`sinabs.from_nir`): IF becomes `IAFSqueeze` (subtract reset, several spikes per
  step when v ≥ 2θ, membrane floored at −θ); SumPool2d, not AvgPool2d. Its graph executor
  (nirtorch's legacy GraphExecutor) runs nodes in depth-first order, so the later input of a
  residual addition arrives from the step before: residual networks are refused in this form.
- SpikingJelly 2.0 (`spikingjelly.activation_based.nir_exchange.import_from_nir`): IF becomes
  `IFNode` with reset to v_reset (zero) and v ≥ θ, one threshold per layer, and it requires
  r = 1/dt (dt = 1e-4: v += dt·r·I = I); AvgPool2d; no grouped convolutions.
- NIR itself (`nir`, the default): thresholds per neuron, AvgPool2d, Flatten + Affine.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Flavor:
    name: str
    fold_thresholds: bool  # every threshold 1, each θ folded into the weights around its layer
    sum_pool: bool  # SumPool2d, its 1/k folded into the next layer's weights (else AvgPool2d)
    dense_as_conv: bool  # a dense layer on a map: a convolution over the whole map (no Flatten)
    importer: str  # whose reader this form is for
    if_as_lif: bool = False  # IF written as a LIF whose leak rounds away (LIF_TAU, LIF_DT)
    reset: str | None = None  # the reset the importer runs, which the network must be converted with
    if_r: float = 1.0  # IF's resistance r: the importer's step integrates dt·r·I
    fan_in: bool = True  # whether the importer runs a node with several inputs (a residual addition) correctly


LIF_TAU = 1e12  # seconds: dt/τ = 1e-16 vanishes next to 1, so β = 1
LIF_DT = 1e-4  # the importers' step (snnTorch's, SpikingJelly's default), which their scales assume

FLAVORS = {
    "nir": Flavor("nir", fold_thresholds=False, sum_pool=False, dense_as_conv=False, importer="NIR's own semantics"),
    "snntorch": Flavor(
        "snntorch",
        fold_thresholds=True,
        sum_pool=False,
        dense_as_conv=True,
        importer="snntorch.import_nir.import_from_nir",
        if_as_lif=True,
        reset="zero",
    ),  # fmt: skip
    "sinabs": Flavor(
        "sinabs", fold_thresholds=True, sum_pool=True, dense_as_conv=False, importer="sinabs.from_nir", fan_in=False
    ),
    "spikingjelly": Flavor(
        "spikingjelly",
        fold_thresholds=True,
        sum_pool=False,
        dense_as_conv=False,
        importer="spikingjelly.activation_based.nir_exchange.import_from_nir",
        reset="zero",
        if_r=1 / LIF_DT,
    ),
}


def nir_conversion(flavor: str = "nir") -> dict:
    """What a NIR export needs of the conversion (compile -t nir sets these unless told otherwise):
    IF is NIR's one non-leaky spiking neuron, NIR has no initial membrane and no spike max pool,
    and some importers reset to zero whatever the file says."""
    reset = FLAVORS[flavor].reset if flavor in FLAVORS else None
    return {"neuron": "if", "v_init": 0.0, "maxpool": "avg", "reset": reset or "subtract"}
