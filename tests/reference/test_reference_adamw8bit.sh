#!/bin/bash
# ctest "reference": AdamW with blockwise 8-bit moments (herd finetune --optimizer adamw8bit,
# train/optimizer.h) against a numpy implementation of the same specification, byte for byte
# (adamw8bit_check.py says why equality, not closeness, is the test).
set -euo pipefail
PY="${PYTHON:-/usr/bin/python3}"
DUMP="${HERD_ADAMW_DUMP:?set by ctest: the herd_adamw_dump tool}"
here="$(cd "$(dirname "$0")" && pwd)"
dir="$(mktemp -d)"
trap 'rm -rf "$dir"' EXIT
"$PY" "$here/adamw8bit_check.py" "$DUMP" "$dir"
