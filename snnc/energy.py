"""Energy estimates with the 45 nm figures used across SNN papers (Horowitz, ISSCC 2014):
0.9 pJ per accumulate (a synaptic operation) and 4.6 pJ per multiply-accumulate (fp32).

SNN: SOPs × E_AC + analog MACs (layers fed by the real-valued input) × E_MAC.
ANN: its MACs × E_MAC. Compute only: memory traffic is the accelerator model's business.
"""

from __future__ import annotations

E_AC_PJ = 0.9
E_MAC_PJ = 4.6


def snn_energy_pj(sops: float, analog_macs: float) -> float:
    return sops * E_AC_PJ + analog_macs * E_MAC_PJ


def ann_energy_pj(macs: float) -> float:
    return macs * E_MAC_PJ
