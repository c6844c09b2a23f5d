#!/usr/bin/env bash
# Training benchmark (printed, not asserted, not in CI): LoRA training tokens/s and peak
# RSS of `herd finetune` (or `herd dpo`, `herd distill`) and of PyTorch
# (bench/finetune_torch.py, float32 base, Debian's python3-torch) side by side on the same
# CPU, same shape, sequence length, one item per step and LoRA rank/targets. herd runs on a
# random-weight model of the shape in each dtype given.
#
#   bench/finetune_bench.sh [SHAPE] [SEQ] [RANK] [TARGETS] [STEPS] [DTYPES]
#   defaults: 3.2-1b 512 16 q,k,v,o 2 f16,q4_0
# TARGETS "full": full fine-tuning on both sides (herd --full; every weight trained) instead of
# LoRA; use a small SHAPE (16 bytes per parameter on each side), e.g.
# d_model=1024,n_layers=8,n_heads=16,n_kv_heads=4,d_ff=4096,tied=1.
# PEAK_GFLOPS (e.g. the host's measured f32 FMA peak) adds each row's FLOP share: the matrix
# products a token costs, 2 forward + 2 backward through the weights (+ 2 for the weight
# gradients of full fine-tuning) x the linear layers' and the head's parameters, x tokens/s,
# over the peak (adapters, attention and the recomputed forward of checkpointing not counted).
# Environment: HERD_BIN (default build/herd), THREADS (default: all cores), HERD_EXTRA (more
# herd options, e.g. --no-activation-checkpointing or --bf16), TORCH_BF16=1 (a second PyTorch
# row under torch.autocast("cpu", bfloat16), the counterpart of herd's --bf16), OBJECTIVE: sft (default: herd finetune,
# one text sequence of SEQ tokens), dpo (herd dpo, one pair: a short prompt and two
# completions cut to SEQ tokens each, the reference computed once before the steps) or
# distill (herd distill, the model as its own teacher, its top-32 cache written before the
# steps). Tokens/s counts every token a step trains on (a pair's two sequences for dpo); the
# reference pass and the teacher cache are not timed, on either side.
# Run it on an otherwise idle machine; every figure is one run.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
HERD="${HERD_BIN:-$root/build/herd}"
shape="${1:-3.2-1b}"; seq="${2:-512}"; rank="${3:-16}"; targets="${4:-q,k,v,o}"; steps="${5:-2}"
dtypes="${6:-f16,q4_0}"
threads="${THREADS:-$(nproc)}"
objective="${OBJECTIVE:-sft}"
case "$objective" in sft|dpo|distill) ;; *) echo "OBJECTIVE must be sft, dpo or distill" >&2; exit 2 ;; esac
tmp="$(mktemp -d /tmp/herd-ftbench.XXXXXX)"
trap 'rm -rf "$tmp"' EXIT
# A text example of about SEQ tokens (every token trained).
# dpo: a pair whose prompt is about SEQ/4 tokens and whose completions fill the rest.
python3 - "$seq" "$objective" > "$tmp/data.jsonl" <<'PY'
import json, sys
seq, objective = int(sys.argv[1]), sys.argv[2]
words = lambda n, w: " ".join([w] * n)
if objective == "dpo":
    print(json.dumps({"prompt": words(seq // 4, "question"), "chosen": words(seq, "yes"), "rejected": words(seq, "no")}))
else:
    print(json.dumps({"text": " ".join(["the quick brown fox jumps over the lazy dog"] * (seq // 9 + 2))}))
PY
case "$objective" in
  sft) cmd=(finetune) ;;
  dpo) cmd=(dpo) ;;
  distill) cmd=(distill --teacher-cache "$tmp/cache.safetensors") ;;
esac
read -r D L H KV F V FLOPS < <(python3 - "$shape" "$targets" <<'PY'
import sys
shapes = {"3.2-1b": (2048, 16, 32, 8, 8192), "3.2-3b": (3072, 28, 24, 8, 8192), "8b": (4096, 32, 32, 8, 14336),
          "tiny": (256, 2, 4, 2, 512)}
if sys.argv[1] in shapes:
    D, L, H, KV, F = shapes[sys.argv[1]]
else:  # make-model's d_model=N,n_layers=N,n_heads=N,n_kv_heads=N,d_ff=N[,tied=1]
    kv = dict(x.split("=") for x in sys.argv[1].split(","))
    D, L, H, KV, F = (int(kv[k]) for k in ("d_model", "n_layers", "n_heads", "n_kv_heads", "d_ff"))
V, hd = 128256, D // H
params = L * (2 * D * H * hd + 2 * D * KV * hd + 3 * D * F) + V * D  # linear layers and the head
print(D, L, H, KV, F, V, (6 if sys.argv[2] == "full" else 4) * params)
PY
)
share() {  # tokens/s -> " | x% |" of PEAK_GFLOPS, or nothing (status 0 either way: set -e)
  if [ -n "${PEAK_GFLOPS:-}" ]; then
    python3 -c "import sys; print(' %.0f%% |' % (100 * $FLOPS * float(sys.argv[1]) / ($PEAK_GFLOPS * 1e9)), end='')" "$1"
  fi
}
echo "| engine | objective | base | seq | rank | targets | tokens/s | s/step | peak RSS MiB |${PEAK_GFLOPS:+ FLOP share of $PEAK_GFLOPS GFLOP/s |}"
echo "|---|---|---|---|---|---|---|---|---|${PEAK_GFLOPS:+---|}"
for dt in ${dtypes//,/ }; do
  "$HERD" make-model --shape "$shape" --dtype "$dt" -q -o "$tmp/m-$dt.gguf" >/dev/null 2>&1
  teacher=(); [ "$objective" = distill ] && teacher=(--teacher "$tmp/m-$dt.gguf")
  rm -f "$tmp/cache.safetensors"
  train=(--lora-rank "$rank" --lora-targets "$targets"); [ "$targets" = full ] && train=(--full)
  /usr/bin/time -f "%M" -o "$tmp/rss" "$HERD" "${cmd[@]}" "${teacher[@]}" -m "$tmp/m-$dt.gguf" --data "$tmp/data.jsonl" -o "$tmp/a" \
    --seq-len "$seq" --batch 1 --max-steps $((steps + 1)) --epochs 1000 "${train[@]}" \
    --log-jsonl "$tmp/log" -t "$threads" ${HERD_EXTRA:-} >/dev/null 2>&1
  # the first step warms up and is not counted
  python3 - "$tmp/log" "$(cat "$tmp/rss")" "$dt" "$seq" "$rank" "$targets" "${HERD_EXTRA:-}" "$objective" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])][1:]
tok = sum(r["tokens"] for r in rows); sec = sum(r["seconds"] for r in rows)
print(f"| herd{' ' + sys.argv[7] if sys.argv[7] else ''} | {sys.argv[8]} | {sys.argv[3]} | {sys.argv[4]} | {sys.argv[5]} | {sys.argv[6]} | {tok / sec:.1f} | {sec / len(rows):.2f} | {int(sys.argv[2]) / 1024:.0f} |", end="")
PY
  share "$(python3 -c "import json,sys; r=[json.loads(l) for l in open(sys.argv[1])][1:]; print(sum(x['tokens'] for x in r)/sum(x['seconds'] for x in r))" "$tmp/log")"
  echo
  rm -f "$tmp/log"
  rm -f "$tmp/m-$dt.gguf"
done
tv="$(/usr/bin/python3 -c 'import torch; print(torch.__version__)')"
for mode in f32 ${TORCH_BF16:+bf16}; do
  out="$(/usr/bin/python3 "$root/bench/finetune_torch.py" "$D" "$L" "$H" "$KV" "$F" "$V" "$seq" "$rank" "$targets" "$steps" "$threads" "$objective" "$mode")"
  python3 - "$out" "$seq" "$rank" "$targets" "$tv" "$objective" "$mode" <<'PY'
import json, sys
r = json.loads(sys.argv[1])
name = f"PyTorch {sys.argv[5]}" + (" autocast bf16" if sys.argv[7] == "bf16" else "")
print(f"| {name} | {sys.argv[6]} | f32 | {sys.argv[2]} | {sys.argv[3]} | {sys.argv[4]} | {r['tokens_per_s']:.1f} | {r['step_s']:.2f} | {r['peak_rss_mib']:.0f} |", end="")
PY
  share "$(python3 -c "import json,sys; print(json.loads(sys.argv[1])['tokens_per_s'])" "$out")"
  echo
done
