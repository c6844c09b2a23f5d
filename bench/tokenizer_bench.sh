#!/usr/bin/env bash
# Encode throughput of herd's Llama 3 tokenizer beside the JavaScript peers, same text,
# same run, one thread each (issue 3: target >= 10x the JS peer).
#
#   bench/tokenizer_bench.sh [MB=16] [MIN_SECONDS=2]
#
# Environment: HERD_BIN (default build/herd), PYTHON (default /usr/bin/python3).
# The text is tests/tokenizer/corpus/*.jsonl (14 languages, code, emoji, whitespace...)
# concatenated one text per line, in a fixed shuffled order per repetition, until it
# holds MB x 10^6 bytes. Every tokenizer encodes the whole text as one string (no BOS, no
# special-token parsing), best of >= 2-3 runs lasting MIN_SECONDS; MB/s = 10^6 input
# bytes per second. The token counts must agree, which shows all three did the same work.
# Needs tests/peers/node_modules (tools/setup.sh).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
HERD="${HERD_BIN:-$root/build/herd}"
PY="${PYTHON:-/usr/bin/python3}"
mb="${1:-16}"
min_s="${2:-2}"
tmp="$(mktemp -d /tmp/herd-tokbench.XXXXXX)"
trap 'rm -rf "$tmp"' EXIT

"$PY" - "$root/tests/tokenizer/corpus" "$tmp/text.txt" "$mb" <<'PYEOF'
import glob, json, random, sys
src, dst, mb = sys.argv[1], sys.argv[2], float(sys.argv[3])
texts = [json.loads(l) for f in sorted(glob.glob(src + "/*.jsonl"))
         for l in open(f, encoding="utf-8") if l.strip()]
rng, out, size, want = random.Random(3), [], 0, int(mb * 1e6)
while size < want:
    order = texts[:]
    rng.shuffle(order)
    for t in order:
        b = (t + "\n").encode("utf-8")
        out.append(b)
        size += len(b)
        if size >= want:
            break
open(dst, "wb").write(b"".join(out))
PYEOF

echo "text: $(wc -c < "$tmp/text.txt") bytes from tests/tokenizer/corpus; $(uname -m), $(nproc) CPUs," \
     "$(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2 | sed 's/^ //')"
herd_line="$("$HERD" tokenize --bench "$tmp/text.txt" --min-seconds "$min_s")"
echo "$herd_line"
js_lines="$(node --max-old-space-size=8192 "$root/tests/peers/tokenize_peers.mjs" bench "$tmp/text.txt" "$min_s")"
echo "$js_lines"
"$PY" - "$herd_line" "$js_lines" <<'PYEOF'
import re, sys
def parse(line):
    m = re.search(r"(\d+) tokens, .* ([\d.]+) MB/s", line)
    return int(m.group(1)), float(m.group(2))
herd_tok, herd = parse(sys.argv[1])
for line in sys.argv[2].splitlines():
    tok, js = parse(line)
    name = line.split(":")[0]
    same = "same token count" if tok == herd_tok else f"TOKEN COUNT DIFFERS ({tok} vs herd {herd_tok})"
    print(f"herd / {name}: {herd / js:.1f}x ({same})")
PYEOF
