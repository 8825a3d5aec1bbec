"""The fixture sweep that the cluster tests run."""

from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
MODEL = str(EXAMPLES / "fmnist_vgg.onnx")
DATA = str(EXAMPLES / "fmnist_test.npz")
CALIB = str(EXAMPLES / "fmnist_calib.npz")
