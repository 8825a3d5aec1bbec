#!/usr/bin/env bash
# Conversion accuracy on Fashion-MNIST (needs Debian's dataset-fashion-mnist); results in bench/results/.
# Each line is a plain `snnc eval` call: copy one to reproduce a figure of BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
out=bench/results
run() { local name=$1; shift; echo "+ snnc $*" >&2; /usr/bin/time -f "$name: %e s, %M KiB peak" snnc "$@" --json -q > "$out/$name.json"; }
run vgg_ilif_per_channel    eval examples/fmnist_vgg.onnx    --data fashion-mnist --neuron ilif -T 5,8 --per-channel --percentile 99.95
run resnet_ilif_per_channel eval examples/fmnist_resnet.onnx --data fashion-mnist --neuron ilif -T 5,8 --per-channel --percentile 99.95
run vgg_if_curve     eval examples/fmnist_vgg.onnx    --data fashion-mnist --neuron if -T 8,16,32,64,128,256 --limit 200 --plot $out/vgg_if_curve.png
run resnet_if_curve  eval examples/fmnist_resnet.onnx --data fashion-mnist --neuron if -T 8,16,32,64,128,256 --limit 200 --plot $out/resnet_if_curve.png
for m in vgg resnet; do  # half-step initial membrane (rounding) against none (floor), T = 5; first-round thresholds
  for v in 0.5 0; do
    run ${m}_ilif_t5_vinit$v eval examples/fmnist_$m.onnx --data fashion-mnist --neuron ilif -T 5 --v-init $v --limit 2000 \
        --no-per-channel --percentile 99.99
  done
done
