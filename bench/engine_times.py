"""CPU-seconds of the cpu target's engines on the VGG fixture, one thread: to compare two
checkouts of snnc side by side (each run by its own environment), e.g. before and after a
restructuring:

    for round in 1 2 3; do
        OLD/venv/bin/python bench/engine_times.py OLD > old_$round.json
        NEW/venv/bin/python bench/engine_times.py NEW > new_$round.json
    done

Prints {configuration: median CPU-seconds of a run} for IF, iLIF and MSAT in float32 and IF in
fixed point, at batch 64 (5 runs) and batch 1 (20 runs).
"""

import json
import statistics
import sys
import time

import numpy as np

import snnc

CONFIGS = (("ilif", 8, "native"), ("if", 32, "native"), ("msat", 32, "native"), ("if", 16, "native-fixed"))


def main() -> None:
    root = sys.argv[1]
    x = np.load(f"{root}/examples/fmnist_test.npz")["x"][:64]
    calibration = np.load(f"{root}/examples/fmnist_calib.npz")["x"][:128]
    times = {}
    for neuron, steps, engine in CONFIGS:
        program = snnc.compile(f"{root}/examples/fmnist_vgg.onnx", neuron=neuron, timesteps=steps,
                               calibration=calibration)  # fmt: skip
        for batch in (64, 1):
            program.run(x[:batch], threads=1, engine=engine)  # warm-up
            runs = []
            for _ in range(5 if batch == 64 else 20):
                start = time.process_time()
                program.run(x[:batch], threads=1, engine=engine)
                runs.append(time.process_time() - start)
            times[f"{neuron} T={steps} {engine} b{batch}"] = statistics.median(runs)
    print(json.dumps(times))


if __name__ == "__main__":
    main()
