"""snnc: compile trained ReLU networks (ONNX) into spiking neural networks.

graph = snnc.import_onnx("model.onnx")      # the IR (snnc.ir.Graph)
logits, = snnc.execute(graph, x)            # the ANN on the numpy reference executor
"""

__version__ = "0.1.0"

from snnc.errors import SnncError  # noqa: E402
from snnc.frontend import import_onnx  # noqa: E402
from snnc.program import Program, compile, load  # noqa: E402
from snnc.runtime import execute  # noqa: E402

__all__ = ["Program", "SnncError", "__version__", "compile", "execute", "import_onnx", "load"]
