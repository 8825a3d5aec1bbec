"""Running a NIR graph in the simulators that import it, each through its own importer, as its
documentation says to run it: the input presented at every step, the state carried between steps.
Returns the output averaged over the steps and the spikes of each neuron layer (forward hooks).
Used by the optional tests (tests/interop/test_importers.py) and bench/nir_interop.py."""

from __future__ import annotations

import numpy as np

IMPORTERS = ("snntorch", "spikingjelly", "sinabs")


def run(importer: str, graph, x: np.ndarray, timesteps: int, double: bool = False):
    import torch

    module, neurons = build(importer, graph, len(x))
    double = (
        double and importer == "spikingjelly"
    )  # snnTorch's and Sinabs' spikes stay float32 whatever their layers are
    dtype = torch.float64 if double else torch.float32
    module = module.to(dtype)
    counts = dict.fromkeys(neurons, 0)
    hooks = [mod.register_forward_hook(_counter(counts, name)) for name, mod in neurons.items()]
    try:
        with torch.no_grad():
            if importer == "sinabs":  # sinabs layers take (batch·T, ...) and keep their state
                steps = torch.as_tensor(np.repeat(x[:, None], timesteps, axis=1), dtype=dtype)
                out = module(steps.reshape(len(x) * timesteps, *x.shape[1:]))
                out = out[0] if isinstance(out, tuple) else out
                total = out.reshape(len(x), timesteps, -1).sum(1)
            else:
                state, total, batch = None, 0, torch.as_tensor(x, dtype=dtype)
                for _ in range(timesteps):
                    out, state = module(batch, state)
                    total = total + out.reshape(len(x), -1)
    finally:
        for hook in hooks:
            hook.remove()
    return (total / timesteps).numpy(), counts


def build(importer: str, graph, batch: int):
    """The importer's module and its neuron layers by NIR node name."""
    if importer == "snntorch":
        from snntorch.import_nir import import_from_nir

        module = import_from_nir(graph)
        for layer in module.modules():
            if hasattr(layer, "reset_mem"):
                layer.reset_mem()
    elif importer == "spikingjelly":
        from spikingjelly.activation_based.nir_exchange import import_from_nir

        module = import_from_nir(graph)
    elif importer == "sinabs":
        import sinabs

        module = sinabs.from_nir(graph, batch_size=batch)
    else:
        raise ValueError(importer)
    names = {name.replace(".", "_"): name for name, node in graph.nodes.items() if type(node).__name__ in ("IF", "LIF")}
    neurons = {names[name]: layer for name, layer in module.named_children() if name in names}
    return module, neurons


def _counter(counts: dict, name: str):
    def hook(_module, _inputs, output):
        spikes = output[0] if isinstance(output, tuple) else output
        counts[name] += int(spikes.sum().item())

    return hook


def sinabs_export_and_run(net, x: np.ndarray, timesteps: int):
    """Sinabs' own export of `net` (a Sequential of its layers), and its own simulation of `x`
    presented for `timesteps` steps: (the NIR graph, the output averaged over the steps)."""
    import sinabs
    import torch

    repeated = torch.as_tensor(np.repeat(x[:, None], timesteps, axis=1).reshape(len(x) * timesteps, *x.shape[1:]))
    graph = sinabs.to_nir(net, repeated)  # torch tensors in its nodes, and no input shape
    for layer in net.modules():
        if hasattr(layer, "reset_states"):
            layer.reset_states()
    with torch.no_grad():
        return graph, net(repeated).reshape(len(x), timesteps, -1).mean(1).numpy()
