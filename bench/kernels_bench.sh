#!/usr/bin/env bash
# Kernel micro-benchmarks (bench/kernels_bench.cpp, Google Benchmark): matmul per weight
# dtype and layout on the Llama 3.2-1B shapes, attention, quantize_q8 and a streaming
# read, for every ISA this host supports. See docs/kernels.md, "Micro-benchmarks".
#
#   bench/kernels_bench.sh [GOOGLE BENCHMARK FLAGS...]
#   bench/kernels_bench.sh --benchmark_filter='matmul/avx512vnni/q4_0/.*/T:1/' --benchmark_repetitions=3
#   bench/kernels_bench.sh --benchmark_list_tests          # the names (~800; all takes ~20 min)
#
# Environment: KERNELS_BENCH_BIN (default build/kernels_bench, built by tools/build.sh when
# libbenchmark-dev is installed), PYTHON (default /usr/bin/python3, standard library only).
# Google Benchmark's table is printed as it runs. Then a summary: per benchmark the
# repetition with the shortest wall time (the least disturbed one on a shared host), and
# for every r8 matmul its speed-up over the file layout of the same ISA, dtype, shape, T
# and pool ("r8/file": file time / r8 time). "cpu/wall" is the main thread's CPU time over
# wall time: near 1 for an undisturbed pool:1 run, lower when other jobs took the core
# (with pool:2 the main thread also waits for the worker). --benchmark_out=FILE keeps the JSON.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
BIN="${KERNELS_BENCH_BIN:-$root/build/kernels_bench}"
PY="${PYTHON:-/usr/bin/python3}"
if [ ! -x "$BIN" ]; then
  echo "kernels_bench.sh: $BIN not found; build it with tools/build.sh (needs libbenchmark-dev," \
       "tools/setup.sh installs it) or set KERNELS_BENCH_BIN" >&2
  exit 1
fi

out=""
for a in "$@"; do
  case "$a" in
    --benchmark_list_tests*) exec "$BIN" "$@" ;;
    --benchmark_out=*) out="${a#--benchmark_out=}" ;;
    --benchmark_out_format=json) ;;
    --benchmark_out_format=*) exec "$BIN" --benchmark_counters_tabular=true "$@" ;;  # no summary
  esac
done
extra=()
if [ -z "$out" ]; then
  tmp="$(mktemp -d /tmp/herd-kbench.XXXXXX)"
  trap 'rm -rf "$tmp"' EXIT
  out="$tmp/kernels_bench.json"
  extra=(--benchmark_out="$out" --benchmark_out_format=json)
fi

"$BIN" --benchmark_counters_tabular=true "${extra[@]}" "$@"

"$PY" - "$out" <<'PYEOF'
import json, sys
doc = json.load(open(sys.argv[1]))
best = {}
for b in doc["benchmarks"]:
    if b.get("run_type") != "iteration" or b.get("error_occurred"):
        continue
    name = b["run_name"].removesuffix("/real_time")
    if name not in best or b["real_time"] < best[name]["real_time"]:
        best[name] = b
if not best:
    sys.exit(0)
ctx = doc["context"]
print(f"\nsummary ({ctx.get('herd_isas', '?')}; {ctx.get('num_cpus')} CPUs; best of "
      f"{max(b.get('repetitions', 1) for b in best.values())} repetition(s), wall time)")
print("| benchmark | path | us | GFLOP/s | GB/s | bw% | r8/file | cpu/wall |")
print("|---|---|---:|---:|---:|---:|---:|---:|")
def num(b, k, f):
    return format(b[k], f) if k in b else ""
for name, b in best.items():
    ratio = ""
    if "/r8/" in name:
        f = best.get(name.replace("/r8/", "/file/"))
        if f:
            ratio = f"{f['real_time'] / b['real_time']:.2f}x"
    print(f"| {name} | {b.get('label', '')} | {b['real_time']:.1f} | {num(b, 'GFLOP', '.1f')} | "
          f"{num(b, 'GB', '.2f')} | {num(b, 'bw%', '.0f')} | {ratio} | {b['cpu_time'] / b['real_time']:.2f} |")
PYEOF
