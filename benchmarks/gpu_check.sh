#!/usr/bin/env bash
# The GPU check (benchmarks/gpu_check.py) on a fresh machine: set-up, the built-in QuickDraw
# sample as data, then the check; one JSON in $OUT (or benchmarks/results). At most ~8 minutes
# on one GPU. Extra arguments go to gpu_check.py (e.g. --dry-run on a CPU, --steps 50).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
OUT_DIR="${OUT:-benchmarks/results}"
PYTHON="${PYTHON:-.venv/bin/python}"
if [ ! -x "$PYTHON" ]; then
  make .venv/bin/.sketchssl-installed > /dev/null
fi
STORE="$(mktemp -d)/sample.store"
"$PYTHON" -m sketchssl data build quickdraw-sample -o "$STORE" -q > /dev/null
"$PYTHON" benchmarks/gpu_check.py --data "$STORE" --out "$OUT_DIR/gpu_check.json" "$@"
