"""`snnc inspect`: a per-layer table of a graph (op, output shape, parameters, MACs) with totals."""

from __future__ import annotations

from snnc.ir.graph import Graph


def layer_rows(graph: Graph) -> list[dict]:
    rows = []
    for node in graph.nodes():
        input_types = [graph.type(i) for i in node.inputs]
        rows.append(
            {
                "name": node.name,
                "op": node.op.name,
                "inputs": list(node.inputs),
                "output_shape": list(node.type.shape),
                "params": int(node.op.params()),
                "macs": int(node.op.macs(input_types, node.type)),
            }
        )
    return rows


def inspect_graph(graph: Graph) -> dict:
    """{"layers": [...], "totals": {"params": N, "macs": N}}; MACs are per sample."""
    layers = layer_rows(graph)
    totals = {
        "params": sum(r["params"] for r in layers),
        "macs": sum(r["macs"] for r in layers),
        "layers": len(layers),
        "inputs": {name: list(graph.type(name).shape) for name in graph.inputs},
        "outputs": {name: list(graph.type(name).shape) for name in graph.outputs},
    }
    return {"layers": layers, "totals": totals}


def format_table(headers: list[str], rows: list[list], right_align: set[int] = frozenset()) -> str:
    """A plain-text table with a header rule; columns in right_align are right-justified."""
    cells = [[str(c) for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]

    def line(values):
        parts = [v.rjust(w) if i in right_align else v.ljust(w) for i, (v, w) in enumerate(zip(values, widths))]
        return "  ".join(parts).rstrip()

    return "\n".join([line(headers), line(["-" * w for w in widths]), *(line(r) for r in cells)])


def render_inspection(report: dict) -> str:
    rows = [
        [r["name"], r["op"], "x".join(str(d) for d in r["output_shape"]), f"{r['params']:,}", f"{r['macs']:,}"]
        for r in report["layers"]
    ]
    totals = report["totals"]
    table = format_table(["layer", "op", "output", "params", "MACs"], rows, right_align={3, 4})
    summary = f"{totals['layers']} layers, {totals['params']:,} parameters, {totals['macs']:,} MACs per sample"
    return f"{table}\n\n{summary}"
