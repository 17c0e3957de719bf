#!/usr/bin/env python3
"""Train a ConvBERT intent classifier (HF ConvBertForSequenceClassification) on CPU.

Deterministic (fixed seeds, 2 threads, deterministic algorithms). See tools/train/README.md.

Example:
  .venv/bin/python tools/train/train.py --data snips --preset tiny --out weights/snips-tiny
"""
import argparse
import json
import math
import os
import random
import shutil
import sys
import time
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


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, choices=["snips", "clinc150"])
    p.add_argument("--out", required=True, help="output folder, e.g. weights/snips-tiny")
    p.add_argument("--preset", choices=sorted(PRESETS), default="tiny")
    for k in ["layers", "hidden", "embedding", "intermediate", "heads", "head_ratio", "kernel",
              "groups", "max_positions"]:
        p.add_argument("--" + k.replace("_", "-"), dest=k, type=int, default=None,
                       help="override the preset's %s" % k)
    p.add_argument("--vocab-size", type=int, default=4000, help="WordPiece trainer vocab_size")
    p.add_argument("--min-frequency", type=int, default=2)
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
                   help="auto: f32 for tiny, f16 for other presets")
    p.add_argument("--max-epoch-seconds", type=float, default=None,
                   help="abort after the first epoch if it took longer than this (timing guard)")
    p.add_argument("--date", default="2026-11-25")
    p.add_argument("--machine", default="2-core CPU (no GPU)")
    args = p.parse_args()
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


