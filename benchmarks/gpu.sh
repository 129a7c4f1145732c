#!/usr/bin/env bash
# The GPU figures of benchmarks/RESULTS.md in one command, on a machine with a CUDA GPU:
#
#   bash benchmarks/gpu.sh [LOGS]      # LOGS: where the outputs go (default: $OUT, else gpu-logs)
#
# Wheels found in .whl/ are installed into ~/site first, for a machine that has torch and
# torchvision but lacks netc's other dependencies (jsonschema, ...). Nothing else is downloaded.
set -uo pipefail
cd "$(dirname "$0")/.."
logs=${1:-${OUT:-gpu-logs}}
mkdir -p "$logs"
if compgen -G ".whl/*.whl" > /dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target "$HOME/site" .whl/*.whl || exit
  export PYTHONPATH="$HOME/site:$PWD${PYTHONPATH:+:$PYTHONPATH}"
else
  export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
fi
python3 -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else "no CUDA GPU")' || exit
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv \
  | tee "$logs/gpu.txt"
python3 -c 'import torch; print("torch", torch.__version__)' | tee -a "$logs/gpu.txt"
# Side by side: ResNet-50 netc vs torchvision (bf16, channels_last, compile), ResNet-9, MFU.
python3 benchmarks/train_throughput.py 2>&1 | tee "$logs/train_throughput.txt"
# Side by side: eager fp32 training step, ResNet-50 netc vs torchvision.
python3 benchmarks/runtime.py --size 224 --batch 64 --steps 20 2>&1 | tee "$logs/runtime.txt"
# The CLI on the GPU: the fast CIFAR net, compiled, bf16, three epochs of synthetic 32x32 data.
run=$(mktemp -d)/run
python3 -m netc.cli train examples/papers/resnet9_dawnbench_cifar.yaml --data synthetic:25600 \
  --epochs 3 --batch-size 512 --precision bf16 --channels-last --compile --out "$run" \
  2>&1 | tee "$logs/train.txt"
cp "$run/metrics.jsonl" "$logs/train-metrics.jsonl"
