#!/usr/bin/env python3
"""Conformance cases for the QEMU suite (tests/conformance.rs), one utterance per line.

Usage (from the repository root): python3 tools/golden/make_conformance_cases.py

- tests/conformance/snips.txt: 200 utterances spread evenly over SNIPS test.tsv, then every
  tokenizer hard string (tests/golden/tokenizer/hard_strings.jsonl) that holds no line break
  (the cases file is line-based; the others are covered by the host tokenizer tests).
- tests/conformance/clinc150.txt: 200 utterances spread evenly over CLINC150 test.tsv.
"""

import json
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[2]
DATA = ROOT.parent / "shared" / "datasets"
OUT = ROOT / "tests" / "conformance"
COUNT = 200


def spread(dataset):
    lines = (DATA / dataset / "test.tsv").read_text(encoding="utf-8").splitlines()
    return [lines[i * len(lines) // COUNT].split("\t", 1)[1] for i in range(COUNT)]


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    hard = [json.loads(l) for l in (ROOT / "tests/golden/tokenizer/hard_strings.jsonl").read_text(encoding="utf-8").splitlines()]
    single_line = [s for s in hard if not any(c in s for c in "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")]
    for name, cases in [("snips", spread("snips") + single_line), ("clinc150", spread("clinc150"))]:
        (OUT / f"{name}.txt").write_text("".join(c + "\n" for c in cases), encoding="utf-8")
        print(f"tests/conformance/{name}.txt: {len(cases)} cases")


if __name__ == "__main__":
    main()
