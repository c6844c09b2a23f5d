#!/usr/bin/env bash
# ctest "e2e": GGUF files from `herd make-model` read by an independent GGUF
# parser (@huggingface/gguf from npm, installed by tools/setup.sh into
# tests/peers/node_modules) as normal Llama models: the tiny test shape and the
# real Llama 3.2 1B shape (tied embeddings), whose parameter count must equal
# the published 1,235,814,400 plus the 32 rope_freqs divisors.
set -euo pipefail
HERD="${HERD_BIN:?HERD_BIN must name the herd binary}"
here="$(cd "$(dirname "$0")/.." && pwd)"
peers="$here/peers"
if [ ! -d "$peers/node_modules/@huggingface/gguf" ]; then
  echo "tests/peers/node_modules is missing: run tools/setup.sh" >&2
  exit 1
fi
tmp="$(mktemp -d /tmp/herd-peer.XXXXXX)"
trap 'rm -rf "$tmp"' EXIT
"$HERD" make-model --shape tiny --dtype q4_k_m -o "$tmp/tiny.gguf" -q
node "$peers/gguf_peer_check.mjs" "$tmp/tiny.gguf" 256 2 4 2 512 0 66848032 | tail -4
"$HERD" make-model --shape 3.2-1b --dtype q4_0 -o "$tmp/1b.gguf" -q
node "$peers/gguf_peer_check.mjs" "$tmp/1b.gguf" 2048 16 32 8 8192 1 1235814432 | tail -4
