"""Would int8 activations (instead of int16) at the matrix products' inputs keep the accuracy?

A float study (fake quantization in f32) on the shipped Hugging Face checkpoints:

* every weight is rounded to int8, one symmetric scale per output channel / row (every Linear,
  the depthwise and pointwise Conv1d, the three embedding tables per row), nearest rounding
  (the packer uses GPTQ, which is slightly better);
* every matrix product's input is rounded per tensor, symmetric, with a scale from calibration
  on training texts (evenly spread over train.tsv, float model, no padding): int16 (32767
  levels, scale = max |x| / 32767) by default, as the engine keeps them;
* one group of product inputs (in every layer) at a time, or several together, is rounded to
  int8 instead: s = max |x| / 127 or a percentile of |x| / 127 over the calibration set,
  x_q = clamp(round(x / s), -127, 127) * s.

Sites (per layer unless noted):
  res   the layer input (residual stream = previous LayerNorm output) as read by query, key,
        value, conv_out_layer (conv value) and the span key's depthwise conv (one tensor);
  pw    the span key's pointwise input (depthwise output);
  kq    conv_kernel_layer input (span key * query);
  ao    attention.output.dense input (mixed heads);
  ffn1  intermediate.dense input (attention LayerNorm output; the residual itself stays f32);
  ffn2  output.dense input (GELU output);
  emb   embeddings_project input (E-wide embedding LayerNorm output; once);
  cls   classifier dense and out_proj inputs (once);
  v     the value projection's output (the P.V product's input, stored [L, A] for all tokens);
  cv    the conv value projection's output (the dynamic convolution's input, [L, A]).
v and cv are the engine's int16 arena rows that an int8 form would halve (the 64-token
ConvBERT-small arena, issue 11). Other tensors (q, k, span key, softmax, LayerNorm, GELU,
residual sums) stay f32.

The forward pass is re-implemented with plain tensor ops (HF's unfold/conv path is ~10x slower
on CPU) and checked against transformers' ConvBertForSequenceClassification logits on every
run. Test texts are batched by token length (no padding: the dynamic convolution ignores the
attention mask, so this equals batch-1 inference at the exact length).

Command (all four models, full test sets, every row; the 12-layer models are slow on a shared
2-core CPU: 1-4 minutes per row for clinc-small):

    OMP_NUM_THREADS=2 .venv/bin/python tools/python/int8_inputs_study.py \
        --models snips-tiny snips-small clinc-tiny clinc-small --calib-n 500 \
        --calib max 99.99 --out /tmp/int8_study.md

`--rows a b c d g e eg` runs only those rows; `--merge earlier.json ...` joins earlier runs'
rows into the table (the reported table was made that way, from runs of parts of the above).

Writes the markdown tables to --out (and prints them), the raw numbers beside it (.json).
"""

import argparse
import json
import math
import os
import sys
import time

import torch
import torch.nn.functional as F
from transformers import AutoTokenizer, ConvBertForSequenceClassification

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DATA = os.path.join(ROOT, "..", "shared", "datasets")
DATASET = {"snips": "snips", "clinc": "clinc150"}

GROUPS = ["res", "pw", "kq", "ao", "ffn1", "ffn2", "emb", "cls", "v", "cv"]

# (row name, int8 groups); all other product inputs int16. PCT_SKIP: rows run with the max scale
# only (extras outside the question; saves CPU time)
CONFIGS = [
    ("a", "a ffn1 (FFN first product)", ["ffn1"]),
    ("b", "b ffn2 (FFN second, GELU out)", ["ffn2"]),
    ("c", "c res (q,k,v,conv value,depthwise)", ["res"]),
    ("c1", "c' pw (pointwise: depthwise out)", ["pw"]),
    ("c2", "c'' kq (kernel gen: key*query)", ["kq"]),
    ("d", "d ao (attn output: mixed heads)", ["ao"]),
    ("g", "g emb (embeddings projection)", ["emb"]),
    ("h", "h cls (classifier dense, out_proj)", ["cls"]),
    ("ab", "a+b (both FFN products)", ["ffn1", "ffn2"]),
    ("v", "v value (P.V input)", ["v"]),
    ("cv", "cv conv value (conv input)", ["cv"]),
    ("abvcv", "a+b+v+cv (format 4 + int8 values)", ["ffn1", "ffn2", "v", "cv"]),
    ("e", "e = a+b+c+d", ["ffn1", "ffn2", "res", "ao"]),
    ("eg", "e + g", ["ffn1", "ffn2", "res", "ao", "emb"]),
    ("all", "all product inputs int8", GROUPS),
]
PCT_SKIP = {"v value (P.V input)", "cv conv value (conv input)", "c' pw (pointwise: depthwise out)", "c'' kq (kernel gen: key*query)",
            "h cls (classifier dense, out_proj)", "all product inputs int8"}


