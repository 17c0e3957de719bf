#!/usr/bin/env python3
"""Write an "own intents" example folder from CLINC150: N in-scope intents, their train lines
into train.tsv and their test lines into test.tsv, and deliberately no valid.tsv, so that
`train.py --data DIR` has to hold out its own validation lines (the case of a user with one file).

The dataset itself is not committed (CC BY 3.0, 15k lines); this script rebuilds the folder
byte for byte from ../shared/datasets/clinc150.

Example:
  .venv/bin/python tools/train/make_example_data.py --out /tmp/own-clinc25
  .venv/bin/python tools/train/train.py --data /tmp/own-clinc25 --preset tiny --out /tmp/own-intents
"""
import argparse
import os
import sys

SRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "shared",
                   "datasets", "clinc150")


def read(path):
    with open(path, encoding="utf-8") as f:
        return [line.rstrip("\n").split("\t", 1) for line in f if line.strip()]


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, help="folder to write train.tsv and test.tsv into")
    p.add_argument("--src", default=SRC, help="CLINC150 folder (train.tsv, test.tsv)")
    p.add_argument("--intents", type=int, default=25, help="how many in-scope intents (1-150)")
    args = p.parse_args()

    train, test = read(os.path.join(args.src, "train.tsv")), read(os.path.join(args.src, "test.tsv"))
    labels = sorted({l for l, _ in train} - {"oos"})  # oos is "none of these", not an intent
    if not 1 <= args.intents <= len(labels):
        sys.exit("error: --intents must be between 1 and %d" % len(labels))
    # Every k-th intent in name order rather than the first N: CLINC150's names cluster by domain
    # (banking, travel, ...), so this spreads the pick over the domains.
    step = len(labels) // args.intents
    keep = labels[::step][:args.intents]
    os.makedirs(args.out, exist_ok=True)
    stale = os.path.join(args.out, "valid.tsv")
    if os.path.exists(stale):  # the point of the example is a folder without valid.tsv
        os.remove(stale)
    for name, rows in (("train.tsv", train), ("test.tsv", test)):
        kept = [(l, t) for l, t in rows if l in keep]
        with open(os.path.join(args.out, name), "w", encoding="utf-8", newline="\n") as f:
            f.write("".join("%s\t%s\n" % r for r in kept))
        print("%s: %d lines" % (os.path.join(args.out, name), len(kept)))
    print("%d intents: %s" % (len(keep), " ".join(keep)))


if __name__ == "__main__":
    main()
