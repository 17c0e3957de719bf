#!/usr/bin/env python3
"""Golden logits of the shipped models (weights/<name>/) from PyTorch, for tests/shipped_models.rs.

Usage (from the repository root): .venv/bin/python tools/golden/make_shipped_logits.py [NAME ...]

For each model folder under weights/ (or the names given), 120 utterances spread evenly over the
test split of its dataset (snips-* -> SNIPS, clinc-* -> CLINC150) are tokenized with
AutoTokenizer.from_pretrained(folder) and run one at a time at their exact length (batch 1, no
padding, as the device runs them) through ConvBertForSequenceClassification in float32.
Writes tests/golden/shipped/<name>.jsonl: {"text", "ids", "logits"} per line.
"""

import json
import pathlib
import sys

import torch
from transformers import AutoTokenizer, ConvBertForSequenceClassification

ROOT = pathlib.Path(__file__).resolve().parents[2]
DATA = ROOT.parent / "shared" / "datasets"
OUT = ROOT / "tests" / "golden" / "shipped"
SAMPLES = 120


def texts_for(name):
    dataset = "snips" if name.startswith("snips") else "clinc150"
    lines = (DATA / dataset / "test.tsv").read_text(encoding="utf-8").splitlines()
    return [lines[i * len(lines) // SAMPLES].split("\t", 1)[1] for i in range(SAMPLES)]


def main(names):
    torch.set_num_threads(2)
    OUT.mkdir(parents=True, exist_ok=True)
    folders = [ROOT / "weights" / n for n in names] if names else sorted(
        p.parent for p in (ROOT / "weights").glob("*/model.safetensors"))
    for folder in folders:
        tokenizer = AutoTokenizer.from_pretrained(folder)
        model = ConvBertForSequenceClassification.from_pretrained(folder, dtype=torch.float32).eval()
        rows = []
        with torch.no_grad():
            for text in texts_for(folder.name):
                enc = tokenizer(text, truncation=True, max_length=tokenizer.model_max_length, return_tensors="pt")
                logits = model(**enc).logits[0]
                rows.append({"text": text, "ids": enc["input_ids"][0].tolist(), "logits": [float(v) for v in logits]})
        path = OUT / f"{folder.name}.jsonl"
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
        print(f"{path.relative_to(ROOT)}: {len(rows)} utterances")


if __name__ == "__main__":
    main(sys.argv[1:])