def group_of(site):
    g = site.split(".")[-1]
    return "cls" if g.startswith("cls") else g


def read_tsv(path):
    labels, texts = [], []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if line:
                lab, text = line.split("\t", 1)
                labels.append(lab)
                texts.append(text)
    return labels, texts


def length_batches(ids, batch):
    """Index batches whose sequences share one length (no padding)."""
    by_len = {}
    for i, seq in enumerate(ids):
        by_len.setdefault(len(seq), []).append(i)
    for L in sorted(by_len):
        idx = by_len[L]
        for j in range(0, len(idx), batch):
            yield idx[j : j + batch]


class Model:
    """ConvBERT forward (batch of equal-length, unpadded sequences) from the HF state dict.
    `Q(site, x)` is applied to every matrix product's input."""

    def __init__(self, hf):
        c = hf.config
        assert c.head_ratio == 2 and c.num_groups == 1 and c.hidden_act == "gelu", "unsupported config"
        self.c = c
        self.P = {k: v.detach().clone().float() for k, v in hf.state_dict().items()}
        self.nh = c.num_attention_heads // c.head_ratio
        self.hs = c.hidden_size // c.num_attention_heads
        self.K = c.conv_kernel_size
        self.eps = c.layer_norm_eps

    def forward(self, ids, Q):
        P, c, K, nh, hs = self.P, self.c, self.K, self.nh, self.hs
        B, L = ids.shape
        A = nh * hs
        pre = "convbert.embeddings."
        e = P[pre + "word_embeddings.weight"][ids] + P[pre + "position_embeddings.weight"][:L] \
            + P[pre + "token_type_embeddings.weight"][0]
        e = F.layer_norm(e, (e.shape[-1],), P[pre + "LayerNorm.weight"], P[pre + "LayerNorm.bias"], self.eps)
        if "convbert.embeddings_project.weight" in P:
            h = F.linear(Q("emb", e), P["convbert.embeddings_project.weight"], P["convbert.embeddings_project.bias"])
        else:
            h = e
        p = (K - 1) // 2
        for i in range(c.num_hidden_layers):
            pl = f"convbert.encoder.layer.{i}."
            ps = pl + "attention.self."
            x = h
            xq = Q(f"{i}.res", x)
            q = F.linear(xq, P[ps + "query.weight"], P[ps + "query.bias"])
            k = F.linear(xq, P[ps + "key.weight"], P[ps + "key.bias"])
            v = Q(f"{i}.v", F.linear(xq, P[ps + "value.weight"], P[ps + "value.bias"]))
            # span-aware key: depthwise (zero padding) then pointwise
            wdw = P[ps + "key_conv_attn_layer.depthwise.weight"][:, 0, :]  # [H, K]
            xp = F.pad(xq, (0, 0, p, p))
            dw = sum(xp[:, j : j + L, :] * wdw[:, j] for j in range(K))
            ks = F.linear(Q(f"{i}.pw", dw), P[ps + "key_conv_attn_layer.pointwise.weight"][:, :, 0]) \
                + P[ps + "key_conv_attn_layer.bias"][:, 0]
            kr = F.linear(Q(f"{i}.kq", ks * q), P[ps + "conv_kernel_layer.weight"], P[ps + "conv_kernel_layer.bias"])
            taps = torch.softmax(kr.view(B, L, nh, K), dim=-1)
            co = Q(f"{i}.cv", F.linear(xq, P[ps + "conv_out_layer.weight"], P[ps + "conv_out_layer.bias"]))
            cu = F.pad(co, (0, 0, p, p)).unfold(1, K, 1)  # [B, L, A, K]: co[t + j - p]
            conv = (cu.reshape(B, L, nh, hs, K) * taps[:, :, :, None, :]).sum(-1).reshape(B, L, A)
            qh = q.view(B, L, nh, hs).transpose(1, 2)
            kh = k.view(B, L, nh, hs).transpose(1, 2)
            vh = v.view(B, L, nh, hs).transpose(1, 2)
            att = torch.softmax(qh @ kh.transpose(-1, -2) / math.sqrt(hs), dim=-1)
            ctx = (att @ vh).transpose(1, 2).reshape(B, L, A)
            mixed = torch.cat([ctx, conv], dim=-1)
            po = pl + "attention.output."
            a = F.layer_norm(F.linear(Q(f"{i}.ao", mixed), P[po + "dense.weight"], P[po + "dense.bias"]) + x,
                             (c.hidden_size,), P[po + "LayerNorm.weight"], P[po + "LayerNorm.bias"], self.eps)
            f = F.gelu(F.linear(Q(f"{i}.ffn1", a), P[pl + "intermediate.dense.weight"], P[pl + "intermediate.dense.bias"]))
            h = F.layer_norm(F.linear(Q(f"{i}.ffn2", f), P[pl + "output.dense.weight"], P[pl + "output.dense.bias"]) + a,
                             (c.hidden_size,), P[pl + "output.LayerNorm.weight"], P[pl + "output.LayerNorm.bias"], self.eps)
        d = F.gelu(F.linear(Q("cls_dense", h[:, 0]), P["classifier.dense.weight"], P["classifier.dense.bias"]))
        return F.linear(Q("cls_out", d), P["classifier.out_proj.weight"], P["classifier.out_proj.bias"])

    @torch.no_grad()
    def quantize_weights_int8(self):
        """Per output channel (per row for embedding tables) symmetric int8, nearest rounding."""
        for name, w in self.P.items():
            if not name.endswith(".weight") or "LayerNorm" in name:
                continue
            dims = tuple(range(1, w.dim()))  # Linear [out,in], Conv1d [out,in/g,K], Embedding [row,E]
            amax = w.abs().amax(dim=dims, keepdim=True)
            s = torch.where(amax > 0, amax / 127.0, torch.ones_like(amax))
            self.P[name] = torch.clamp(torch.round(w / s), -127, 127) * s


