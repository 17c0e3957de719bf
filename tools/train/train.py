#!/usr/bin/env python3
"""Train a ConvBERT intent classifier (HF ConvBertForSequenceClassification) on CPU.

Deterministic (fixed seeds, 2 threads, deterministic algorithms). See tools/train/README.md.

Examples:
  .venv/bin/python tools/train/train.py --data snips --preset tiny --out weights/snips-tiny
  .venv/bin/python tools/train/train.py --data my-intents/ --preset tiny --out /tmp/my-model
  .venv/bin/python tools/train/train.py --data my-intents/ --init weights/snips-tiny --epochs 5 \
      --out /tmp/my-model

--data DIR: train.tsv (required), valid.tsv and test.tsv (optional), `label<TAB>text` lines.
"""
import argparse
import hashlib
import json
import math
import os
import random
import shutil
import struct
import sys
import time
import unicodedata
from collections import defaultdict

import numpy as np
import torch

# The shared datasets sit beside the checkout (read-only in CI).
DATASETS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "shared", "datasets")
SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]

PRESETS = {
    # Published ConvBERT-small (Jiang et al. 2020), except vocabulary / max positions.
    "small": dict(layers=12, hidden=256, embedding=128, intermediate=1024, heads=4,
                  head_ratio=2, kernel=9, groups=1, max_positions=128),
    # MCU model: int8 blob <= 1 MiB flash, <= 32 KiB activations at 32 tokens.
    "tiny": dict(layers=4, hidden=128, embedding=64, intermediate=384, heads=4,
                 head_ratio=2, kernel=9, groups=1, max_positions=64),
}

DATA_INFO = {
    "snips": dict(license="CC0 1.0 (public domain dedication)",
                  source="SNIPS NLU benchmark (Coucke et al. 2018), 7 intents"),
    "clinc150": dict(license="CC BY 3.0",
                     source="CLINC150 (Larson et al. 2019), 150 intents + oos"),
}
ARCH_KEYS = ["layers", "hidden", "embedding", "intermediate", "heads", "head_ratio", "kernel",
             "groups", "max_positions"]


class DataError(Exception):
    """A problem with the user's data or arguments. main() prints it as one `error: ...` line and
    exits with status 1 (no traceback): these are the user's files to fix, not bugs here."""


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, metavar="snips|clinc150|DIR",
                   help="a shared dataset (../shared/datasets/<name>) or a folder with train.tsv, "
                        "optional valid.tsv and test.tsv (label<TAB>text); write ./snips for a "
                        "local folder of that name")
    p.add_argument("--out", required=True, help="output folder, e.g. weights/snips-tiny")
    p.add_argument("--init", default=None, metavar="DIR",
                   help="fine-tune this HF ConvBERT checkpoint folder (config.json, vocab.txt, "
                        "weights) instead of training from scratch: its architecture and vocabulary, "
                        "a new classification head for the data's labels")
    p.add_argument("--valid-fraction", type=float, default=0.1,
                   help="without valid.tsv: fraction of each label's train lines held out for "
                        "validation (at least 1 per label, at least 1 kept in train)")
    p.add_argument("--data-source", default=None, help="what the data is, for MODEL_CARD.md")
    p.add_argument("--data-license", default=None, help="the data's license, for MODEL_CARD.md")
    # None = not given: the preset's value, or the checkpoint's with --init (giving them is an error).
    p.add_argument("--preset", choices=sorted(PRESETS), default=None, help="default: tiny")
    for k in ARCH_KEYS:
        p.add_argument("--" + k.replace("_", "-"), dest=k, type=int, default=None,
                       help="override the preset's %s" % k)
    p.add_argument("--vocab-size", type=int, default=None,
                   help="WordPiece trainer vocab_size (default 4000)")
    p.add_argument("--min-frequency", type=int, default=None, help="default 2")
    p.add_argument("--max-length", type=int, default=None,
                   help="truncate to this many tokens incl. [CLS]/[SEP] (default: max positions)")
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--weight-decay", type=float, default=0.01)
    p.add_argument("--warmup", type=float, default=0.06, help="warmup fraction of all steps")
    p.add_argument("--dropout", type=float, default=0.1)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--save-dtype", choices=["f32", "f16", "auto"], default="auto",
                   help="auto: f32 for tiny, f16 for other presets; with --init the checkpoint's "
                        "(f16 if all its tensors are f16, else f32)")
    p.add_argument("--max-epoch-seconds", type=float, default=None,
                   help="abort after the first epoch if it took longer than this (timing guard)")
    p.add_argument("--date", default=None,
                   help="date for MODEL_CARD.md (default: today, UTC; 2026-11-25 for snips and "
                        "clinc150, so that the shipped cards come out as they were)")
    p.add_argument("--machine", default="2-core CPU (no GPU)")
    args = p.parse_args(argv)
    if args.date is None:
        args.date = "2026-11-25" if args.data in DATA_INFO else time.strftime("%Y-%m-%d", time.gmtime())
    if not 0.0 < args.valid_fraction < 1.0:
        p.error("--valid-fraction must be between 0 and 1")
    if args.init is not None:
        # The checkpoint fixes the architecture and the vocabulary; a flag that would change them
        # cannot be honoured, so say so instead of silently ignoring it.
        given = [("--" + k.replace("_", "-")) for k in ARCH_KEYS + ["preset", "vocab_size",
                                                                    "min_frequency"]
                 if getattr(args, k) is not None]
        if given:
            p.error("%s cannot be used with --init (the checkpoint gives the architecture and "
                    "the vocabulary)" % ", ".join(given))
        args.arch = None  # filled from the checkpoint's config.json in load_init()
        return args
    args.preset = args.preset or "tiny"
    args.vocab_size = 4000 if args.vocab_size is None else args.vocab_size
    args.min_frequency = 2 if args.min_frequency is None else args.min_frequency
    arch = dict(PRESETS[args.preset])
    for k in arch:
        v = getattr(args, k)
        if v is not None:
            arch[k] = v
    if arch["head_ratio"] != 2:
        sys.exit("HF ConvBERT only works with head_ratio 2")
    args.arch = arch
    if args.max_length is None:
        args.max_length = arch["max_positions"]
    if args.max_length > arch["max_positions"]:
        sys.exit("--max-length exceeds max positions")
    return args


