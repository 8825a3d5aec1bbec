#!/usr/bin/env bash
# MSAT against IF, and adaptive timesteps (issue 4), on the full Fashion-MNIST test set with the cpu
# target (needs Debian's dataset-fashion-mnist); results in bench/results/. Each line is a plain
# `snnc eval` call. Thresholds and exits are calibrated on the first 2,048 training images (the
# default for --data fashion-mnist).
set -euo pipefail
cd "$(dirname "$0")/.."
out=bench/results
run() { local name=$1; shift; echo "+ snnc $*" >&2; /usr/bin/time -f "$name: %e s, %M KiB peak" snnc "$@" --json -q > "$out/$name.json"; }
for m in vgg resnet; do
  run ${m}_if_full eval examples/fmnist_$m.onnx --data fashion-mnist --neuron if -T 8,16,32,64,128
  run ${m}_msat_full eval examples/fmnist_$m.onnx --data fashion-mnist --neuron msat -T 8,16,32,64,128
  run ${m}_adaptive eval examples/fmnist_$m.onnx --data fashion-mnist --neuron if,msat -T 32 --adaptive \
      --plot $out/${m}_adaptive.png
  run ${m}_adaptive_ilif eval examples/fmnist_$m.onnx --data fashion-mnist --neuron ilif -T 8 --adaptive
  run ${m}_adaptive_plain eval examples/fmnist_$m.onnx --data fashion-mnist --neuron if -T 32 --adaptive --no-step-weights
done
python bench/summarize_adaptive.py --plot $out/msat_vs_if.png