@torch.inference_mode()
def run(model, ids, batch, Q):
    preds = torch.empty(len(ids), dtype=torch.long)
    for idx in length_batches(ids, batch):
        x = torch.tensor([ids[i] for i in idx], dtype=torch.long)
        preds[idx] = model.forward(x, Q).argmax(-1)
    return preds


class Stat:
    """max |x|, element count and the largest TOPK |x| values (for high percentiles)."""

    TOPK = 8192

    def __init__(self):
        self.n = 0
        self.top = torch.empty(0)

    def add(self, x):
        a = x.detach().abs().flatten().float()
        self.n += a.numel()
        a = torch.cat([self.top, a])
        self.top = torch.topk(a, min(self.TOPK, a.numel()), sorted=True).values

    def max(self):
        return float(self.top[0])

    def percentile(self, p):
        # numpy's default (linear interpolation between ascending order statistics)
        pos = p / 100.0 * (self.n - 1)
        lo = math.floor(pos)
        frac = pos - lo
        r_lo = self.n - 1 - lo  # rank from the top, 0 = max
        r_hi = max(r_lo - 1, 0)
        if r_lo >= self.top.numel():
            raise ValueError(f"percentile {p} needs rank {r_lo}, kept {self.top.numel()}")
        return float(self.top[r_lo] + frac * (self.top[r_hi] - self.top[r_lo]))


def quantizer(scales, qmax):
    def Q(site, x):
        s = scales[site]
        return torch.clamp(torch.round(x / s), -qmax[site], qmax[site]) * s
    return Q