def seed_all(seed, threads):
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)


def read_tsv(path):
    """`label<TAB>text` lines of one file, in file order, as (label, text, line number).

    As strict as `convbert eval --data` / `quantize --calib` (tools/cli/src/texts.rs), which the
    same files go to next: one final newline and `\r\n` are accepted, a blank line is an error (so
    both tools count lines alike), the text is everything after the first TAB. Also refused here:
    an empty label or text, a label with spaces around it or a control character (the int8 packer
    refuses those labels in config.json), a UTF-8 byte-order mark (it would end up inside the first
    label). The shared SNIPS/CLINC150 files pass all of this, so their rows are what the old
    reader (skip blank lines, split at the first TAB) gave."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise DataError("%s: cannot read (%s)" % (path, e.strerror or e))
    if data.startswith(b"\xef\xbb\xbf"):
        raise DataError("%s:1: starts with a UTF-8 byte-order mark; save the file as UTF-8 "
                        "without BOM" % path)
    if data.endswith(b"\n"):
        data = data[:-1]
    if not data.strip():
        raise DataError("%s: empty file (no label<TAB>text lines)" % path)
    rows = []
    for n, raw in enumerate(data.split(b"\n"), 1):
        if raw.endswith(b"\r"):
            raw = raw[:-1]
        where = "%s:%d" % (path, n)
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise DataError("%s: invalid UTF-8 (%s)" % (where, e.reason))
        if not line.strip():
            raise DataError("%s: blank line; every line must be label<TAB>text" % where)
        if "\t" not in line:
            raise DataError("%s: no TAB; expected label<TAB>text, got %r" % (where, line[:60]))
        label, text = line.split("\t", 1)
        if not label.strip():
            raise DataError("%s: empty label (the line starts with a TAB)" % where)
        if label != label.strip():
            raise DataError("%s: label %r has spaces around it" % (where, label))
        bad = [c for c in label if unicodedata.category(c) == "Cc"]
        if bad:
            raise DataError("%s: label %r holds the control character U+%04X"
                            % (where, label, ord(bad[0])))
        if not text.strip():
            raise DataError("%s: empty text after the TAB (label %r)" % (where, label))
        rows.append((label, text, n))
    return rows


def stratified_split(rows, fraction, seed):
    """Hold out round(fraction * n) lines of each label (at least 1, at most n - 1) for validation.

    Seeded with its own random.Random, so the global generators (and hence model initialisation
    and batch order) are the same as with a valid.tsv. Labels are visited in sorted order and each
    label's lines in file order before shuffling, so the split depends only on the file's content
    and the seed. Both parts keep the file order."""
    rng = random.Random(seed)
    by_label = defaultdict(list)
    for i, r in enumerate(rows):
        by_label[r[0]].append(i)
    held = set()
    for label in sorted(by_label):
        idx = by_label[label]
        assert len(idx) >= 2, label  # load_data() refuses single-example labels first
        k = min(len(idx) - 1, max(1, int(round(fraction * len(idx)))))
        idx = list(idx)
        rng.shuffle(idx)
        held.update(idx[:k])
    train = [r for i, r in enumerate(rows) if i not in held]
    valid = [r for i, r in enumerate(rows) if i in held]
    return train, valid


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def load_data(data, valid_fraction=0.1, seed=42):
    """The three splits as lists of (label, text), plus a description of where they came from.

    `data` is a shared dataset name (snips, clinc150: all three files, as before) or a folder
    with train.tsv and optional valid.tsv / test.tsv. Without valid.tsv, a stratified part of
    train.tsv is held out (stratified_split); without test.tsv, test is None (not evaluated)."""
    if data in DATA_INFO:
        folder, named = os.path.join(DATASETS, data), True
    else:
        folder, named = data, False
        if not os.path.isdir(folder):
            raise DataError("--data %s: neither %s nor a folder" % (data, " / ".join(DATA_INFO)))
    paths = {s: os.path.join(folder, s + ".tsv") for s in ("train", "valid", "test")}
    if not named:
        if not os.path.isfile(paths["train"]):
            raise DataError("%s: no such file (a --data folder needs train.tsv; valid.tsv and "
                            "test.tsv are optional)" % paths["train"])
        for s in ("valid", "test"):
            if not os.path.exists(paths[s]):
                paths[s] = None
    rows = {s: read_tsv(p) if p else None for s, p in paths.items()}

    counts, line_of = defaultdict(int), {}
    for label, _, n in rows["train"]:
        counts[label] += 1
        line_of[label] = n
    single = sorted(l for l, c in counts.items() if c < 2)
    why = ("a label needs at least 2 lines to be learned and split into train/valid: add examples "
           "or drop the label")
    if len(single) == 1:
        raise DataError("%s:%d: label %r has only one example; %s"
                        % (paths["train"], line_of[single[0]], single[0], why))
    if single:
        raise DataError("%s: %d labels have only one example (%s); %s"
                        % (paths["train"], len(single),
                           ", ".join("%r on line %d" % (l, line_of[l]) for l in single[:10])
                           + (", ..." if len(single) > 10 else ""), why))
    if len(counts) < 2:
        raise DataError("%s: only one label (%r); a classifier needs at least 2"
                        % (paths["train"], next(iter(counts))))
    for s in ("valid", "test"):
        for label, _, n in rows[s] or []:
            if label not in counts:
                raise DataError("%s:%d: label %r is not in %s (the model can only predict the "
                                "labels of the training file)" % (paths[s], n, label, paths["train"]))

    train = [(l, t) for l, t, _ in rows["train"]]
    if rows["valid"] is not None:
        valid = [(l, t) for l, t, _ in rows["valid"]]
        valid_how = "valid.tsv"
    else:
        train, valid = stratified_split(train, valid_fraction, seed)
        valid_how = ("held out from train.tsv (the folder has no valid.tsv): stratified, %g %% of "
                     "each label's lines (at least 1, and at least 1 left for training), seed %d"
                     % (100 * valid_fraction, seed))
    test = [(l, t) for l, t, _ in rows["test"]] if rows["test"] is not None else None
    files = [(s, p, sha256_file(p)) for s, p in paths.items() if p]
    return train, valid, test, dict(named=named, folder=folder, files=files, valid_how=valid_how)


def train_wordpiece(texts, vocab_size, min_frequency, limit_alphabet=1000):
    """Deterministic WordPiece vocabulary (same algorithm as tokenizers' WordPieceTrainer, i.e. BPE
    merges with the "##" continuation prefix, but with ties broken by the token strings).

    tokenizers' own trainer (BertWordPieceTokenizer.train*) breaks frequency ties through hash-map
    iteration order, so two runs on the same data give different vocabularies (checked: different
    tokens, different order) and so different models. Normalisation and pre-tokenisation are still
    HF tokenizers' BertNormalizer(lowercase=True) + BertPreTokenizer, as BertWordPieceTokenizer uses."""
    import heapq
    from collections import Counter
    from tokenizers.normalizers import BertNormalizer
    from tokenizers.pre_tokenizers import BertPreTokenizer

    norm = BertNormalizer(clean_text=True, handle_chinese_chars=True, strip_accents=None,
                          lowercase=True)
    pre = BertPreTokenizer()
    wc = Counter()
    for t in texts:
        for w, _ in pre.pre_tokenize_str(norm.normalize_str(t)):
            wc[w] += 1
    cc = Counter()
    for w, c in wc.items():
        for ch in w:
            cc[ch] += c
    alphabet = set(sorted(cc, key=lambda ch: (-cc[ch], ch))[:limit_alphabet])
    words, counts = [], []
    for w in sorted(wc):
        syms = [ch if i == 0 else "##" + ch for i, ch in enumerate(w) if ch in alphabet]
        if syms:
            words.append(syms)
            counts.append(wc[w])
    vocab = list(SPECIALS) + sorted(alphabet)
    vocab += sorted({s for syms in words for s in syms if s.startswith("##")})
    seen = set(vocab)
    pair_count = defaultdict(int)
    where = defaultdict(set)
    for i, syms in enumerate(words):
        for p in zip(syms, syms[1:]):
            pair_count[p] += counts[i]
            where[p].add(i)
    heap = [(-c, p) for p, c in pair_count.items()]
    heapq.heapify(heap)
    while len(vocab) < vocab_size and heap:
        negc, pair = heapq.heappop(heap)
        if pair_count.get(pair, 0) != -negc:
            continue  # stale entry
        if -negc < min_frequency:
            break
        a, b = pair
        new = a + b[2:]
        if new not in seen:
            vocab.append(new)
            seen.add(new)
        changed = set()
        for i in sorted(where[pair]):
            syms = words[i]
            for p in zip(syms, syms[1:]):
                pair_count[p] -= counts[i]
                changed.add(p)
            merged, j = [], 0
            while j < len(syms):
                if j + 1 < len(syms) and syms[j] == a and syms[j + 1] == b:
                    merged.append(new)
                    j += 2
                else:
                    merged.append(syms[j])
                    j += 1
            words[i] = merged
            for p in zip(merged, merged[1:]):
                pair_count[p] += counts[i]
                where[p].add(i)
                changed.add(p)
        del where[pair]
        pair_count.pop(pair, None)
        changed.discard(pair)
        for p in sorted(changed):
            c = pair_count[p]
            if c <= 0:
                pair_count.pop(p, None)
            else:
                heapq.heappush(heap, (-c, p))
    return vocab


