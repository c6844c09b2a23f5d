#!/bin/bash
# ctest "reference": the numpy reference checks itself (dequantizers on hand-made blocks,
# HF == GGUF, llama3 RoPE divisors, causality) before it is trusted to judge herd.
set -euo pipefail
exec "${PYTHON:-/usr/bin/python3}" "$(dirname "$0")/selftest.py"
