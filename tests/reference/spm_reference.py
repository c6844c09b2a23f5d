#!/usr/bin/env python3
"""Google's SentencePiece as the reference for herd's unigram tokenizer.

  spm_reference.py corpus OUT.txt              multilingual text from this Debian
                                               system's translation catalogs (.mo)
  spm_reference.py tokenizer-json MODEL OUT    MODEL (an spm_train .model) written as a
                                               Hugging Face DeBERTa-v2 tokenizer.json
  spm_reference.py encode MODEL IN.jsonl       ids of each JSON-string line of IN, one
                                               {"ids": [...]} line each, by SentencePiece

The tokenizer.json follows the layout Hugging Face's DebertaV2Converter writes: the
vocabulary as [piece, score] pairs, unk_id, the Precompiled normalizer holding the model's
precompiled_charsmap, Strip and Replace(" {2,}", " ") for SentencePiece's whitespace rule,
Metaspace, and the [CLS] $A [SEP] template. The model file is read with a small protobuf
wire-format reader of its own (no python3-protobuf); SentencePiece itself encodes.
"""
import base64
import gettext
import glob
import json
import os
import struct
import sys
import unicodedata


def varint(buf, i):
    v = shift = 0
    while True:
        b = buf[i]
        i += 1
        v |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return v, i


def fields(buf):
    """(field number, wire type, value) of one protobuf message."""
    i = 0
    while i < len(buf):
        key, i = varint(buf, i)
        f, wt = key >> 3, key & 7
        if wt == 0:
            v, i = varint(buf, i)
        elif wt == 1:
            v, i = buf[i:i + 8], i + 8
        elif wt == 2:
            n, i = varint(buf, i)
            v, i = buf[i:i + n], i + n
        elif wt == 5:
            v, i = buf[i:i + 4], i + 4
        else:
            raise ValueError("wire type %d" % wt)
        yield f, wt, v


# ModelProto.SentencePiece.Type
NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE = 1, 2, 3, 4, 5, 6


def read_model(path):
    buf = open(path, "rb").read()
    pieces, norm = [], {}
    for f, _, v in fields(buf):
        if f == 1:  # pieces
            p = {"piece": "", "score": 0.0, "type": NORMAL}
            for pf, _, pv in fields(v):
                if pf == 1:
                    p["piece"] = pv.decode("utf-8")
                elif pf == 2:
                    p["score"] = struct.unpack("<f", pv)[0]
                elif pf == 3:
                    p["type"] = pv
            pieces.append(p)
        elif f == 3:  # normalizer_spec
            for nf, _, nv in fields(v):
                norm[nf] = nv
    return pieces, norm


def tokenizer_json(model, out_dir):
    pieces, norm = read_model(model)
    charsmap = norm.get(2, b"")
    special = [i for i, p in enumerate(pieces) if p["type"] in (UNKNOWN, CONTROL)]
    unk = [i for i, p in enumerate(pieces) if p["type"] == UNKNOWN][0]
    ids = {p["piece"]: i for i, p in enumerate(pieces)}
    normalizers = [{"type": "Strip", "strip_left": True, "strip_right": True}]
    if charsmap:
        normalizers.append({"type": "Precompiled", "precompiled_charsmap": base64.b64encode(charsmap).decode()})
    normalizers.append({"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": " "})
    tok = {
        "version": "1.0", "truncation": None, "padding": None,
        "added_tokens": [{"id": i, "content": pieces[i]["piece"], "single_word": False, "lstrip": False,
                          "rstrip": False, "normalized": False, "special": True} for i in special],
        "normalizer": {"type": "Sequence", "normalizers": normalizers},
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always", "split": True}]},
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                       {"SpecialToken": {"id": "[SEP]", "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                     {"SpecialToken": {"id": "[SEP]", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}},
                     {"SpecialToken": {"id": "[SEP]", "type_id": 1}}],
            "special_tokens": {t: {"id": t, "ids": [ids[t]], "tokens": [t]} for t in ("[CLS]", "[SEP]")}},
        "decoder": {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always", "split": True},
        "model": {"type": "Unigram", "unk_id": unk,
                  "vocab": [[p["piece"], p["score"]] for p in pieces], "byte_fallback": False},
    }
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(tok, f, ensure_ascii=False)


def corpus(out):
    """Translated messages of every catalog on the system (many languages and
    scripts), then characters from blocks the catalogs may lack."""
    lines = []
    for mo in sorted(glob.glob("/usr/share/locale/*/LC_MESSAGES/*.mo")):
        try:
            with open(mo, "rb") as f:
                cat = gettext.GNUTranslations(f)._catalog
        except Exception:
            continue
        n = 0
        for k in sorted(cat, key=str):
            v = cat[k]
            if isinstance(v, str) and v and k:
                lines.append(" ".join(v.split()))
                n += 1
            if n >= 40:
                break
    for lo, hi in ((0x0400, 0x0450), (0x0600, 0x064B), (0x0900, 0x0940), (0x0E01, 0x0E30), (0x3041, 0x3097),
                   (0x4E00, 0x4F00), (0xAC00, 0xAD00), (0xFF01, 0xFF5E), (0x1F600, 0x1F640)):
        chars = [chr(c) for c in range(lo, hi) if unicodedata.category(chr(c))[0] in "LNPS"]
        for i in range(0, len(chars), 7):
            lines.append("".join(chars[i:i + 7]) + " " + "".join(reversed(chars[i:i + 5])))
    with open(out, "w", encoding="utf-8") as f:
        f.write("\n".join(l for l in lines if l.strip()) + "\n")


def encode(model, path):
    import sentencepiece
    sp = sentencepiece.SentencePieceProcessor(model_file=model)
    out = []
    for line in open(path, encoding="utf-8"):
        if line.strip():
            out.append(json.dumps({"ids": sp.encode(json.loads(line))}, separators=(",", ":")))
    print("\n".join(out))


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "corpus":
        corpus(sys.argv[2])
    elif cmd == "tokenizer-json":
        tokenizer_json(sys.argv[2], sys.argv[3])
    elif cmd == "encode":
        encode(sys.argv[2], sys.argv[3])
    else:
        sys.exit("unknown command " + cmd)
