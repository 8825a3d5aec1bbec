"""docs/benchmarks.md and docs/reproducing.md, generated from bench/results/.

    python bench/docs.py           # write both pages
    python bench/docs.py --check   # exit 1 if either page differs from what the results give

Each area of the document is one entry of AREAS: what it measures and how, the commands that
write its result files, the commit they were measured at, and the function of bench/tables.py
that renders its tables. A figure in the document comes from a results file, never from a
person's typing: to change a figure, re-run its command and run this script. History lives in
git (`git log -p bench/results/FILE`), not in the document.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import tables

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
# results from before a7420fd made rate coding's max pool a running max (what changed: the VGG fixture)
OLD_GATE = "the VGG fixture's IF and MSAT rows with the max-pool gate that a7420fd replaced by a running max"
PAGES = {"benchmarks": ROOT / "docs" / "benchmarks.md", "reproducing": ROOT / "docs" / "reproducing.md"}


@dataclass(frozen=True)
class Area:
    title: str
    issue: int
    about: str  # what is measured and how; no figure that a results file holds
    commands: tuple[str, ...]  # run from the repository root; they write `results`
    results: tuple[str, ...]  # files under bench/results/
    measured: str  # the commit (and date) the results were measured at
    cost: str  # about how long the commands take on the project's 2-core machine
    render: Callable[[Path], str]
    notes: str = ""  # what the table shows that is not in it: why, and what is left


FIXTURES = ("`examples/fmnist_vgg.onnx` (7 conv + BN, max and average pooling, 2 dense) and "
            "`examples/fmnist_resnet.onnx` (6 basic blocks with projection shortcuts), trained by "
            "`examples/train_fashion_mnist.py`")  # fmt: skip
SUITE = ("the held-out suite, `examples/suite/*.onnx` (`examples/train_suite.py`: MobileNet-style, "
         "pre-activation ResNet, DenseNet-style, Conv1d, MLP, VGG with an adaptive pool), "
         "and both fixtures")  # fmt: skip

AREAS = (
    Area("Import and the reference simulator against onnxruntime", 2,
         "The largest model the tests run (the onnx package's `light_vgg19.onnx`, 143.7 M parameters, 19.6 G MACs), "
         "batch 1: `snnc.import_onnx` + `snnc.execute` (numpy) against onnxruntime's session creation + run "
         "(one intra-op thread), each in a fresh process, alternating, median of 3.",
         ("python bench/bench_import.py --repeats 3 --out bench/results/import.jsonl",),
         ("import.jsonl",), "88d5220 (2026-12-07)", "under a minute", tables.imports,
         "numpy's BLAS uses both cores where onnxruntime was given one."),
    Area("Accuracy against T on the Fashion-MNIST fixtures", 3,
         f"The fixtures: {FIXTURES}. Every neuron model with its defaults, on the full test set, cpu target; "
         "calibration on the first 2,048 training images (the default for `--data fashion-mnist`). `eval` "
         "compiles once per T where the settings are fitted to T (error thresholds, bias correction). "
         "Agreement: the share of images where the SNN predicts the ANN's class; latency: steps until the "
         "readout has its answer (iLIF: (D + 1)·T for D pipelined stages); SOPs: synaptic operations.",
         ("snnc eval examples/fmnist_vgg.onnx --data fashion-mnist --neuron ilif,if,msat -T 4,8,16,32,64,128 "
          "--plot bench/results/fixture_vgg.png --json -q > bench/results/fixture_vgg.json",
          "snnc eval examples/fmnist_resnet.onnx --data fashion-mnist --neuron ilif,if,msat -T 4,8,16,32,64,128 "
          "--plot bench/results/fixture_resnet.png --json -q > bench/results/fixture_resnet.json"),
         ("fixture_vgg.json", "fixture_vgg.png", "fixture_resnet.json", "fixture_resnet.png"),
         "88d5220; the VGG fixture at a7420fd, whose max pool is a running max (2026-12-07)",
         "about 20 minutes each", tables.fixture_curves),
    Area("Rate coding on held-out architectures: how the defaults were chosen", 26,
         f"Candidate settings on {SUITE.split(', and both')[0]}, trained on the first 55,000 training images. "
         "The last 5,000 are held out: the first 512 calibrate every network, images 1,000–2,999 decide "
         "(accuracy %, cpu target). The test set was not looked at for any choice. \"error\": per channel, the "
         "θ that minimizes the mean squared difference between an activation and what the neuron carries for it "
         "at T (`passes/balance_thresholds.least_error_thresholds`); \"bias correction\": SNN Calibration's light "
         "pipeline (`passes/correct_bias.py`), each layer's mean output per channel matched to the ANN's.",
         ("python bench/rate_suite.py choose",), ("rate_choice.jsonl",),
         "8e55caa; the MSAT bias-correction rows at 39bbf18; the weight-refit rows with the code committed "
         "beside them; conv1d's and vgg_adaptive's IF and MSAT rows again at a7420fd, whose max pool is a running "
         "max (2026-12-07)", "about 3 hours", tables.rate_choice,
         "Chosen: IF and MSAT use error thresholds per channel with bias correction; iLIF keeps the 99.95th "
         "percentile per channel (the error method wins at T = 4, not at T = 8: `--thresholds error` is the "
         "setting for T ≤ 4). The weight refit (\"+ weight refit\", `--weight-correction`, "
         "`passes/refit_weights.py`) is not a default: it gains most on vgg_adaptive, loses a little on others, "
         "moves the means within a few images of 2,000, and costs up to 2.4× the compile time (the results' "
         "`compile_cpu_s`). With the running max, every IF setting scores within 0.1 points of the ANN or above it "
         "on conv1d and vgg_adaptive (the two with a max pool), and the chosen settings keep the best means; MSAT's "
         "setting before issue 26 now scores best on those two, by 7 and 5 images. Refitted all at once from one "
         "simulation instead of layer after layer, it lost points on mobilenet (`passes/refit_weights.py`)."),
    Area("Rate coding on held-out architectures: the test set", 26,
         f"Each model's defaults (\"now\"; iLIF at T = 4 with `--thresholds error`) against the settings before "
         f"issue 26 (\"before\": per layer at the 99.9th percentile for IF and MSAT), on {SUITE}; the full test set "
         "(10,000 images), calibration on the same 512 held-out training images, cpu target.",
         ("python bench/rate_suite.py test", "python bench/rate_suite.py plot"),
         ("rate_suite.jsonl", "rate_suite.png"),
         "002dcac; the IF and MSAT rows of conv1d, vgg_adaptive and the VGG fixture (the networks with a max "
         "pool) at a7420fd (2026-12-07)", "about 2 hours", tables.rate_suite,
         "The max pool of rate coding is a running max since a7420fd: each step a window sends the growth of the "
         "largest sum any of its inputs has sent, so what it has sent is the max of theirs at every step "
         "(`runtime/snn.py`). The gate before it passed the spikes of the input that had fired most so far, which "
         "sends an extra spike where inputs tie, an error that does not shrink with T: with it, IF at T = 64 lost "
         "0.36 points on vgg_adaptive and 0.11 on the VGG fixture; MSAT was behind IF at T = 64 on 2 networks. "
         "Where MSAT is behind IF now, it is by 1 to 5 images of 10,000: the next area compares them "
         "image by image."),
    Area("MSAT against IF, image by image", 26,
         f"IF and MSAT at T = 32 and 64 with their defaults on {SUITE}: calibration on held-out images 0–511, the "
         "full test set. Agreement: the share of images where the SNN predicts the ANN's class. \"only IF right\": "
         "images IF classifies correctly and MSAT does not (and the reverse); McNemar p: the exact two-sided "
         "probability that chance alone splits those images at least this unevenly between the two.",
         ("python bench/msat_vs_if.py",), ("msat_vs_if.jsonl",), "a7420fd (2026-12-07)", "about 40 minutes",
         tables.msat_vs_if),
    Area("Adaptive exits", 26,
         f"IF and MSAT at T = 64 with their defaults on {SUITE}. Thresholds and bias correction from held-out "
         "images 0–511; the exit threshold (budget 0.5 points against the fixed-T network; rate coding's defaults, "
         "chosen in the next area: sum-softmax, the counted losses' upper bound at z = 1 within the budget, per-step "
         "readout weights tried) from held-out images 1,000–2,999 with their labels; then the full test set.",
         ("python bench/rate_exits.py",), ("rate_exits.jsonl",),
         "f9e97c4; conv1d, vgg_adaptive and the VGG fixture at a7420fd (2026-12-07)", "about 40 minutes",
         tables.rate_exits,
         "Before these defaults (max-softmax of the mean, no margin; measured at 7537ccd): 14 of 16 met, at worst "
         "0.69 points lost (VGG fixture, MSAT), 52.1–91.9 % fewer steps. Now: 16 of 16, at worst 0.35 points, "
         "63.9–96.5 % fewer steps."),
    Area("Exit rules, on held-out images", 26,
         f"Which confidence and which margin hold the exits' budget on images the threshold was not chosen on, and "
         f"what each saves. IF and MSAT at T = 64 with their defaults on {SUITE}. One traced run over held-out images "
         "1,000–4,999; step weights fitted on 1,000–2,999. Each rule, a confidence metric and a margin z (the counted "
         "losses' Wilson upper bound at z standard errors must fit the 0.5-point budget; z = 0: the count), chooses "
         "its threshold on images 1,000–2,999 as `calibrate_exits` does (step weights kept if they meet the budget "
         "in fewer steps) and is measured on images 3,000–4,999. \"max-softmax\": the largest softmax probability "
         "of the mean readout Z_t; \"sum-softmax\": of the running sum (t + 1)·Z_t. \"lost\": net accuracy points "
         "against the fixed-T network; \"fewer steps\": the share of the T steps saved on average. The test set is "
         "not used. The fixtures were trained on these images.",
         ("python bench/exit_rules.py",), ("exit_rules.jsonl",),
         "f9e97c4; conv1d, vgg_adaptive and the VGG fixture at a7420fd (2026-12-07)", "about 10 minutes",
         tables.exit_rules,
         "A rate-coded estimate's error shrinks as 1/t, so an early step needs a wider margin between the first two "
         "classes to be right than a late one. The softmax of the mean asks every step for the same margin, and its "
         "lowest threshold within budget is set by a few early, confidently wrong estimates; the softmax of the sum "
         "asks for a margin ∝ 1/(t + 1), which is what the rate code's error allows. Chosen: sum-softmax with z = 1 "
         "(`models/base.py`, `RateCoding.exit_metric` and `exit_margin`), the one rule that held the budget on all 16 "
         "(before and after the running max pool of a7420fd); z = 0.5 and 1.645 missed by 0.05 on one to three, "
         "which at 2,000 images is within noise, so the margin's exact value is not sharp. iLIF keeps max-softmax "
         "with no margin."),
    Area("The cpu target against the reference simulator", 5,
         "Both fixtures, iLIF T = 8, IF T = 32, MSAT T = 32: the native code against the numpy reference that "
         "defines the semantics (float32: `runtime/snn.py`; fixed point, int8 weights and integer state: "
         "`runtime/fixed.py`), every engine on all cores, median of 3. The native code's build (code generation "
         "and LLVM, after conversion) against a second build served from the object cache; peak RSS is the "
         "process's high-water mark, so it includes the reference's buffers. Agreement between the engines is "
         "in the tests (`tests/targets/cpu`).",
         ("python bench/bench_cpu.py --repeats 3 --out bench/results/cpu.jsonl",
          "python bench/bench_cpu.py --numeric fixed --repeats 3 --out bench/results/cpu_fixed.jsonl"),
         ("cpu.jsonl", "cpu_fixed.jsonl"), "float32 (cpu.jsonl) at d3522a5, fixed point (cpu_fixed.jsonl) at 2166fcc "
         "(2026-12-07)", "about 5 minutes", tables.cpu_engines),
    Area("The cpu target against onnxruntime", 24,
         "JIT time ÷ onnxruntime's time for the ANN the SNN came from: one thread each, CPU seconds, median of 5 "
         "paired rounds. \"fixed\" is the fixed-point mode (`--numeric fixed`: the accelerator's numbers, bit-exact "
         "with `runtime/fixed.py`). Accuracy: the full test set, calibration on the 512 bundled images.",
         ("python bench/ratios.py",), ("ratios.json",),
         "d3522a5; the iLIF rows at a83b97a (`--neurons ilif`), the MSAT rows at be2423e (`--neurons msat`) "
         "(2026-12-07)", "about 15 minutes", tables.ratios,
         "onnxruntime runs these ANNs near the core's FMA peak (the VGG fixture's 36.6 M multiply-adds in about "
         "0.62 ms: 59 G per second): the float iLIF is faster only by doing fewer, Winograd F(2×2, 3×3) in its "
         "3×3 stride-1 layers (next section), and by making its bits in one pass. CIFAR ResNet-18's 4×4 layers of "
         "512 channels read their weights (9.4 MB, 16.8 MB as Winograd's U) from memory for every image, as "
         "onnxruntime reads its own; the gather form lays them out per tile of output channels, so that each "
         "tile's are one contiguous stream. The fixed-point iLIF uses VNNI (64 "
         "multiply-adds per instruction). IF and MSAT are event-driven: how far they are from what this core can "
         "do is the next section."),
    Area("IF and MSAT at T = 32: how far from what this core can do", 24,
         "Event adds, the event-driven form's inner work (`acc += w[row]`, one weight row of 192 floats per event "
         "here, 12 accumulator vectors), measured alone in a microkernel against the size of the table its rows come "
         "from; the same work with the weights blocked into L1 (a 24 KiB table, each pixel's 9 output windows loaded "
         "and stored around its events, best cases: the windows in L1, the same number of events at every pixel); "
         "then, per fixture, the JIT against onnxruntime (batch 64, one thread, CPU seconds, median of 5 "
         "paired rounds), the synaptic operations per image from the run's counts, and the event-driven synapse "
         "kernels' share of the time (a profiled build's cycles per kernel). The bounds replace the synapses' time "
         "by SOPs ÷ the microkernel's rate with the weights in L2 (the best over tables of 96–384 KiB), blocked "
         "into L1 (the best over the events per pixel) or in L1 (8–24 KiB), and keep the rest (neurons, listing, "
         "pooling, residual adds) as measured; \"nothing else\" drops the rest too. SOPs ÷ the ANN's "
         "multiply-adds is the ratio if an event add cost what one of onnxruntime's multiply-adds does: this core "
         "loads 16 floats a cycle and multiply-adds 16, and "
         "onnxruntime runs near that peak.",
         ("python bench/bounds.py",), ("bounds.json", "bounds.png"), "6a7567d (2026-12-07)", "about 4 minutes",
         tables.bounds,
         "The VGG fixture's synapses run at the rate of a table in L2 or a little under it: its hidden layers but "
         "the first hold more weights than L1, and one image's events sweep all of a layer's weights at every "
         "step. The ResNet fixture's 16-channel layers are slower still with their weights in L1: a pixel has few "
         "events per step there, and the per-pixel work (its output windows loaded and stored, the event loop's "
         "exit) outweighs the adds. Issue 24 asks IF T = 32 ≤ 5 and MSAT T = 32 ≤ 10. For IF, that takes all "
         "weight reads from L1 at nearly the microkernel's full rate (the VGG fixture) and, on the ResNet fixture, "
         "less neuron work as well. Blocking a layer's weights into L1 does not get there: each block loads and "
         "stores its output windows around its events, and the column takes the best rate measured, at more "
         "events per pixel than these densities give a block of the channels whose weights fit L1. For MSAT it "
         "takes the synapses at L1's rate and the adaptive threshold's neuron work several times cheaper. Fewer "
         "spikes for the same accuracy (a question for the conversion, not the cpu target) would move every "
         "column at once: the SOPs are spikes × fan-out."),
    Area("Winograd and iLIF's bits at once", 24,
         "The float iLIF's dense synapses as Winograd F(2×2, 3×3) (`targets/cpu/winograd.py`), layer by layer "
         "against the direct form, cycles per image of each layer's kernels (pad, transforms, products) in a "
         "profiled build where every 3×3 stride-1 layer has the Winograd form, median of the per-layer ratio over 5 "
         "paired rounds; which layers the default chooses (the thresholds were set from these rows: no test image "
         "is involved). Then whole networks, CPU seconds per image, the forms side by side, median of 5 paired "
         "rounds; and what Winograd changes in the results, on the full Fashion-MNIST test set (the reference "
         "simulator's predictions as the yardstick: its sums run in a third order). iLIF's bits at once are "
         "asserted identical to the steps', bit for bit.",
         ("python bench/winograd.py",), ("winograd.json",), "a83b97a (2026-12-07)", "about 15 minutes", tables.winograd,
         "F(2×2, 3×3) needs 16 multiply-adds per 2×2 tile and channel pair where the direct form needs 36. A 2×2 "
         "output (one tile) of many channels is slower as Winograd: its 16 transformed weight matrices (the direct "
         "form reads 9) come from memory for every image and one tile uses them; a 1- or 3-channel input layer has "
         "too little to multiply for its transforms."),
    Area("Real-size networks on the cpu target", 24,
         "Every `snnc zoo` network (seeded He-initialized weights, BN with random statistics, torchvision's "
         "layouts), iLIF T = 8, 64 calibration images (uniform, seed 1). First compile: `snnc compile --json` in "
         "a fresh process with an empty object cache, CPU seconds and peak RSS of that process; cached: the same "
         "command again. Throughput: the compiled program against onnxruntime on the same batch, one thread, "
         "median of 5 paired rounds. Random weights make accuracy meaningless: agreement is the share of images "
         "whose top-1 matches the ANN's. Every compile's stage table is in the results file.",
         ("python bench/suite.py",), ("suite.json",), "a83b97a (2026-12-07)", "about 30 minutes", tables.suite,
         "CIFAR MobileNetV2's lower agreement is iLIF's T = 8 quantization of ReLU6 activations in a random "
         "network whose logits lie close together."),
    Area("Calibration on onnxruntime against the numpy reference", 24,
         "Both fixtures calibrated on 2,048 training images with each engine, then the full test set on the cpu "
         "target. The thresholds move by float rounding (onnxruntime sums in another order).",
         ("python bench/calibration_engines.py",), ("calibration_engines.json",),
         "b454d7b (2026-12-07)", "about 7 minutes",
         tables.calibration_engines),
    Area("LLVM's optimization level", 24,
         "A fresh process per level: code generation and LLVM CPU seconds, and the median of 3 runs of 16 images. "
         "Level 3 is the default: no level compiles markedly faster, and 3 was never slower.",
         ("python bench/opt_level.py",), ("opt_level.jsonl",), "be54646 (2026-12-06)", "about 10 minutes",
         tables.opt_level),
    Area("The accelerator: energy by kind on the fixtures", 25,
         "Both fixtures on the default chip (8×8 cores), the 512 bundled calibration images, the first 64 bundled "
         "test images through the chip simulator; µJ per image, the SNN beside the same network run as an ANN on "
         "the same chip. The simulator is bit-exact with the cpu target's fixed-point mode (tests/targets/accel).",
         ("python bench/accel_dataflow.py",), ("accel_dataflow.json",), "a7420fd (2026-12-07)",
         "about 4 minutes", tables.accel_fixtures,
         "iLIF's hidden layers take each non-zero T-bit code once, with the weights stationary over the T steps; "
         "rate coding read-modify-writes a current per synaptic operation, so state SRAM dominates its energy."),
    Area("The accelerator on real-size networks", 25,
         "Every suite network through `snnc check -t accel` on the default chip (64 KiB weight and 128 KiB state "
         "SRAM per core), iLIF T = 8, 16 random calibration images; 2 random images through the chip simulator, "
         "compared bit for bit with the cpu fixed-point mode. Networks larger than the chip run in segments "
         "through DRAM (docs/accel.md). CPU: the whole child process.",
         ("python bench/accel_suite.py",), ("accel_suite.json",), "f95ae38 (2026-12-06)", "about 10 minutes",
         tables.accel_suite),
    Area("Several chips, and the mapping objective", 25,
         "CIFAR ResNet-18, iLIF T = 8, the default chip, 2 random images; segment s on chip s mod N.",
         ("python bench/accel_chips.py",), ("accel_chips.json",), "d140543 (2026-12-06)", "2 minutes",
         tables.accel_chips,
         "Both objectives find the same cuts here. More chips stream faster but the first segment paces the "
         "chain; static energy is charged over each image's latency on every core in use, which overstates a "
         "steady stream."),
    Area("Trust: every bad input, fuzzed", 22,
         "Each case mutates one well-formed seed (ONNX models, data files, `.snnc` and `.snnx` files, chip "
         "configurations, a warm object cache), runs the command that reads it in a child with a 6 GiB "
         "address-space limit, and judges it from outside: a documented exit code (0, 2–8), one `snnc: error:` "
         "line and no traceback on failure, files left as they were, a damaged cache giving the clean run's "
         "logits bit for bit. The CI test (`tests/fuzz/test_fuzz.py`) runs 360 cases with another seed.",
         ("python bench/fuzz.py --cases 6000 --seed 2026 --jobs 2",), ("fuzz.json",), "bfc0ba0 (2026-12-06)",
         "7 minutes", tables.fuzz),
    Area("Reset to zero: thresholds for the reset the importers run", 28,
         f"snnTorch's and SpikingJelly's NIR importers reset to zero, so their NIR forms convert with reset to zero. "
         f"The error-minimizing thresholds weigh each θ by what a neuron carries for a steady activation; with "
         f"reset to zero that is the first spike after ⌈(1 − v_init)·θ/a⌉ steps, then one every ⌈θ/a⌉ "
         f"(`models/base.zero_reset_spikes`, exact against the simulator), where the model used before took every "
         f"reset for a subtraction. Both on {SUITE.split(', and both')[0]}: IF T = 32, v_init 0, calibration on "
         "held-out images 0–511, accuracy on held-out images 1,000–2,999, never the test set.",
         ("python bench/zero_reset.py",), ("zero_reset.json",),
         "7425bf9; conv1d and vgg_adaptive at a7420fd (2026-12-07)", "10 minutes",
         tables.zero_reset, "Kept: the error model follows the neuron's reset."),
    Area("NIR: the export in other libraries' importers", 28,
         f"The fixtures ({FIXTURES}), IF T = 32, calibration on the 512 bundled images, the first 2,000 test "
         "images. Each `--nir-flavor` converts the network in the form NIR and that importer can say "
         "(`targets/nir/flavors.py`: no initial membrane, average for max pooling, and the importer's reset), "
         "writes it with `nir.write`, reads it back with `nir.read` and runs it in the importer, as its "
         "documentation says: the image at every step, the state carried between steps "
         "(`tests/interop/importers.py`). \"snnc %\": that conversion in snnc's numpy reference, the oracle for "
         "the agreement and spike columns (the first row of each network: snnc's default IF, not exported, on its "
         "cpu target). The importers: snnTorch 1.0.0, SpikingJelly 2.0.0, Sinabs 3.1.3 (with nir 1.0.8, nirtorch "
         "2.6, torch 2.13.0).",
         ("python bench/nir_interop.py",), ("nir_interop.json",), f"7425bf9 (2026-12-07; {OLD_GATE})", "20 minutes",
         tables.nir_interop,
         "snnTorch and SpikingJelly run what snnc's reference runs: the same spikes, up to float32 rounding (the "
         "optional tests check them equal, layer by layer, in float64 on small networks). Sinabs fires several "
         "spikes in a step where v ≥ 2θ and floors the membrane at −θ, which NIR's IF does not say, and its graph "
         "executor gives a residual addition the previous step's input, so residual networks are refused in its "
         "form. What the export costs is the column \"snnc %\" against snnc's default IF: average pooling in "
         "place of max pooling costs the VGG fixture most, the reset to zero that snnTorch's and SpikingJelly's "
         "importers impose costs both (docs/interop.md)."),
    Area("Sweeps on a Ray cluster", 29,
         f"The fixtures ({FIXTURES}) × iLIF at T = 4, 8, 16 and IF, MSAT at T = 8, 16, 32 (iLIF's engines stop at "
         "31 steps) on the first 10,000 Fashion-MNIST test "
         "images, calibrated on the first 512 training images: `snnc eval` in one process with one thread, then "
         "`snnc eval --cluster` on a Ray cluster started on this machine (a head without CPUs and two worker "
         "nodes of one CPU each, one thread per worker), each mode with an empty object and threshold cache so "
         "that both calibrate and compile everything. \"simulating s\": the seconds spent in the simulator "
         "(one process: the rows' `speed.wall_s`; cluster: the workers' `run` tasks); \"calibrating s\": the "
         "workers' calibration batches; \"other s per task\": (workers × wall − the workers' task seconds) ÷ "
         "tasks, everything else a worker slot spends (shipping, dispatch, its native builds, waiting for the "
         "driver's compiles): an upper bound on the overhead. The projection measures each configuration of an "
         "ImageNet sweep on the suite's ResNet-18 (`snnc zoo resnet18`, random weights, 64 noise calibration "
         "images, one thread, CPU seconds) and projects W(N) = d₁ + max(Σ d, Σ (50,000·t + n·o) ÷ N + Σ k): d "
         "the driver's compile, k a worker's native build, t seconds per image, o the overhead per task above, "
         "n = ⌈50,000 ÷ 512⌉ tasks per configuration (bench/cluster_projection.py says what it assumes).",
         ("python bench/cluster_sweep.py", "python bench/cluster_projection.py"),
         ("cluster_sweep.json", "cluster_projection.json"),
         f"4a440f2 (the sweep; the projection's o) and d062bfe (the projection's d, k, t) (2026-12-07; {OLD_GATE})",
         "an hour",
         lambda results: tables.cluster_sweep(results) + "\n\n" + tables.cluster_projection(results),
         "Two workers on a 2-core machine share it with the driver, whose compiles (calibration, passes) "
         "run beside them; the speed-up on machines of their own is the projection's."),
)  # fmt: skip


def benchmarks_page() -> str:
    lines = ["# Benchmarks", "",
             "Generated by `python bench/docs.py` from the files in `bench/results/`; a test checks that the tables "
             "match them. Each area says what it measures, the command that made its results (all of them: "
             "[reproducing.md](reproducing.md)) and the commit they were measured at. Machine: the project's "
             "2-core box (AMD EPYC with AVX-512, no GPU), shared and noisy: ratios are measured side by side in one "
             "run, timings are medians over repeats. Data: Fashion-MNIST from Debian's `dataset-fashion-mnist`.",
             ""]  # fmt: skip
    lines += [f"- [{area.title}](#{anchor(area.title)})" for area in AREAS]
    for area in AREAS:
        lines += ["", f"## {area.title}", "", f"{area.about} (Issue {area.issue}; measured at {area.measured}.)", ""]
        lines += ["```sh", *area.commands, "```", "", area.render(RESULTS)]
        if area.notes:
            lines += ["", area.notes]
    return "\n".join(lines) + "\n"


def reproducing_page() -> str:
    lines = ["# Reproducing every figure", "",
             "Every table and plot in [benchmarks.md](benchmarks.md) comes from a file in `bench/results/`, and every "
             "file there from the commands below, run from the repository root after the second Quickstart "
             "command and `apt-get install dataset-fashion-mnist`. Then `python bench/docs.py` regenerates the "
             "document. Times are for the project's 2-core machine; run timing benchmarks one at a time, on an "
             "otherwise idle machine. To measure another commit beside this one, install it alone "
             "(`pip install --no-deps --target /tmp/old CHECKOUT`) and run the same script with "
             "`PYTHONPATH=/tmp/old` from outside the checkout.", "",
             "| results | commands | time | measured at |", "| --- | --- | --- | --- |"]  # fmt: skip
    for area in AREAS:
        files = ", ".join(f"`{name}`" for name in area.results)
        commands = "<br>".join(f"`{command}`" for command in area.commands)
        lines.append(f"| [{area.title}](benchmarks.md#{anchor(area.title)}): {files} | {commands} | {area.cost} | "
                     f"{area.measured} |")  # fmt: skip
    lines += ["", "Tools whose output is not in the document: `bench/profile_cpu.py` and `bench/perf_loops.py` "
              "(where the cpu target's time goes), `bench/compare_cpu.py` and `bench/engine_times.py` (two builds "
              "side by side), `bench/behaviour.py` (records what every engine computes before a restructuring and "
              "checks it bit for bit after), `bench/msat_heldout.py` (MSAT's settings on held-out images), "
              "`bench/bench_accel.py` (the chip simulator against the cpu fixed-point mode on many "
              "images)."]  # fmt: skip
    return "\n".join(lines) + "\n"


def anchor(title: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens."""
    kept = "".join(c for c in title.lower() if c.isalnum() or c in " -")
    return kept.replace(" ", "-")


def pages() -> dict[str, str]:
    return {"benchmarks": benchmarks_page(), "reproducing": reproducing_page()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if a page differs from the results")
    args = parser.parse_args()
    stale = []
    for name, text in pages().items():
        path = PAGES[name]
        if args.check:
            if not path.exists() or path.read_text() != text:
                stale.append(str(path.relative_to(ROOT)))
            continue
        partial = path.with_suffix(".partial")
        partial.write_text(text)
        partial.replace(path)
    if stale:
        print(f"out of date with bench/results/: {', '.join(stale)} (run python bench/docs.py)", file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