def build_tokenizer(texts, out, vocab_size, min_frequency, max_positions):
    from transformers import AutoTokenizer

    vocab = train_wordpiece(texts, vocab_size, min_frequency)
    with open(os.path.join(out, "vocab.txt"), "w", encoding="utf-8") as f:
        f.write("".join(v + "\n" for v in vocab))
    with open(os.path.join(out, "vocab.txt"), encoding="utf-8") as f:
        vocab = [l.rstrip("\n") for l in f]
    assert vocab[:5] == SPECIALS, vocab[:5]
    with open(os.path.join(out, "tokenizer_config.json"), "w") as f:
        json.dump({"do_lower_case": True, "model_max_length": max_positions,
                   "tokenizer_class": "ConvBertTokenizer"}, f, indent=2)
        f.write("\n")
    tok = AutoTokenizer.from_pretrained(out)
    assert tok.vocab_size == len(vocab), (tok.vocab_size, len(vocab))
    assert tok.unk_token_id == 1 and tok.pad_token_id == 0 and tok.cls_token_id == 2 \
        and tok.sep_token_id == 3, "special token ids"
    return tok, len(vocab)


def check_init(init, out, max_length):
    """Checks --init DIR before anything is written (--out is emptied first, so --init == --out
    would delete the checkpoint it is about to read). Returns the weights file, its SHA-256, its
    config.json, its architecture (the ARCH_KEYS), the max length to use and the dtype to save in
    (the checkpoint's: f16 stays f16)."""
    if not os.path.isdir(init):
        raise DataError("--init %s: no such folder" % init)
    if os.path.realpath(init) == os.path.realpath(out):
        raise DataError("--init and --out are the same folder (%s); --out is emptied first, so "
                        "write the fine-tuned model to another folder" % out)
    need = "a Hugging Face ConvBERT checkpoint folder has config.json, vocab.txt, model.safetensors"
    for name in ("config.json", "vocab.txt"):
        if not os.path.isfile(os.path.join(init, name)):
            raise DataError("--init %s: no %s (%s)" % (init, name, need))
    weights = [os.path.join(init, n) for n in ("model.safetensors", "pytorch_model.bin")
               if os.path.isfile(os.path.join(init, n))]
    if not weights:
        raise DataError("--init %s: no model.safetensors (%s)" % (init, need))
    try:
        with open(os.path.join(init, "config.json"), encoding="utf-8") as f:
            cfg = json.load(f)
    except ValueError as e:
        raise DataError("%s: not valid JSON (%s)" % (os.path.join(init, "config.json"), e))
    if cfg.get("model_type") != "convbert":
        raise DataError("%s: model_type is %r, not 'convbert'"
                        % (os.path.join(init, "config.json"), cfg.get("model_type")))
    try:
        arch = dict(layers=cfg["num_hidden_layers"], hidden=cfg["hidden_size"],
                    embedding=cfg["embedding_size"], intermediate=cfg["intermediate_size"],
                    heads=cfg["num_attention_heads"], head_ratio=cfg.get("head_ratio", 2),
                    kernel=cfg.get("conv_kernel_size", 9), groups=cfg.get("num_groups", 1),
                    max_positions=cfg["max_position_embeddings"])
        vocab_size = cfg["vocab_size"]
    except KeyError as e:
        raise DataError("%s: no %s" % (os.path.join(init, "config.json"), e))
    if max_length is None:
        max_length = arch["max_positions"]
    if max_length > arch["max_positions"]:
        raise DataError("--max-length %d exceeds the checkpoint's max_position_embeddings %d"
                        % (max_length, arch["max_positions"]))
    with open(os.path.join(init, "vocab.txt"), encoding="utf-8") as f:
        n_vocab = sum(1 for _ in f)
    if n_vocab > vocab_size:  # token ids past the embedding table
        raise DataError("--init %s: vocab.txt has %d tokens but config.json vocab_size is %d"
                        % (init, n_vocab, vocab_size))
    dtype = "f32"
    if weights[0].endswith(".safetensors"):
        # The header (8-byte length + JSON) names each tensor's dtype.
        with open(weights[0], "rb") as f:
            header = json.loads(f.read(struct.unpack("<Q", f.read(8))[0]))
        if {v["dtype"] for k, v in header.items() if k != "__metadata__"} == {"F16"}:
            dtype = "f16"
    return dict(weights=weights[0], sha256=sha256_file(weights[0]), config=cfg, dtype=dtype,
                arch=arch, max_length=max_length)


