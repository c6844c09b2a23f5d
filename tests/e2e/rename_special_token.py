#!/usr/bin/python3
"""Test helper: renames one reserved special token in an HF tokenizer.json in place, so the
model directory has a vocabulary that differs from Llama 3's in one entry (the refusals of
herd dpo --ref-model and herd distill for another tokenizer).

Usage: rename_special_token.py TOKENIZER_JSON"""
import json
import sys

path = sys.argv[1]
j = json.load(open(path))
hit = 0
for t in j["added_tokens"]:
    if t["content"] == "<|reserved_special_token_5|>":
        t["content"] = "<|renamed_token|>"
        hit += 1
json.dump(j, open(path, "w"))
sys.exit(0 if hit == 1 else 1)
