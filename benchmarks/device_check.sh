#!/bin/sh
# Run benchmarks/device_check.py with whichever Python the machine has (from the repository root).
cd "$(dirname "$0")/.." || exit 1
PY=${PYTHON:-$(command -v python3 || command -v python)}
exec "$PY" benchmarks/device_check.py "$@"