def init_tokenizer(init, out):
    """The checkpoint's own vocabulary: the encoder's embeddings are indexed by it, so no new
    vocabulary is built. vocab.txt (and tokenizer_config.json, which holds do_lower_case) are
    copied so that --out is a complete checkpoint folder for the Rust side."""
    from transformers import AutoTokenizer

    for name in ("vocab.txt", "tokenizer_config.json"):
        if os.path.isfile(os.path.join(init, name)):
            shutil.copyfile(os.path.join(init, name), os.path.join(out, name))
    tok = AutoTokenizer.from_pretrained(out if os.path.isfile(os.path.join(out, "tokenizer_config.json"))
                                        else init)
    return tok, len(tok)


def encode(tok, rows, label2id, max_length):
    enc = tok([t for _, t in rows], truncation=True, max_length=max_length)
    ids = enc["input_ids"]
    labels = [label2id[l] for l, _ in rows]
    return list(zip(ids, labels))


def length_batches(examples, batch_size, rng):
    """Batches whose sequences all have the same length: no padding at all.
    The dynamic-convolution branch ignores attention_mask, so padding would make training
    (and evaluation) differ from batch-1 inference at the exact length on the MCU."""
    by_len = defaultdict(list)
    for i, (ids, _) in enumerate(examples):
        by_len[len(ids)].append(i)
    batches = []
    for n in sorted(by_len):
        idx = by_len[n]
        if rng is not None:
            rng.shuffle(idx)
        for s in range(0, len(idx), batch_size):
            batches.append(idx[s:s + batch_size])
    if rng is not None:
        rng.shuffle(batches)
    return batches


