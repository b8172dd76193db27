#!/usr/bin/env bash
# The GPU check: one script for a machine with one H100/H200, no network. From the repo root:
#   scripts/fetch_wheels.sh                 # here, once: wheels/ with what the machine lacks
#   scripts/gpu_check.sh "$OUT"             # there (carry wheels/): tests marked gpu + the table
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${1:-${OUT:-gpu_check_out}}"
mkdir -p "$OUT"
if [ -d wheels ]; then
    python -m pip install -q --no-index --find-links wheels orjson bitsandbytes
fi
python -m pip install -q --no-deps --no-build-isolation -e . >/dev/null
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
python -m pytest -q -m gpu tests/ 2>&1 | tee "$OUT/pytest_gpu.txt"
python scripts/gpu_check.py --out "$OUT/runs" 2>&1 | tee "$OUT/table.txt"
