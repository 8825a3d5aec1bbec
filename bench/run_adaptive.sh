#!/usr/bin/env bash
# MSAT against IF, and adaptive timesteps (issue 4), on Fashion-MNIST with the cpu target (needs
# Debian's dataset-fashion-mnist); results in bench/results/. Each line is a plain `snnc eval`
# call. LIMIT test images (default 2000); exits are calibrated on the first 1000 training images.
set -euo pipefail
cd "$(dirname "$0")/.."
out=bench/results
limit=${LIMIT:-2000}
calib=$(mktemp --suffix=.npz)
trap 'rm -f "$calib"' EXIT
python - "$calib" <<'PY'
import sys, numpy as np
from snnc.data import load_arrays
x, y = load_arrays("fashion-mnist", "train", 1000)
np.savez(sys.argv[1], x=x, y=y)
PY
run() { local name=$1; shift; echo "+ snnc $*" >&2; /usr/bin/time -f "$name: %e s, %M KiB peak" snnc "$@" --json -q > "$out/$name.json"; }
for m in vgg resnet; do
  run ${m}_msat_vs_if eval examples/fmnist_$m.onnx --data fashion-mnist --limit $limit --calib "$calib" \
      --neuron if,msat -T 8,16,32,64 --plot $out/${m}_msat_vs_if.png
  run ${m}_adaptive eval examples/fmnist_$m.onnx --data fashion-mnist --limit $limit --calib "$calib" \
      --neuron if,msat -T 32 --adaptive --plot $out/${m}_adaptive.png
  run ${m}_adaptive_ilif eval examples/fmnist_$m.onnx --data fashion-mnist --limit $limit --calib "$calib" \
      --neuron ilif -T 8 --adaptive
  run ${m}_adaptive_plain eval examples/fmnist_$m.onnx --data fashion-mnist --limit $limit --calib "$calib" \
      --neuron if -T 32 --adaptive --no-step-weights
done