def to_tensors(examples, idx):
    ids = torch.tensor([examples[i][0] for i in idx], dtype=torch.long)
    y = torch.tensor([examples[i][1] for i in idx], dtype=torch.long)
    return ids, y


@torch.no_grad()
def predict(model, examples, batch_size=256):
    model.eval()
    pred = [0] * len(examples)
    for idx in length_batches(examples, batch_size, None):
        ids, _ = to_tensors(examples, idx)
        logits = model(input_ids=ids, attention_mask=torch.ones_like(ids),
                       token_type_ids=torch.zeros_like(ids)).logits
        for i, p in zip(idx, logits.argmax(-1).tolist()):
            pred[i] = p
    return pred


def metrics(examples, pred, id2label):
    gold = [y for _, y in examples]
    n = len(gold)
    m = {"accuracy": 100.0 * sum(p == g for p, g in zip(pred, gold)) / n, "n": n}
    if "oos" in id2label.values():
        oos = [k for k, v in id2label.items() if v == "oos"][0]
        ins = [(p, g) for p, g in zip(pred, gold) if g != oos]
        out = [(p, g) for p, g in zip(pred, gold) if g == oos]
        m["in_scope_accuracy"] = 100.0 * sum(p == g for p, g in ins) / max(1, len(ins))
        m["oos_recall"] = 100.0 * sum(p == g for p, g in out) / max(1, len(out))
    return m


def fmt(m):
    s = "acc %.2f%% (n=%d)" % (m["accuracy"], m["n"])
    if "oos_recall" in m:
        s += ", in-scope acc %.2f%%, oos recall %.2f%%" % (m["in_scope_accuracy"], m["oos_recall"])
    return s


def main():
    try:
        run(parse_args())
    except DataError as e:
        sys.exit("error: %s" % e)


