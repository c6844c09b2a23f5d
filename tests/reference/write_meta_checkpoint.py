"""Writes Meta's native checkpoint layout from a Hugging Face Llama directory, for tests.

    /usr/bin/python3 write_meta_checkpoint.py HF_DIR OUT_DIR [--mp N]
    /usr/bin/python3 write_meta_checkpoint.py --hostile KIND OUT.pth

The inverse of transformers' convert_llama_weights_to_hf.py, written from the layout in
../../shared/spec llama31.md 1.2, 2.4 and 9.5, independent of herd's code:
  - params.json: dim, n_layers, n_heads, n_kv_heads, vocab_size, multiple_of,
    ffn_dim_multiplier (chosen so Meta's formula gives the directory's intermediate_size),
    norm_eps, rope_theta, use_scaled_rope;
  - consolidated.NN.pth: torch.save of the state dict with Meta's names, q/k rows back in
    Meta's order (HF row c*hd/2 + j of a head holds Meta row 2j + c), split over N
    model-parallel ranks as Meta's layers are (wq, wk, wv, w1, w3, output, tok_embeddings
    along rows; wo, w2 along columns; norms whole in every rank);
  - tokenizer.model: the tiktoken rank file rebuilt from tokenizer.json (byte-level strings
    mapped back to bytes; rank = id).

An FP8 directory (Meta's fp8_mixed as Hugging Face ships it: F8_E4M3 FFN weights with
"<name>_scale" [out, 1]) becomes Meta's native FP8 layout (llama31.md 7.1): the FFN weights as
float8_e4m3fn tensors in consolidated.NN.pth and their row scales [out] in fp8_scales_NN.pt under
"{layer}_feed_forward.{w1|w3|w2}_{rank}". w1/w3 split by rows keep their codes and scales; each
rank's columns of w2 are quantized on their own (fp8_check.py's quantize_fp8 of codes x scales),
as Meta's quantizer ran on each rank's shard. Options for FP8:
  --dequantized-out DIR  an HF directory of F32 weights equal to what the checkpoint holds
                         (codes x their rank's scale), the reference for herd's run of it;
  --w2-rank0-scales      every rank's w2 scales replaced by rank 0's (a negative control).

--hostile writes one bad checkpoint file: 'system' (a pickle that would call os.system),
'huge_storage' (a storage declaring 2^60 elements), 'bad_offset' (a tensor past the end of
its storage), 'nested' (a state dict inside a state dict), 'legacy' (torch's pre-1.6
format); and --hostile zip64 FILE.pth rewrites a valid checkpoint in place so that its end
record defers to the zip64 one, as in files over 4 GiB (not hostile: it must still load).
"""
import base64
import collections
import json
import os
import pickle
import shutil
import struct
import sys
import zipfile

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

HF_TO_META = [
    ("model.embed_tokens", "tok_embeddings", 0), ("model.norm", "norm", -1), ("lm_head", "output", 0),
    ("input_layernorm", "attention_norm", -1), ("post_attention_layernorm", "ffn_norm", -1),
    ("self_attn.q_proj", "attention.wq", 0), ("self_attn.k_proj", "attention.wk", 0),
    ("self_attn.v_proj", "attention.wv", 0), ("self_attn.o_proj", "attention.wo", 1),
    ("mlp.gate_proj", "feed_forward.w1", 0), ("mlp.up_proj", "feed_forward.w3", 0),
    ("mlp.down_proj", "feed_forward.w2", 1),
]
ST_DTYPES = {"BF16": (np.uint16, torch.bfloat16), "F16": (np.float16, torch.float16), "F32": (np.float32, torch.float32),
             "F8_E4M3": (np.uint8, torch.uint8)}  # FP8 codes: saved under Meta's float8 storage type (save_fp8)


