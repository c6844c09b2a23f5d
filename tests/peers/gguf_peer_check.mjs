// Reads a GGUF written by `herd make-model` with Hugging Face's independent
// GGUF parser (@huggingface/gguf, the one the Hub uses to describe uploads)
// and checks that it sees a normal Llama model: architecture, hyperparameters,
// the Llama 3 tokenizer arrays, every tensor a llama.cpp loader requires with
// ggml's (innermost-first) dimensions, data inside the file, and the
// parameter count of the named shape.
//
// usage: node gguf_peer_check.mjs FILE.gguf D L H KV F TIED(0|1) EXPECTED_PARAMS
import { gguf } from "@huggingface/gguf";
import { statSync } from "node:fs";

const [file, D, L, H, KV, F, tied, expectedParams] = process.argv.slice(2);
const d = Number(D), nl = Number(L), h = Number(H), kv = Number(KV), ff = Number(F);
const V = 128256;
const hd = d / h;
let failures = 0;
function check(cond, what) {
  console.log(`${cond ? "ok  " : "FAIL"} ${what}`);
  if (!cond) failures++;
}

const { metadata: m, tensorInfos, tensorDataOffset, parameterCount } =
  await gguf(file, { allowLocalFile: true, computeParametersCount: true });

check(m.version === 3, `GGUF version ${m.version}`);
check(m["general.architecture"] === "llama", `general.architecture = ${m["general.architecture"]}`);
check(Number(m["llama.embedding_length"]) === d, `llama.embedding_length = ${m["llama.embedding_length"]}`);
check(Number(m["llama.block_count"]) === nl, `llama.block_count = ${m["llama.block_count"]}`);
check(Number(m["llama.feed_forward_length"]) === ff, `llama.feed_forward_length = ${m["llama.feed_forward_length"]}`);
check(Number(m["llama.attention.head_count"]) === h, "llama.attention.head_count");
check(Number(m["llama.attention.head_count_kv"]) === kv, "llama.attention.head_count_kv");
check(Number(m["llama.rope.dimension_count"]) === hd, "llama.rope.dimension_count");
check(Math.abs(Number(m["llama.rope.freq_base"]) - 500000) < 1e-3, "llama.rope.freq_base = 500000");
check(Math.abs(Number(m["llama.attention.layer_norm_rms_epsilon"]) - 1e-5) < 1e-9, "rms epsilon 1e-5");
check(m["tokenizer.ggml.model"] === "gpt2" && m["tokenizer.ggml.pre"] === "llama-bpe", "tokenizer gpt2 / llama-bpe");
check(m["tokenizer.ggml.tokens"]?.length === V, `tokenizer.ggml.tokens has ${m["tokenizer.ggml.tokens"]?.length}`);
check(m["tokenizer.ggml.token_type"]?.length === V, "tokenizer.ggml.token_type has 128256");
check(m["tokenizer.ggml.merges"]?.length === 280147, `tokenizer.ggml.merges has ${m["tokenizer.ggml.merges"]?.length}`);
check(m["tokenizer.ggml.tokens"][128009] === "<|eot_id|>" && m["tokenizer.ggml.tokens"][220] === "Ġ", "special and byte-level token text");
check(Number(m["tokenizer.ggml.bos_token_id"]) === 128000, "bos 128000");

const byName = new Map(tensorInfos.map((t) => [t.name, t]));
function shape(name, want) {
  const t = byName.get(name);
  const got = t ? t.shape.map(Number) : null;
  check(t && JSON.stringify(got) === JSON.stringify(want), `${name} ne=${JSON.stringify(got)} (want ${JSON.stringify(want)})`);
}
shape("token_embd.weight", [d, V]);
shape("rope_freqs.weight", [hd / 2]);
shape("output_norm.weight", [d]);
if (tied === "1") check(!byName.has("output.weight"), "tied: no output.weight");
else shape("output.weight", [d, V]);
for (let i = 0; i < nl; i++) {
  shape(`blk.${i}.attn_norm.weight`, [d]);
  shape(`blk.${i}.attn_q.weight`, [d, h * hd]);
  shape(`blk.${i}.attn_k.weight`, [d, kv * hd]);
  shape(`blk.${i}.attn_v.weight`, [d, kv * hd]);
  shape(`blk.${i}.attn_output.weight`, [h * hd, d]);
  shape(`blk.${i}.ffn_norm.weight`, [d]);
  shape(`blk.${i}.ffn_gate.weight`, [d, ff]);
  shape(`blk.${i}.ffn_up.weight`, [d, ff]);
  shape(`blk.${i}.ffn_down.weight`, [ff, d]);
}
check(tensorInfos.length === nl * 9 + (tied === "1" ? 3 : 4), `${tensorInfos.length} tensors`);
const size = BigInt(statSync(file).size);
const maxOffset = tensorInfos.reduce((a, t) => (t.offset > a ? t.offset : a), 0n);
check(tensorDataOffset + maxOffset < size, "tensor data starts inside the file");
check(String(parameterCount) === expectedParams, `parameter count ${parameterCount} (want ${expectedParams})`);
console.log(`${failures} failure(s)`);
process.exit(failures ? 1 : 0);
