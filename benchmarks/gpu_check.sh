#!/usr/bin/env bash
# One short GPU session: the gpu-marked tests and the throughput benchmarks on the card.
# Run from the repository root on a machine with CUDA, python3 with torch, and the wheels of
# polars, gymnasium, tomli-w (and vowpalwabbit for the peer) in .whl/ when they are missing.
set -uo pipefail
OUT=${OUT:-/tmp/olearn-gpu}; mkdir -p "$OUT"
if [ -d .whl ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
  export PYTHONPATH=/tmp/site
fi
# olearn without installing: olearn/, envs/ -> olearn.envs, agents/ -> olearn.agents
rm -rf /tmp/pkg && mkdir -p /tmp/pkg && cp -r olearn /tmp/pkg/ && cp -r envs /tmp/pkg/olearn/envs && cp -r agents /tmp/pkg/olearn/agents
export PYTHONPATH=/tmp/pkg:${PYTHONPATH:-} PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
python3 -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name())" | tee -a "$OUT/gpu.txt"
REPO=$PWD
( cd /tmp && timeout 150 python3 -m pytest -q -p no:cacheprovider -m gpu "$REPO/tests" 2>&1 ) | tee "$OUT/gpu_tests.txt" | tail -15
timeout 200 python3 benchmarks/linear_cb.py --quick --device cuda --replicates 256 4096 2>&1 | tee "$OUT/linear_cb.txt"
timeout 150 python3 benchmarks/neural_cb.py --device cuda --replicates 1 32 1024 --horizon 300 2>&1 | tee "$OUT/neural_cb.txt"
if [ -f benchmarks/oco.py ]; then
  timeout 200 python3 benchmarks/oco.py --quick --device cuda --replicates ${OCO_REPLICATES:-16384} 2>&1 | tee "$OUT/oco.txt"
fi
timeout 90 python3 benchmarks/rng.py --device cuda --replicates 16384 --rounds 64 2>&1 | tee "$OUT/rng.txt"
