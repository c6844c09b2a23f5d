#!/bin/bash
# ctest "reference": herd vs the float64 numpy reference over every dtype and both formats,
# plus the bitwise prefill/decode and thread-count properties. See check_models.py.
set -euo pipefail
exec "${PYTHON:-/usr/bin/python3}" "$(dirname "$0")/check_models.py" "$@"