def run(args):
    t_start = time.time()
    seed_all(args.seed, args.threads)

    # Everything the user gave is checked before --out is emptied: a typo in a data file must not
    # cost the model that was there.
    train_rows, valid_rows, test_rows, data_info = load_data(args.data, args.valid_fraction,
                                                             args.seed)
    init = check_init(args.init, args.out, args.max_length) if args.init else None
    if init is not None:
        args.arch, args.max_length = init["arch"], init["max_length"]
    labels = sorted({l for l, _ in train_rows})
    label2id = {l: i for i, l in enumerate(labels)}
    id2label = {i: l for i, l in enumerate(labels)}
    print("data: %d train, %d valid (%s), %s; %d labels"
          % (len(train_rows), len(valid_rows), data_info["valid_how"],
             "%d test" % len(test_rows) if test_rows is not None else "no test.tsv", len(labels)),
          flush=True)

    from transformers import ConvBertConfig, ConvBertForSequenceClassification
    from transformers import get_linear_schedule_with_warmup

    out = args.out
    os.makedirs(out, exist_ok=True)
    for name in os.listdir(out):  # start clean: only what this run writes ends up there
        path = os.path.join(out, name)
        if os.path.isfile(path):
            os.remove(path)

    if init is None:
        a = args.arch
        tok, vocab_len = build_tokenizer([t for _, t in train_rows], out, args.vocab_size,
                                         args.min_frequency, a["max_positions"])
    else:
        a = args.arch
        tok, vocab_len = init_tokenizer(args.init, out)
    train = encode(tok, train_rows, label2id, args.max_length)
    valid = encode(tok, valid_rows, label2id, args.max_length)
    test = encode(tok, test_rows, label2id, args.max_length) if test_rows is not None else None

    def unk_rate(ex):
        toks = [t for ids, _ in ex for t in ids[1:-1]]
        return 100.0 * sum(t == tok.unk_token_id for t in toks) / max(1, len(toks))
    unk_train, unk_valid = unk_rate(train), unk_rate(valid)
    unk_test = unk_rate(test) if test is not None else float("nan")
    lens = [len(ids) for ids, _ in train]
    print("vocab %d, [UNK] rate train %.3f%% valid %.3f%% test %.3f%%, train len mean %.1f max %d"
          % (vocab_len, unk_train, unk_valid, unk_test, sum(lens) / len(lens), max(lens)), flush=True)
    if init is None and unk_train >= 1.0:
        # Built from these very texts, the vocabulary misses only characters beyond the alphabet
        # limit (1000 most frequent); anything else means the tokenizer is broken.
        raise DataError("%.2f %% of the training tokens are [UNK] with the vocabulary built from "
                        "them: more than 1000 distinct characters in the texts?" % unk_train)
    elif unk_train >= 1.0:
        # Not a bug here: the checkpoint's vocabulary was built from other texts. Words it cannot
        # spell become [UNK] for the model (and on the MCU alike).
        print("warning: %.1f %% of the training tokens are [UNK] in the checkpoint's vocabulary; "
              "training from scratch builds a vocabulary from your data" % unk_train, flush=True)
    n_trunc = sum(len(tok(t)["input_ids"]) > args.max_length for _, t in train_rows)
    print("truncated train examples: %d" % n_trunc, flush=True)

    head_note = None
    if init is None:
        config = ConvBertConfig(
            vocab_size=vocab_len, hidden_size=a["hidden"], embedding_size=a["embedding"],
            intermediate_size=a["intermediate"], num_hidden_layers=a["layers"],
            num_attention_heads=a["heads"], head_ratio=a["head_ratio"], conv_kernel_size=a["kernel"],
            num_groups=a["groups"], max_position_embeddings=a["max_positions"], type_vocab_size=2,
            hidden_act="gelu", hidden_dropout_prob=args.dropout,
            attention_probs_dropout_prob=args.dropout, pad_token_id=0,
            num_labels=len(labels), id2label=id2label, label2id=label2id)
        model = ConvBertForSequenceClassification(config)
    else:
        old = {int(k): v for k, v in (init["config"].get("id2label") or {}).items()}
        # ignore_mismatched_sizes: the checkpoint's out_proj has its own label count; it is
        # replaced by a freshly initialised one (seeded above) of len(labels) rows.
        import transformers
        transformers.logging.set_verbosity_error()  # the "newly initialized" notice is expected
        model = ConvBertForSequenceClassification.from_pretrained(
            args.init, dtype=torch.float32, num_labels=len(labels), id2label=id2label,
            label2id=label2id, ignore_mismatched_sizes=True, hidden_dropout_prob=args.dropout,
            attention_probs_dropout_prob=args.dropout)
        config = model.config
        if old == id2label:
            head_note = "same labels as the checkpoint: its classification head is kept"
        else:
            if len(old) == len(labels):
                # Same count, other labels: the sizes match, so from_pretrained kept the old
                # out_proj; its rows mean the checkpoint's labels, so start it afresh as well.
                with torch.no_grad():
                    model.classifier.out_proj.weight.normal_(0.0, config.initializer_range)
                    model.classifier.out_proj.bias.zero_()
            head_note = ("new output layer `classifier.out_proj` (%d labels, was %d); "
                         "`classifier.dense` and the encoder start from the checkpoint"
                         % (len(labels), len(old)))
        print("init: %s (%s)" % (args.init, head_note), flush=True)
    n_params = sum(p.numel() for p in model.parameters())
    n_emb = model.convbert.embeddings.word_embeddings.weight.numel()
    print("parameters: %d (%d word embeddings)" % (n_params, n_emb), flush=True)
    decay, no_decay = [], []
    for n, p in model.named_parameters():
        (no_decay if (n.endswith("bias") or "LayerNorm" in n) else decay).append(p)
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": args.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=args.lr)
    rng = random.Random(args.seed)
    steps_per_epoch = len(length_batches(train, args.batch_size, random.Random(0)))
    total = steps_per_epoch * args.epochs
    sched = get_linear_schedule_with_warmup(opt, int(args.warmup * total), total)

    best = (-1.0, -1, None)
    log = []
    train_t0 = time.time()
    for epoch in range(1, args.epochs + 1):
        model.train()
        t0 = time.time()
        tot_loss, n_b = 0.0, 0
        for idx in length_batches(train, args.batch_size, rng):
            ids, y = to_tensors(train, idx)
            outp = model(input_ids=ids, attention_mask=torch.ones_like(ids),
                         token_type_ids=torch.zeros_like(ids), labels=y)
            opt.zero_grad(set_to_none=True)
            outp.loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            tot_loss += outp.loss.item()
            n_b += 1
        secs = time.time() - t0
        vm = metrics(valid, predict(model, valid), id2label)
        log.append((epoch, tot_loss / n_b, vm["accuracy"], secs))
        print("epoch %d/%d loss %.4f valid %s  [%.1f s]" % (epoch, args.epochs, tot_loss / n_b,
                                                            fmt(vm), secs), flush=True)
        if vm["accuracy"] > best[0]:
            best = (vm["accuracy"], epoch, {k: v.detach().clone() for k, v in model.state_dict().items()})
        if epoch == 1 and args.max_epoch_seconds is not None and secs > args.max_epoch_seconds:
            sys.exit("epoch took %.1f s > --max-epoch-seconds %.1f; aborting"
                     % (secs, args.max_epoch_seconds))
    train_secs = time.time() - train_t0
    print("best valid %.2f%% at epoch %d; training %.1f s" % (best[0], best[1], train_secs), flush=True)
    model.load_state_dict(best[2])
    model.eval()
    f32_valid = metrics(valid, predict(model, valid), id2label)

    save_dtype = args.save_dtype
    if save_dtype == "auto":
        if init is not None:
            save_dtype = init["dtype"]
        else:
            save_dtype = "f32" if args.preset == "tiny" else "f16"
    if save_dtype == "f16":
        model = model.half()
    model.save_pretrained(out)
    for name in os.listdir(out):
        if name not in ("config.json", "model.safetensors", "vocab.txt", "tokenizer_config.json"):
            path = os.path.join(out, name)
            shutil.rmtree(path) if os.path.isdir(path) else os.remove(path)

    # What ships is the saved checkpoint: reload it in float32 and evaluate that.
    seed_all(args.seed, args.threads)
    saved = ConvBertForSequenceClassification.from_pretrained(out, dtype=torch.float32)
    saved.eval()
    assert saved.config.id2label == id2label
    sv = metrics(valid, predict(saved, valid), id2label)
    st = None
    if test is not None:
        st = metrics(test, predict(saved, test), id2label)  # test: evaluated once, here
    print("saved checkpoint (%s, reloaded f32): valid %s" % (save_dtype, fmt(sv)))
    print("saved checkpoint (%s, reloaded f32): test  %s"
          % (save_dtype, fmt(st) if st else "not evaluated (no test.tsv)"))
    if save_dtype == "f32":
        assert abs(sv["accuracy"] - f32_valid["accuracy"]) < 1e-9

    cmd = "OMP_NUM_THREADS=%d .venv/bin/python tools/train/%s" % (
        args.threads, " ".join([os.path.basename(sys.argv[0])] + sys.argv[1:]))
    size = os.path.getsize(os.path.join(out, "model.safetensors"))
    write_card(args, out, config, n_params, n_emb, vocab_len, unk_train, cmd, sv, st, best,
               log, train_secs, time.time() - t_start, save_dtype, size, len(train), len(labels),
               data_info, init, head_note, len(valid))
    with open(os.path.join(out, "config.json")) as f:
        json.load(f)
    print("wrote %s" % out)