def study_model(mname, args, log):
    mdir = os.path.join(ROOT, "weights", mname)
    ds = DATASET[mname.split("-")[0]]
    tok = AutoTokenizer.from_pretrained(mdir)
    max_len = int(tok.model_max_length)
    hf = ConvBertForSequenceClassification.from_pretrained(mdir, dtype=torch.float32).eval()
    label2id = hf.config.label2id
    model = Model(hf)

    test_labels, test_texts = read_tsv(os.path.join(DATA, ds, "test.tsv"))
    _, train_texts = read_tsv(os.path.join(DATA, ds, "train.tsv"))
    n = min(args.calib_n, len(train_texts))
    calib_texts = [train_texts[i * len(train_texts) // n] for i in range(n)]
    if args.limit:  # smoke test: spread over the (label-sorted) test file
        step = max(1, len(test_texts) // args.limit)
        test_labels, test_texts = test_labels[::step], test_texts[::step]
    gold = torch.tensor([label2id[l] for l in test_labels])
    enc = lambda t: tok(t, truncation=True, max_length=max_len)["input_ids"]
    test_ids, calib_ids = enc(test_texts), enc(calib_texts)
    n_unk = sum(s.count(tok.unk_token_id) for s in test_ids)
    log(f"{mname}: {len(test_ids)} test texts ({sum(map(len, test_ids))} tokens, {n_unk} [UNK]), "
        f"{n} calibration texts, max_len {max_len}")

    # parity of the re-implementation with transformers (float)
    ident = lambda site, x: x
    with torch.inference_mode():
        worst = 0.0
        for idx in list(length_batches(test_ids, 64))[::7]:
            x = torch.tensor([test_ids[i] for i in idx])
            ref = hf(input_ids=x, attention_mask=torch.ones_like(x), token_type_ids=torch.zeros_like(x)).logits
            worst = max(worst, (model.forward(x, ident) - ref).abs().max().item())
    log(f"  parity with transformers: max |logit diff| {worst:.2e}")
    assert worst < 1e-3, "re-implementation does not match transformers"
    del hf

    t0 = time.time()
    fpred = run(model, test_ids, args.batch, ident)
    log(f"  float pass {time.time() - t0:.1f} s")

    stats = {}

    def calib_hook(site, x):
        stats.setdefault(site, Stat()).add(x)
        return x

    run(model, calib_ids, args.batch, calib_hook)
    sites = list(stats)
    s16 = {k: st.max() / 32767.0 for k, st in stats.items()}
    model.quantize_weights_int8()
    rows = []

    def record(config, calib, pred):
        acc = (pred == gold).float().mean().item() * 100
        agree_n = int((pred == fpred).sum())
        rows.append(dict(model=mname, config=config, calib=calib, acc=acc, agree_n=agree_n,
                         n=len(gold), agree=agree_n / len(gold) * 100))
        log(f"  {config:38s} {calib:6s} acc {acc:6.2f}  agree {rows[-1]['agree']:6.2f} "
            f"({agree_n}/{len(gold)})  [{time.time() - t0:.0f} s]")

    facc = (fpred == gold).float().mean().item() * 100
    rows.append(dict(model=mname, config="float", calib="-", acc=facc, agree_n=len(gold), n=len(gold), agree=100.0))
    log(f"  float accuracy {facc:.2f}")
    record("int8 weights, f32 activations", "-", run(model, test_ids, args.batch, ident))
    record("f int16 everywhere (baseline)", "max",
           run(model, test_ids, args.batch, quantizer(s16, {k: 32767.0 for k in sites})))
    for calib in args.calib:
        if calib == "max":
            s8 = {k: st.max() / 127.0 for k, st in stats.items()}
        else:
            s8 = {k: st.percentile(float(calib)) / 127.0 for k, st in stats.items()}
        for rid, cname, groups in CONFIGS:
            if not any(group_of(k) in groups for k in sites) or (calib != "max" and cname in PCT_SKIP):
                continue
            if args.rows and rid not in args.rows:
                continue
            scales = {k: (s8[k] if group_of(k) in groups else s16[k]) for k in sites}
            qmax = {k: (127.0 if group_of(k) in groups else 32767.0) for k in sites}
            record(cname, calib, run(model, test_ids, args.batch, quantizer(scales, qmax)))
    # how much the percentile clips: ratio percentile / max per group (mean over layers)
    for calib in args.calib:
        if calib != "max":
            ratios = {}
            for k, st in stats.items():
                ratios.setdefault(group_of(k), []).append(st.percentile(float(calib)) / st.max())
            log("  " + calib + " / max: " + ", ".join(f"{g} {sum(r) / len(r):.2f}" for g, r in ratios.items()))
            rows.append(dict(model=mname, config="_ratio", calib=calib,
                             ratios={g: sum(r) / len(r) for g, r in ratios.items()}))
    return rows


def markdown(rows, args):
    out = []
    order = ["snips-tiny", "snips-small", "clinc-tiny", "clinc-small"]
    models = sorted(dict.fromkeys(r["model"] for r in rows), key=lambda m: order.index(m) if m in order else 99)
    float_acc = {r["model"]: r["acc"] for r in rows if r["config"] == "float"}
    ratio_rows = [r for r in rows if r["config"] == "_ratio"]
    rows = [r for r in rows if r["config"] != "_ratio"]
    out.append("# int8 vs int16 matrix-product inputs: float study\n")
    out.append(
        f"Weights int8 per output channel / row (nearest rounding); product inputs not named in a row stay "
        f"int16 per tensor (scale max |x|); {args.calib_n} calibration texts from train.tsv; full test sets. "
        f"Cell: top-1 agreement with the float model (texts flipped) / accuracy drop vs float in points "
        f"(negative = better than float); **bold** = misses the target (agreement >= {args.agree_target} % "
        f"and drop <= {args.drop_target} points).\n")
    out.append("| config | int8 scale | " + " | ".join(
        f"{m} (float {float_acc[m]:.2f} %)" for m in models) + " |")
    out.append("|---|---|" + "---|" * len(models))
    rank = {name: i for i, (_, name, _) in enumerate(CONFIGS)}
    keys = sorted(dict.fromkeys((r["config"], r["calib"]) for r in rows if r["config"] != "float"),
                  key=lambda k: (k[1] not in ("-", "max"), k[1], rank.get(k[0], -1)))
    idx = {(r["model"], r["config"], r["calib"]): r for r in rows}
    for config, calib in keys:
        cells = []
        for m in models:
            r = idx.get((m, config, calib))
            if r is None:
                cells.append("n/a")
                continue
            drop = float_acc[m] - r["acc"]
            ok = r["agree"] >= args.agree_target and drop <= args.drop_target
            c = f"{r['agree']:.2f} % ({r['n'] - r['agree_n']}) / {drop:+.2f}"
            cells.append(c if ok else f"**{c}**")
        out.append(f"| {config} | {calib} | " + " | ".join(cells) + " |")
    out.append("\nAccuracy (%):\n")
    out.append("| config | int8 scale | " + " | ".join(models) + " |")
    out.append("|---|---|" + "---|" * len(models))
    for config, calib in [("float", "-")] + keys:
        out.append(f"| {config} | {calib} | " + " | ".join(
            f"{idx[(m, config, calib)]['acc']:.2f}" if (m, config, calib) in idx else "n/a" for m in models) + " |")
    if ratio_rows:
        out.append("\nPercentile scale / max scale (mean over layers):\n")
        for r in ratio_rows:
            out.append(f"- {r['model']} p{r['calib']}: " + ", ".join(f"{g} {v:.2f}" for g, v in r["ratios"].items()))
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", nargs="*", default=["snips-tiny", "snips-small", "clinc-tiny", "clinc-small"])
    ap.add_argument("--calib-n", type=int, default=500)
    ap.add_argument("--calib", nargs="+", default=["max", "99.99"], help="int8 scale: max or a percentile of |x|")
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--limit", type=int, default=0, help="about N test texts, spread over the file (smoke test)")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--agree-target", type=float, default=99.5)
    ap.add_argument("--drop-target", type=float, default=0.3)
    ap.add_argument("--rows", nargs="+", default=[], help="only these rows: " + " ".join(r for r, _, _ in CONFIGS))
    ap.add_argument("--merge", nargs="+", default=[], help="earlier runs' .json: their rows join the table")
    ap.add_argument("--out", default="/tmp/int8_study.md")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    def log(s):
        print(s, file=sys.stderr, flush=True)

    rows = []
    for path in args.merge:
        with open(path) as f:
            rows += json.load(f)
    for m in args.models:
        rows += study_model(m, args, log)
        with open(os.path.splitext(args.out)[0] + ".json", "w") as f:
            json.dump(rows, f, indent=1)
    md = markdown(rows, args)
    with open(args.out, "w") as f:
        f.write(md)
    print(md)


if __name__ == "__main__":
    main()