def read_safetensors(d):
    out = {}
    for f in sorted(os.listdir(d)):
        if not f.endswith(".safetensors"):
            continue
        raw = open(os.path.join(d, f), "rb").read()
        n = struct.unpack("<Q", raw[:8])[0]
        header = json.loads(raw[8:8 + n])
        for name, e in header.items():
            if name == "__metadata__":
                continue
            np_t, torch_t = ST_DTYPES[e["dtype"]]
            b, end = e["data_offsets"]
            a = np.frombuffer(raw, dtype=np_t, count=(end - b) // np.dtype(np_t).itemsize, offset=8 + n + b)
            if np_t is np.uint16:  # torch 1.13 has no uint16: through int16
                t = torch.from_numpy(a.view(np.int16).copy()).view(torch.bfloat16)
            else:
                t = torch.from_numpy(a.copy())
            out[name] = t.reshape(e["shape"])
    return out


def meta_name(hf):
    for h, m, split in HF_TO_META:
        if hf == h + ".weight":
            return m + ".weight", split
        if hf.startswith("model.layers.") and hf.endswith("." + h + ".weight"):
            layer = hf.split(".")[2]
            return f"layers.{layer}.{m}.weight", split
    raise SystemExit(f"write_meta_checkpoint: unexpected tensor {hf}")


def unpermute(w, n_heads):  # HF's q/k row order -> Meta's
    rows, cols = w.shape
    hd = rows // n_heads
    return w.reshape(n_heads, 2, hd // 2, cols).transpose(1, 2).reshape(rows, cols).contiguous()


def ffn_params(dim, ffn):
    h = int(2 * (4 * dim) / 3)
    for multiple_of in (256, 128, 64, 32, 16, 8, 4, 2, 1):
        for mult in (None, 1.0, 1.2, 1.3, 1.5):
            x = h if mult is None else int(mult * h)
            if multiple_of * ((x + multiple_of - 1) // multiple_of) == ffn:
                return multiple_of, mult
    return ffn, ffn / h  # rounds up to ffn itself


def byte_decoder():  # the inverse of GPT-2's bytes_to_unicode
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {chr(c): b for b, c in zip(bs, cs)}


def write_tokenizer_model(hf_dir, out):
    vocab = json.load(open(os.path.join(hf_dir, "tokenizer.json")))["model"]["vocab"]
    dec = byte_decoder()
    ranked = sorted((i, s) for s, i in vocab.items())
    with open(out, "w") as f:
        for i, s in ranked:
            f.write(base64.b64encode(bytes(dec[c] for c in s)).decode() + f" {i}\n")


def save_fp8(sd, path):
    """torch.save with every uint8 tensor (only FP8 codes here) stored as torch 2's
    float8_e4m3fn: storage type torch.Float8_e4m3fnStorage, the codes as the bytes.
    torch 1.13 has no float8 dtype; only the storage's type name differs."""
    stub = type("Float8_e4m3fnStorage", (), {"__module__": "torch"})
    saved = getattr(torch, "Float8_e4m3fnStorage", None)
    torch.Float8_e4m3fnStorage = stub
    orig = torch.storage.TypedStorage.pickle_storage_type
    torch.storage.TypedStorage.pickle_storage_type = \
        lambda self: "Float8_e4m3fnStorage" if self.dtype == torch.uint8 else orig(self)
    try:
        torch.save(sd, path)
    finally:
        torch.storage.TypedStorage.pickle_storage_type = orig
        if saved is None:
            del torch.Float8_e4m3fnStorage


def write_f32_dir(hf_dir, out_dir, tensors):
    """An HF directory of F32 weights (config without quantization_config, the tokenizer files)."""
    os.makedirs(out_dir)
    cfg = json.load(open(os.path.join(hf_dir, "config.json")))
    cfg.pop("quantization_config", None)
    cfg["torch_dtype"] = "float32"
    json.dump(cfg, open(os.path.join(out_dir, "config.json"), "w"), indent=2)
    for f in ("tokenizer.json", "tokenizer_config.json", "generation_config.json"):
        if os.path.exists(os.path.join(hf_dir, f)):
            shutil.copy(os.path.join(hf_dir, f), out_dir)
    header, blobs, off = {}, [], 0
    for name in sorted(tensors):
        a = np.ascontiguousarray(tensors[name], dtype=np.float32)
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [off, off + a.nbytes]}
        blobs.append(a.tobytes())
        off += a.nbytes
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(os.path.join(out_dir, "model.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def convert(hf_dir, out_dir, mp, dequantized_out=None, w2_rank0_scales=False):
    cfg = json.load(open(os.path.join(hf_dir, "config.json")))
    dim, heads = cfg["hidden_size"], cfg["num_attention_heads"]
    kv = cfg.get("num_key_value_heads", heads)
    multiple_of, mult = ffn_params(dim, cfg["intermediate_size"])
    rs = cfg.get("rope_scaling") or {}
    params = {"dim": dim, "n_layers": cfg["num_hidden_layers"], "n_heads": heads, "n_kv_heads": kv,
              "vocab_size": cfg["vocab_size"], "multiple_of": multiple_of, "norm_eps": cfg["rms_norm_eps"],
              "rope_theta": cfg["rope_theta"], "use_scaled_rope": rs.get("rope_type") == "llama3"}
    if mult is not None:
        params["ffn_dim_multiplier"] = mult
    if rs and rs.get("factor") != (32.0 if dim in (2048, 3072) else 8.0):
        params["rope_scaling_factor"] = rs["factor"]
    os.makedirs(out_dir, exist_ok=True)
    json.dump(params, open(os.path.join(out_dir, "params.json"), "w"), indent=2)
    write_tokenizer_model(hf_dir, os.path.join(out_dir, "tokenizer.model"))
    shards = [collections.OrderedDict() for _ in range(mp)]
    scales = [collections.OrderedDict() for _ in range(mp)]
    tensors = read_safetensors(hf_dir)
    effective = {}  # HF name -> the f32 values the checkpoint holds (for --dequantized-out)
    for hf, t in tensors.items():
        if hf.endswith(".weight_scale"):
            continue
        name, split = meta_name(hf)
        if t.dtype == torch.uint8:  # FP8 codes with their row scales
            from fp8_check import e4m3_table, quantize_fp8
            table = np.concatenate([e4m3_table(), [np.nan]])
            codes = t.numpy()
            scale = tensors[hf + "_scale"].numpy().reshape(-1).astype(np.float32)
            values = (table[codes & 0x7F] * np.where(codes & 0x80, -1.0, 1.0)).astype(np.float32) * scale[:, None]
            layer, w = name.split(".")[1], name.split(".")[3]
            parts = []
            for r in range(mp):
                if split == 0:
                    rows = codes.shape[0] // mp
                    q, sc = codes[r * rows:(r + 1) * rows], scale[r * rows:(r + 1) * rows]
                else:
                    cols = codes.shape[1] // mp
                    q, sc = quantize_fp8(values[:, r * cols:(r + 1) * cols])
                    sc = sc.reshape(-1).astype(np.float32)
                parts.append((q, sc))
            if w == "w2" and w2_rank0_scales:
                parts = [(q, parts[0][1]) for q, _ in parts]
            deq = [(table[q & 0x7F] * np.where(q & 0x80, -1.0, 1.0)).astype(np.float32) * sc[:, None] for q, sc in parts]
            effective[hf] = np.concatenate(deq, axis=split)
            for r, (q, sc) in enumerate(parts):
                shards[r][name] = torch.from_numpy(np.ascontiguousarray(q))
                scales[r][f"{layer}_feed_forward.{w}_{r}"] = torch.from_numpy(np.ascontiguousarray(sc))
            continue
        effective[hf] = t.float().numpy()
        if name.endswith("attention.wq.weight"):
            t = unpermute(t, heads)
        elif name.endswith("attention.wk.weight"):
            t = unpermute(t, kv)
        for r in range(mp):
            shards[r][name] = t.clone() if split < 0 else t.chunk(mp, dim=split)[r].clone()
    for r, sd in enumerate(shards):
        save_fp8(sd, os.path.join(out_dir, f"consolidated.{r:02d}.pth"))
        if scales[r]:
            torch.save(scales[r], os.path.join(out_dir, f"fp8_scales_{r}.pt"))
    if dequantized_out:
        write_f32_dir(hf_dir, dequantized_out, effective)


class StorageRef:
    def __init__(self, key, numel):
        self.key, self.numel = key, numel


class TensorRef:
    def __init__(self, storage, offset, shape):
        self.storage, self.offset, self.shape = storage, offset, shape

    def __reduce__(self):
        stride = tuple(int(np.prod(self.shape[i + 1:])) for i in range(len(self.shape)))
        return torch._utils._rebuild_tensor_v2, (self.storage, self.offset, self.shape, stride, False,
                                                 collections.OrderedDict())


class System:
    def __reduce__(self):
        return os.system, ("touch " + os.environ.get("CANARY", "/tmp/herd-canary"),)


class Saver(pickle.Pickler):
    def persistent_id(self, obj):
        if isinstance(obj, StorageRef):
            return ("storage", torch.BFloat16Storage, obj.key, "cpu", obj.numel)
        return None


def write_zip(path, obj, records):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        import io
        buf = io.BytesIO()
        Saver(buf, protocol=2).dump(obj)
        z.writestr("archive/data.pkl", buf.getvalue())
        for k, v in records.items():
            z.writestr(f"archive/data/{k}", v)
        z.writestr("archive/version", "3\n")


def hostile(kind, path):
    data = np.arange(16, dtype=np.uint16).tobytes()
    s = StorageRef("0", 16)
    if kind == "system":
        write_zip(path, {"w": System()}, {"0": data})
    elif kind == "huge_storage":
        write_zip(path, {"w": TensorRef(StorageRef("0", 1 << 60), 0, (4, 4))}, {"0": data})
    elif kind == "bad_offset":
        write_zip(path, {"w": TensorRef(s, 12, (2, 4))}, {"0": data})
    elif kind == "nested":
        write_zip(path, {"model": {"w": TensorRef(s, 0, (4, 4))}}, {"0": data})
    elif kind == "legacy":
        torch.save({"w": torch.zeros(4, 4, dtype=torch.bfloat16)}, path, _use_new_zipfile_serialization=False)
    elif kind == "zip64":  # in place: path is an existing checkpoint
        raw = bytearray(open(path, "rb").read())
        e = raw.rfind(b"PK\x05\x06")
        assert raw.rfind(b"PK\x06\x06") > 0, "torch.save wrote no zip64 end record"
        raw[e + 8:e + 20] = b"\xff\xff\xff\xff" + b"\xff\xff\xff\xff" + b"\xff\xff\xff\xff"
        open(path, "wb").write(raw)
    else:
        raise SystemExit(f"write_meta_checkpoint: unknown --hostile kind {kind}")


def main(argv):
    if argv and argv[0] == "--hostile":
        hostile(argv[1], argv[2])
        return
    mp = int(argv[argv.index("--mp") + 1]) if "--mp" in argv else 1
    deq = argv[argv.index("--dequantized-out") + 1] if "--dequantized-out" in argv else None
    convert(argv[0], argv[1], mp, deq, "--w2-rank0-scales" in argv)


if __name__ == "__main__":
    main(sys.argv[1:])