def write_card(args, out, config, n_params, n_emb, vocab_len, unk_train, cmd, sv, st, best, log,
               train_secs, total_secs, save_dtype, size, n_train, n_labels, data_info, init,
               head_note, n_valid):
    a = args.arch

    def row(m):
        s = "%.2f %%" % m["accuracy"]
        if "oos_recall" in m:
            s += " | %.2f %% | %.2f %%" % (m["in_scope_accuracy"], m["oos_recall"])
        return s
    clinc = "oos_recall" in sv
    hdr = "| split | n | accuracy |" + (" in-scope accuracy | oos recall |" if clinc else "")
    sep = "|---|---|---|" + ("---|---|" if clinc else "")
    epochs = "\n".join("| %d | %.4f | %.2f %% | %.1f |" % e for e in log)
    if st is not None:
        test_row = "| test | %d | %s |" % (st["n"], row(st))
        test_note = "test evaluated once, at the end"
    else:
        test_row = "| test | - | not evaluated: the data folder has no test.tsv |" + (
            " - | - |" if clinc else "")
        test_note = "**no test split** (the data folder has no test.tsv), so no test accuracy"
    # The exact bytes each number came from: a changed data file shows up as a changed hash.
    hashes = "\n".join("- `%s`: %s, %d bytes, SHA-256 `%s`" % (os.path.basename(p), s, os.path.getsize(p), h)
                       for s, p, h in data_info["files"])
    if data_info["named"]:
        info = DATA_INFO[args.data]
        data_lines = (f"- {info['source']}; `../shared/datasets/{args.data}/{{train,valid,test}}.tsv` "
                      f"(beside the checkout); license **{info['license']}**.")
    else:
        data_lines = (f"- {args.data_source or 'Own data'}: folder `{args.data}`; license "
                      f"**{args.data_license or 'not stated'}**.\n"
                      f"- Validation: {data_info['valid_how']} ({n_valid} lines).")
    if init is None:
        origin = "trained from scratch\n(no pretraining)"
        vocab_line = f"""- Vocabulary: uncased WordPiece built from the training split only (HF `tokenizers`
  `BertNormalizer(lowercase=True)` + `BertPreTokenizer`, WordPiece-trainer merges with deterministic
  tie-breaking, vocab_size {args.vocab_size}, min_frequency {args.min_frequency}; see
  `tools/train/README.md`): **{vocab_len} tokens**, [PAD]=0 [UNK]=1 [CLS]=2 [SEP]=3 [MASK]=4;
  [UNK] rate on train {unk_train:.3f} %. Load with `AutoTokenizer.from_pretrained(<folder>)`."""
    else:
        origin = f"fine-tuned from\n`{args.init}`"
        vocab_line = f"""- Initialised from `{args.init}` (`{os.path.basename(init['weights'])}` SHA-256
  `{init['sha256']}`): its architecture, encoder weights and vocabulary; {head_note}.
- Vocabulary: the checkpoint's `vocab.txt` (copied), **{vocab_len} tokens**; [UNK] rate on train
  {unk_train:.3f} %. Load with `AutoTokenizer.from_pretrained(<folder>)`."""
    text = f"""# {os.path.basename(os.path.normpath(out))}

ConvBERT intent classifier (`transformers.ConvBertForSequenceClassification`), {origin} by `tools/train/train.py`.

## Data
{data_lines}
- {n_train} training examples, {n_labels} labels (`id2label` in `config.json`, label names sorted).
{vocab_line}
- Input: `[CLS] text [SEP]`, token_type 0, truncated to {args.max_length} tokens.

## Architecture
| layers | hidden | embedding | intermediate | heads (ratio) | kernel | groups | max positions | act |
|---|---|---|---|---|---|---|---|---|
| {a['layers']} | {a['hidden']} | {a['embedding']} | {a['intermediate']} | {a['heads']} ({a['head_ratio']}) | {a['kernel']} | {a['groups']} | {a['max_positions']} | gelu |

**{n_params:,} parameters** ({n_emb:,} of them word embeddings). Saved as {save_dtype} safetensors
({size:,} bytes).

## Accuracy (saved checkpoint, reloaded in float32)
Evaluated without padding (each batch holds sequences of one length), i.e. as batch-1 inference at the
exact length. Best epoch chosen on valid ({best[1]} of {args.epochs}); {test_note}.

{hdr}
{sep}
| valid | {sv['n']} | {row(sv)} |
{test_row}

## Data files (SHA-256)
{hashes}

## Training
```
{cmd}
```
AdamW lr {args.lr:g} (weight decay {args.weight_decay:g}, none on biases/LayerNorm), linear warmup
{args.warmup:g} of the steps then linear decay, batch {args.batch_size} (same-length batches), dropout
{args.dropout:g}, grad-norm clip 1.0, seed {args.seed}, `torch.set_num_threads({args.threads})`,
deterministic algorithms. Training time {train_secs:.0f} s ({train_secs / len(log):.1f} s/epoch on
average, fastest epoch {min(e[3] for e in log):.1f} s; the 2 cores were shared with other jobs),
{total_secs:.0f} s in all, on a {args.machine}; date {args.date}.

| epoch | train loss | valid accuracy | seconds |
|---|---|---|---|
{epochs}
"""
    with open(os.path.join(out, "MODEL_CARD.md"), "w") as f:
        f.write(text)


if __name__ == "__main__":
    main()