def load_split(data, split):
    rows = []
    with open(os.path.join(DATASETS, data, split + ".tsv"), encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line:
                continue
            label, text = line.split("\t", 1)
            rows.append((label, text))
    return rows


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
    args = parse_args()
    t_start = time.time()
    seed_all(args.seed, args.threads)
    from transformers import ConvBertConfig, ConvBertForSequenceClassification
    from transformers import get_linear_schedule_with_warmup

    out = args.out
    os.makedirs(out, exist_ok=True)
    for name in os.listdir(out):  # start clean: only what this run writes ends up there
        path = os.path.join(out, name)
        if os.path.isfile(path):
            os.remove(path)

    train_rows = load_split(args.data, "train")
    valid_rows = load_split(args.data, "valid")
    test_rows = load_split(args.data, "test")
    labels = sorted({l for l, _ in train_rows})
    assert {l for l, _ in valid_rows} <= set(labels) and {l for l, _ in test_rows} <= set(labels)
    label2id = {l: i for i, l in enumerate(labels)}
    id2label = {i: l for i, l in enumerate(labels)}

    a = args.arch
    tok, vocab_len = build_tokenizer([t for _, t in train_rows], out, args.vocab_size,
                                     args.min_frequency, a["max_positions"])
    train = encode(tok, train_rows, label2id, args.max_length)
    valid = encode(tok, valid_rows, label2id, args.max_length)
    test = encode(tok, test_rows, label2id, args.max_length)

    def unk_rate(ex):
        toks = [t for ids, _ in ex for t in ids[1:-1]]
        return 100.0 * sum(t == tok.unk_token_id for t in toks) / max(1, len(toks))
    unk_train, unk_valid, unk_test = unk_rate(train), unk_rate(valid), unk_rate(test)
    lens = [len(ids) for ids, _ in train]
    print("vocab %d, [UNK] rate train %.3f%% valid %.3f%% test %.3f%%, train len mean %.1f max %d"
          % (vocab_len, unk_train, unk_valid, unk_test, sum(lens) / len(lens), max(lens)), flush=True)
    assert unk_train < 1.0, "too many [UNK] on train: tokenizer broken?"
    n_trunc = sum(len(tok(t)["input_ids"]) > args.max_length for _, t in train_rows)
    print("truncated train examples: %d" % n_trunc, flush=True)

    config = ConvBertConfig(
        vocab_size=vocab_len, hidden_size=a["hidden"], embedding_size=a["embedding"],
        intermediate_size=a["intermediate"], num_hidden_layers=a["layers"],
        num_attention_heads=a["heads"], head_ratio=a["head_ratio"], conv_kernel_size=a["kernel"],
        num_groups=a["groups"], max_position_embeddings=a["max_positions"], type_vocab_size=2,
        hidden_act="gelu", hidden_dropout_prob=args.dropout,
        attention_probs_dropout_prob=args.dropout, pad_token_id=0,
        num_labels=len(labels), id2label=id2label, label2id=label2id)
    model = ConvBertForSequenceClassification(config)
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
    st = metrics(test, predict(saved, test), id2label)  # test: evaluated once, here
    print("saved checkpoint (%s, reloaded f32): valid %s" % (save_dtype, fmt(sv)))
    print("saved checkpoint (%s, reloaded f32): test  %s" % (save_dtype, fmt(st)))
    if save_dtype == "f32":
        assert abs(sv["accuracy"] - f32_valid["accuracy"]) < 1e-9

    cmd = "OMP_NUM_THREADS=%d .venv/bin/python tools/train/%s" % (
        args.threads, " ".join([os.path.basename(sys.argv[0])] + sys.argv[1:]))
    size = os.path.getsize(os.path.join(out, "model.safetensors"))
    write_card(args, out, config, n_params, n_emb, vocab_len, unk_train, cmd, sv, st, best,
               log, train_secs, time.time() - t_start, save_dtype, size, len(train), len(labels))
    with open(os.path.join(out, "config.json")) as f:
        json.load(f)
    print("wrote %s" % out)


def write_card(args, out, config, n_params, n_emb, vocab_len, unk_train, cmd, sv, st, best, log,
               train_secs, total_secs, save_dtype, size, n_train, n_labels):
    a = args.arch
    info = DATA_INFO[args.data]

    def row(m):
        s = "%.2f %%" % m["accuracy"]
        if "oos_recall" in m:
            s += " | %.2f %% | %.2f %%" % (m["in_scope_accuracy"], m["oos_recall"])
        return s
    clinc = "oos_recall" in sv
    hdr = "| split | n | accuracy |" + (" in-scope accuracy | oos recall |" if clinc else "")
    sep = "|---|---|---|" + ("---|---|" if clinc else "")
    epochs = "\n".join("| %d | %.4f | %.2f %% | %.1f |" % e for e in log)
    text = f"""# {os.path.basename(os.path.normpath(out))}

ConvBERT intent classifier (`transformers.ConvBertForSequenceClassification`), trained from scratch
(no pretraining) by `tools/train/train.py`.

## Data
- {info['source']}; `../shared/datasets/{args.data}/{{train,valid,test}}.tsv` (beside the checkout); license **{info['license']}**.
- {n_train} training examples, {n_labels} labels (`id2label` in `config.json`, label names sorted).
- Vocabulary: uncased WordPiece built from the training split only (HF `tokenizers`
  `BertNormalizer(lowercase=True)` + `BertPreTokenizer`, WordPiece-trainer merges with deterministic
  tie-breaking, vocab_size {args.vocab_size}, min_frequency {args.min_frequency}; see
  `tools/train/README.md`): **{vocab_len} tokens**, [PAD]=0 [UNK]=1 [CLS]=2 [SEP]=3 [MASK]=4;
  [UNK] rate on train {unk_train:.3f} %. Load with `AutoTokenizer.from_pretrained(<folder>)`.
- Input: `[CLS] text [SEP]`, token_type 0, truncated to {args.max_length} tokens.

## Architecture
| layers | hidden | embedding | intermediate | heads (ratio) | kernel | groups | max positions | act |
|---|---|---|---|---|---|---|---|---|
| {a['layers']} | {a['hidden']} | {a['embedding']} | {a['intermediate']} | {a['heads']} ({a['head_ratio']}) | {a['kernel']} | {a['groups']} | {a['max_positions']} | gelu |

**{n_params:,} parameters** ({n_emb:,} of them word embeddings). Saved as {save_dtype} safetensors
({size:,} bytes).

## Accuracy (saved checkpoint, reloaded in float32)
Evaluated without padding (each batch holds sequences of one length), i.e. as batch-1 inference at the
exact length. Best epoch chosen on valid ({best[1]} of {args.epochs}); test evaluated once, at the end.

{hdr}
{sep}
| valid | {sv['n']} | {row(sv)} |
| test | {st['n']} | {row(st)} |

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
