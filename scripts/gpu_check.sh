#!/usr/bin/env bash
# Build, check and time every GPU kernel in one call (run on a CUDA machine from the repository root).
# Uses the machine's own PyTorch + Triton (e.g. PyTorch 2.11 / Triton 3.6) and installs nothing: the package
# is taken from lib/. Writes results/bench/*.json and prints the test summary and the timings.
set -euo pipefail
export PYTHONPATH="$PWD/lib${PYTHONPATH:+:$PYTHONPATH}"
python -c "import torch, triton; assert torch.cuda.is_available(), 'no CUDA device'; \
print('torch', torch.__version__, 'triton', triton.__version__, torch.cuda.get_device_name())"
python -m pytest -q -p no:cacheprovider -m gpu tests/kernels tests/engines
mkdir -p results/bench
for dtype in float32 float64; do
  python -m spikegrad.bench.lif_scan --out "results/bench/lif_scan_${dtype}.json" --dtype "$dtype"
done
cat results/bench/*.json
python -m spikegrad.bench.training_step --out results/bench/training_step.json
cat results/bench/training_step.json
# peer libraries are measured where the machine has them installed, and recorded as unavailable otherwise
python -m spikegrad.bench.lif_layer --out results/bench/lif_layer.json --n 4096 8192 16384
cat results/bench/lif_layer.json
python -m spikegrad.bench.event_sim --out results/bench/event_sim.json
cat results/bench/event_sim.json
python -m spikegrad.bench.sparse --out results/bench/sparse.json
cat results/bench/sparse.json
