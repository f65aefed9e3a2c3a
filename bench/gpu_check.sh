#!/usr/bin/env bash
# The one command for a lent GPU machine: install the carried gpu_bundle/ offline, build the plugin with CUDA,
# compile the shipped models for cuda, then check correctness, stability, speed and throughput, each step under
# its own deadline, everything inside 9 minutes. Results: $OUT/gpu_check.{json,md,log} (default ./gpu_out).
#
#   bash scripts/gpu_bundle.sh                     # here, on the CPU machine: makes gpu_bundle/
#   bash bench/gpu_check.sh                        # there: device run, carry ["gpu_bundle"], timeout_s 600
#   bash scripts/gpu_bundle.sh --cpu && OUT=/tmp/gpu_out bash bench/gpu_check.sh --cpu    # rehearsal on a CPU
#
# Python: the image's python3 (its torch); under --cpu the stand-in made by gpu_bundle.sh --cpu ($GPUKIT_IMAGE).
# Options after the first are passed to bench/gpu_check.py (--budget S, --work DIR, --bundle DIR).
set -uo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = "--cpu" ]; then
  PY=${PYTHON:-${GPUKIT_IMAGE:-/tmp/gpukit-image}/bin/python}
else
  PY=${PYTHON:-python3}
fi
export OUT=${OUT:-$PWD/gpu_out}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
# the driver keeps its own deadlines (530 s); this is the backstop that still leaves the results in $OUT
timeout -k 5 560 "$PY" bench/gpu_check.py --out "$OUT" "$@"
