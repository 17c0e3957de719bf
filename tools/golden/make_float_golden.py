#!/usr/bin/env python3
"""Builds random-initialised Hugging Face ConvBERT classifiers and records golden float outputs.

Usage (from the repository root, after `bash tools/python/setup-venv.sh`):
    .venv/bin/python tools/golden/make_float_golden.py [--only NAME ...] [--skip NAME ...]

For every config in CONFIGS below it writes
  tests/golden/models/<name>/   config.json, model.safetensors (f32, f16 or bf16 as listed),
                                vocab.txt, tokenizer_config.json  -- an ordinary HF checkpoint folder
  or, for the configs in SYNTHETIC (too big to commit their weights),
  tests/golden/synthetic/<name>/  config.json, vocab.txt, tokenizer_config.json and synthetic.json
                                (tensor name -> shape, shift, gamma), no model.safetensors: the
                                weights come from the deterministic generator below, which
                                tests/support.rs implements bit for bit (spec in tools/golden/README.md)
  tests/golden/float/<name>.safetensors   golden cases, batch dimension dropped:
      len<L>.input_ids          i64 [L]     [CLS] random... [SEP]  (just [CLS] for L = 1)
      len<L>.token_type_ids     i64 [L]     zeros; 0..0 1..1 in tiny-eh's len32 case
      len<L>.last_hidden_state  f32 [L, H]
      len<L>.logits             f32 [num_labels]
      len7.hidden_states.<i>    f32 [7, H]  i = 0: encoder input (after embeddings_project when
                                            E != H), i = 1..layers: output of layer i
  for L in 1, 7, 32, 128 (batch 1, attention_mask all ones, no padding).

Weights: HF's own init (zero biases, unit LayerNorm gammas, std 0.02) would hide bugs, so every
parameter is re-drawn: matrices N(0, 1/fan_in) so activations keep unit scale (GELU inputs span
both signs), biases N(0, 0.05^2), LayerNorm gamma 1 + N(0, 0.1^2) and beta N(0, 0.05^2),
embeddings N(0, 0.5^2). The weights are then rounded to the storage dtype and back, so the
float32 model that produced the goldens is exactly what model.safetensors holds.
Synthetic configs instead take every parameter from synthetic_values() (splitmix64 of the
FNV-1a hash of the tensor name plus the element index, 10 bits, an exact dyadic f32).

The vocabulary is tests/golden/tokenizer/vocab-uncased.txt (made by make_tokenizer_golden.py);
every config's vocab_size is its line count. The script waits for it (30 s polls, 20 min).

Checks run on every config: safetensors dtypes and key names, reload with
from_pretrained(dtype=float32) gives identical logits, hidden_states[-1] equals
last_hidden_state, no NaN/Inf, an independent numpy re-implementation of the forward pass
(following /work/shared/notes/convbert-hf.md) agrees, and AutoTokenizer loads the folder.
"""

import argparse
import copy
import json
import math
import pathlib
import shutil
import sys
import tempfile
import time

import numpy as np
import safetensors
import safetensors.torch
import tokenizers
import torch
import transformers
from transformers import AutoTokenizer, ConvBertConfig, ConvBertForSequenceClassification

ROOT = pathlib.Path(__file__).resolve().parents[2]
VOCAB = ROOT / "tests/golden/tokenizer/vocab-uncased.txt"
SEED = 20240611
LENGTHS = (1, 7, 32, 128)
HIDDEN_STATES_CASE = 7

INTENTS = [
    "book_flight", "cancel_booking", "check_weather", "play_music", "set_alarm", "get_directions",
    "order_food", "check_balance", "send_message", "smalltalk", "turn_on_lights", "translate",
]

# name, HF config kwargs, storage dtype, number of labels.
# Coverage: E < H and E > H (projection) and E == H; groups 1/2/3/4; kernels 3/5/7/9; gelu/gelu_new/relu;
# eps 1e-12 / 1e-5; f32/f16/bf16 storage; heads 2/4/8/12; layers 1/2/3.
CONFIGS = [
    ("small-2l", dict(hidden_size=256, embedding_size=128, intermediate_size=1024, num_attention_heads=4,
                      conv_kernel_size=9, num_groups=1, num_hidden_layers=2, hidden_act="gelu",
                      layer_norm_eps=1e-12, max_position_embeddings=512), torch.float16, 7),
    ("medium-small-1l", dict(hidden_size=384, embedding_size=128, intermediate_size=1536, num_attention_heads=8,
                             conv_kernel_size=9, num_groups=2, num_hidden_layers=1, hidden_act="gelu",
                             layer_norm_eps=1e-12, max_position_embeddings=512), torch.bfloat16, 10),
    ("base-1l", dict(hidden_size=768, embedding_size=768, intermediate_size=3072, num_attention_heads=12,
                     conv_kernel_size=9, num_groups=1, num_hidden_layers=1, hidden_act="gelu",
                     layer_norm_eps=1e-12, max_position_embeddings=512), torch.float32, 3),  # synthetic
    ("tiny-eh", dict(hidden_size=64, embedding_size=64, intermediate_size=128, num_attention_heads=2,
                     conv_kernel_size=9, num_groups=1, num_hidden_layers=2, hidden_act="gelu_new",
                     layer_norm_eps=1e-5, max_position_embeddings=192), torch.float32, 4),
    ("tiny-k5-relu", dict(hidden_size=96, embedding_size=48, intermediate_size=192, num_attention_heads=4,
                          conv_kernel_size=5, num_groups=3, num_hidden_layers=2, hidden_act="relu",
                          layer_norm_eps=1e-12, max_position_embeddings=128), torch.float32, 5),
    ("tiny-k3", dict(hidden_size=64, embedding_size=32, intermediate_size=256, num_attention_heads=2,
                     conv_kernel_size=3, num_groups=1, num_hidden_layers=3, hidden_act="gelu",
                     layer_norm_eps=1e-12, max_position_embeddings=256), torch.float16, 2),
    # Cheap cover for N 12 (plus K 7, G 4) with stored weights (base-1l's are synthetic).
    ("tiny-n12", dict(hidden_size=192, embedding_size=64, intermediate_size=384, num_attention_heads=12,
                      conv_kernel_size=7, num_groups=4, num_hidden_layers=1, hidden_act="gelu",
                      layer_norm_eps=1e-12, max_position_embeddings=128), torch.float16, 6),
    # E > H: HF projects the wider embeddings down to the residual stream (the int8 engine must too).
    ("tiny-e-wide", dict(hidden_size=64, embedding_size=96, intermediate_size=128, num_attention_heads=2,
                         conv_kernel_size=5, num_groups=2, num_hidden_layers=2, hidden_act="gelu",
                         layer_norm_eps=1e-12, max_position_embeddings=128), torch.float32, 3),
]
# Configs whose weights are not stored but generated (see synthetic_values); their storage dtype
# is irrelevant (the Rust test materialises them as F32).
SYNTHETIC = {"base-1l"}
TOKEN_TYPE_CASE = ("tiny-eh", 32)  # the one case with a 0..0 1..1 segment pattern

DTYPE_NAMES = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16"}


def wait_for_vocab(path, poll_s=30, limit_s=20 * 60):
    start = time.monotonic()
    while not path.exists():
        if time.monotonic() - start > limit_s:
            sys.exit(f"{path} did not appear within {limit_s // 60} minutes")
        print(f"waiting for {path.relative_to(ROOT)} ...", flush=True)
        time.sleep(poll_s)
    time.sleep(2)  # let a concurrent writer finish
    tokens = path.read_text(encoding="utf-8").split("\n")
    if tokens and tokens[-1] == "":
        tokens.pop()
    return tokens


def randomise_(model, gen):
    """Re-draws every parameter so that no term of the forward pass is zero or one."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            leaf = name.rsplit(".", 1)[-1]
            if "LayerNorm" in name:
                if leaf == "weight":
                    p.copy_(1.0 + 0.1 * torch.randn(p.shape, generator=gen))
                else:
                    p.copy_(0.05 * torch.randn(p.shape, generator=gen))
            elif "embeddings." in name and name.endswith("_embeddings.weight"):
                p.copy_(0.5 * torch.randn(p.shape, generator=gen))
            elif leaf == "bias":
                p.copy_(0.05 * torch.randn(p.shape, generator=gen))
            elif leaf == "weight":
                if p.dim() == 2:  # nn.Linear [out, in]
                    fan_in = p.shape[1]
                elif p.dim() == 3 and "depthwise" in name:  # [C, 1, K]
                    fan_in = p.shape[2]
                elif p.dim() == 3 and "pointwise" in name:  # [out, in, 1]
                    fan_in = p.shape[1]
                elif p.dim() == 3:  # GroupedLinearLayer [G, in/G, out/G]
                    fan_in = p.shape[1]
                else:
                    raise ValueError(f"unexpected parameter {name} {tuple(p.shape)}")
                p.copy_(torch.randn(p.shape, generator=gen) / math.sqrt(fan_in))
            else:
                raise ValueError(f"unexpected parameter {name}")


# --- synthetic weights: a generator that tests/support.rs implements bit for bit ----------------

FNV_OFFSET, FNV_PRIME, MASK64 = 0xCBF29CE484222325, 0x100000001B3, (1 << 64) - 1


def fnv1a64(data: bytes) -> int:
    h = FNV_OFFSET
    for b in data:
        h = ((h ^ b) * FNV_PRIME) & MASK64
    return h


def splitmix64(z):
    """The splitmix64 finaliser on a uint64 array (wrapping arithmetic)."""
    with np.errstate(over="ignore"):
        z = z + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def synthetic_values(name, numel, shift, gamma):
    """Element i: k = splitmix64(fnv1a64(name) + i) >> 54, value (k - 512) * 2^-(9 + shift), plus 1
    for a LayerNorm gamma. Every value is an exact float32."""
    with np.errstate(over="ignore"):
        z = np.arange(numel, dtype=np.uint64) + np.uint64(fnv1a64(name.encode()))
    k = (splitmix64(z) >> np.uint64(54)).astype(np.int64)
    v = (k - 512).astype(np.float64) * 2.0 ** -(9 + shift) + (1.0 if gamma else 0.0)
    out = v.astype(np.float32)
    assert np.array_equal(out.astype(np.float64), v), f"{name}: not exact in f32"
    return out


def synthetic_kind(name, shape):
    """(shift, gamma) per tensor kind. (k - 512) / 512 is uniform on [-1, 1) with std 1/sqrt(3),
    so the std is 2^-shift / sqrt(3): weight matrices get the shift nearest to N(0, 1/fan_in)
    (fan_in 768: shift 4, std 0.036; 3072: 5, 0.018; depthwise K 9: 1, 0.29), biases and
    LayerNorm betas shift 5 (0.018), gammas 1 + shift 3 (1 +- 0.072), embeddings shift 0 (0.58)."""
    leaf = name.rsplit(".", 1)[-1]
    if "LayerNorm" in name:
        return (3, True) if leaf == "weight" else (5, False)
    if "embeddings." in name and name.endswith("_embeddings.weight"):
        return 0, False
    if leaf == "bias":
        return 5, False
    if leaf != "weight":
        raise ValueError(f"unexpected parameter {name}")
    if len(shape) == 2:  # nn.Linear [out, in]
        fan_in = shape[1]
    elif len(shape) == 3 and "depthwise" in name:  # [C, 1, K]
        fan_in = shape[2]
    elif len(shape) == 3:  # pointwise [out, in, 1] or GroupedLinearLayer [G, in/G, out/G]
        fan_in = shape[1]
    else:
        raise ValueError(f"unexpected parameter {name} {tuple(shape)}")
    return max(0, math.floor(0.5 * math.log2(fan_in / 3) + 0.5)), False


def synthetic_manifest(model):
    return {name: {"shape": list(p.shape), "shift": shift, "gamma": gamma}
            for name, p in model.named_parameters()
            for shift, gamma in [synthetic_kind(name, tuple(p.shape))]}


def synthetic_state(manifest):
    """The float32 tensors a manifest describes (what the Rust side materialises)."""
    return {name: torch.from_numpy(synthetic_values(name, math.prod(e["shape"]), e["shift"], e["gamma"])
                                   .reshape(e["shape"]))
            for name, e in manifest.items()}


def write_manifest(path, manifest):
    lines = [f"  {json.dumps(n)}: {json.dumps(e)}" for n, e in manifest.items()]
    path.write_text("{\n" + ",\n".join(lines) + "\n}\n")


def synthesise_(model):
    manifest = synthetic_manifest(model)
    state = synthetic_state(manifest)
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.copy_(state[name])
        for name, p in model.named_parameters():  # read back: exactly the generated values
            assert p.dtype == torch.float32 and torch.equal(p, state[name]), f"{name}: not the generated values"
    return manifest


def round_to_(model, dtype):
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(p.to(dtype).to(torch.float32))


def make_inputs(name, length, vocab_size, cls_id, sep_id, gen):
    ids = torch.randint(5, vocab_size, (length,), generator=gen, dtype=torch.int64)
    ids[0] = cls_id
    if length >= 2:
        ids[-1] = sep_id
    types = torch.zeros(length, dtype=torch.int64)
    if (name, length) == TOKEN_TYPE_CASE:
        split = length // 2 - 1  # [CLS] a.. [SEP] | b.. [SEP]
        ids[split] = sep_id
        types[split + 1:] = 1
    return ids, types


# --- independent numpy forward, written from the notes, not from the HF code ---------------------

def np_layer_norm(x, g, b, eps):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * g + b


def np_activation(x, act):
    if act == "gelu":
        t = torch.from_numpy(x)
        return (0.5 * t * (1.0 + torch.erf(t / math.sqrt(2.0)))).numpy()
    if act == "gelu_new":
        return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))
    if act == "relu":
        return np.maximum(x, 0.0)
    raise ValueError(act)


def np_reference(sd, cfg, ids, types):
    """Returns (encoder input, [layer outputs], logits) in float64."""
    w = {k: v.double().numpy() for k, v in sd.items()}
    H, N, K, G = cfg.hidden_size, cfg.num_attention_heads, cfg.conv_kernel_size, cfg.num_groups
    nh, hs = N // cfg.head_ratio, H // N
    A, L, eps, act = nh * hs, len(ids), cfg.layer_norm_eps, cfg.hidden_act
    p = "convbert."
    e = w[p + "embeddings.word_embeddings.weight"][ids] + w[p + "embeddings.position_embeddings.weight"][:L] \
        + w[p + "embeddings.token_type_embeddings.weight"][types]
    e = np_layer_norm(e, w[p + "embeddings.LayerNorm.weight"], w[p + "embeddings.LayerNorm.bias"], eps)
    if p + "embeddings_project.weight" in w:
        e = e @ w[p + "embeddings_project.weight"].T + w[p + "embeddings_project.bias"]
    h, outs = e, []

    def lin(x, pre):
        wt, b = w[pre + ".weight"], w[pre + ".bias"]
        if wt.ndim == 2:
            return x @ wt.T + b
        gi, go = wt.shape[1], wt.shape[2]
        return np.concatenate([x[:, g * gi:(g + 1) * gi] @ wt[g] for g in range(G)], axis=1) + b

    def shifted(x, j):  # out[t] = x[t + j - (K-1)//2], zeros outside
        out, o = np.zeros_like(x), j - (K - 1) // 2
        lo, hi = max(0, -o), min(L, L - o)
        if lo < hi:
            out[lo:hi] = x[lo + o:hi + o]
        return out

    for i in range(cfg.num_hidden_layers):
        s = f"{p}encoder.layer.{i}.attention.self."
        x = h
        q, k, v = lin(x, s + "query"), lin(x, s + "key"), lin(x, s + "value")
        wdw = w[s + "key_conv_attn_layer.depthwise.weight"][:, 0, :]  # [H, K]
        dw = sum(shifted(x, j) * wdw[:, j] for j in range(K))
        ks = dw @ w[s + "key_conv_attn_layer.pointwise.weight"][:, :, 0].T + w[s + "key_conv_attn_layer.bias"][:, 0]
        kr = lin(ks * q, s + "conv_kernel_layer").reshape(L, nh, K)
        kw = np.exp(kr - kr.max(-1, keepdims=True))
        kw /= kw.sum(-1, keepdims=True)
        co = lin(x, s + "conv_out_layer")
        conv = np.zeros((L, A))
        for j in range(K):
            conv += np.repeat(kw[:, :, j], hs, axis=1) * shifted(co, j)
        qh, kh, vh = (t.reshape(L, nh, hs).transpose(1, 0, 2) for t in (q, k, v))
        sc = qh @ kh.transpose(0, 2, 1) / math.sqrt(hs)
        pr = np.exp(sc - sc.max(-1, keepdims=True))
        pr /= pr.sum(-1, keepdims=True)
        ctx = (pr @ vh).transpose(1, 0, 2).reshape(L, A)
        mix = np.concatenate([ctx, conv], axis=1)
        a_pre = f"{p}encoder.layer.{i}.attention.output."
        a = np_layer_norm(lin(mix, a_pre + "dense") + x, w[a_pre + "LayerNorm.weight"], w[a_pre + "LayerNorm.bias"], eps)
        f = np_activation(lin(a, f"{p}encoder.layer.{i}.intermediate.dense"), act)
        o_pre = f"{p}encoder.layer.{i}.output."
        h = np_layer_norm(lin(f, o_pre + "dense") + a, w[o_pre + "LayerNorm.weight"], w[o_pre + "LayerNorm.bias"], eps)
        outs.append(h)
    c = np_activation(lin(h[:1], "classifier.dense"), act)
    logits = lin(c, "classifier.out_proj")[0]
    return e, outs, logits


def rel_diff(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-30))


# --------------------------------------------------------------------------------------------------

def write_tokenizer_files(folder, vocab_path, max_len):
    (folder / "vocab.txt").write_bytes(vocab_path.read_bytes())
    (folder / "tokenizer_config.json").write_text(json.dumps({
        "do_lower_case": True,
        "model_max_length": max_len,
        "tokenizer_class": "ConvBertTokenizer",
    }, indent=2) + "\n")


def build_synthetic(name, kwargs, num_labels, vocab_size, pad_id, out_synth, out_models, vocab_path, scratch):
    """Synthetic weights: the committed folder has no model.safetensors, only synthetic.json. A
    full f32 checkpoint goes to `scratch` for the reload and tokenizer checks."""
    labels = INTENTS[:num_labels]
    config = ConvBertConfig(
        vocab_size=vocab_size, head_ratio=2, type_vocab_size=2, pad_token_id=pad_id,
        id2label={i: n for i, n in enumerate(labels)}, label2id={n: i for i, n in enumerate(labels)},
        **kwargs,
    )
    model = ConvBertForSequenceClassification(config).eval()
    manifest = synthesise_(model)
    model.save_pretrained(scratch, safe_serialization=True)
    write_tokenizer_files(scratch, vocab_path, kwargs["max_position_embeddings"])

    folder = out_synth / name
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.iterdir():
        old.unlink()
    shutil.copyfile(scratch / "config.json", folder / "config.json")
    write_tokenizer_files(folder, vocab_path, kwargs["max_position_embeddings"])
    write_manifest(folder / "synthetic.json", manifest)
    if (out_models / name).exists():
        print(f"  removing stored-weights folder {out_models / name}")
        shutil.rmtree(out_models / name)

    # The committed folder alone reproduces the model: rebuild from its config.json and manifest.
    sd = model.state_dict()
    params = dict(model.named_parameters())
    again = json.loads((folder / "synthetic.json").read_text())
    assert list(again) == list(params), f"{name}: manifest does not cover every parameter"
    rebuilt = ConvBertForSequenceClassification(ConvBertConfig.from_pretrained(folder)).eval()
    missing, unexpected = rebuilt.load_state_dict(synthetic_state(again), strict=False)
    assert not unexpected and not set(missing) & set(params), (missing, unexpected)
    assert all(torch.equal(a, b) for a, b in zip(rebuilt.state_dict().values(), sd.values()))
    with safetensors.safe_open(scratch / "model.safetensors", "pt") as f:
        assert set(f.keys()) == set(params)
        for k in f.keys():
            assert f.get_tensor(k).dtype == torch.float32 and torch.equal(f.get_tensor(k), sd[k]), k
    shifts = sorted({(e["shift"], e["gamma"]) for e in manifest.values()})
    n = sum(math.prod(e["shape"]) for e in manifest.values())
    print(f"  synthetic: {len(manifest)} tensors, {n:,} parameters, (shift, gamma) {shifts}")
    for k in ("convbert.encoder.layer.0.attention.self.query.weight", "convbert.encoder.layer.0.output.dense.weight"):
        t = sd[k]
        print(f"    {k}: std {t.std():.4f}, first {t.flatten()[:3].tolist()}")
    return model, scratch


def build(name, kwargs, dtype, num_labels, vocab_size, pad_id, out_models, vocab_path, gen):
    labels = INTENTS[:num_labels]
    config = ConvBertConfig(
        vocab_size=vocab_size, head_ratio=2, type_vocab_size=2, pad_token_id=pad_id,
        id2label={i: n for i, n in enumerate(labels)}, label2id={n: i for i, n in enumerate(labels)},
        **kwargs,
    )
    model = ConvBertForSequenceClassification(config).eval()
    randomise_(model, gen)
    round_to_(model, dtype)

    folder = out_models / name
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.iterdir():
        old.unlink()
    stored = copy.deepcopy(model).to(dtype)
    stored.save_pretrained(folder, safe_serialization=True)
    for f in folder.iterdir():
        if f.name not in ("config.json", "model.safetensors"):
            print(f"  removing non-essential {f.name}")
            f.unlink()
    write_tokenizer_files(folder, vocab_path, kwargs["max_position_embeddings"])

    # The stored tensors: HF names, storage dtype, no buffers, bit-identical to the f32 model.
    sd = model.state_dict()
    params = dict(model.named_parameters())
    with safetensors.safe_open(folder / "model.safetensors", "pt") as f:
        keys = set(f.keys())
        assert keys == set(params), f"{name}: stored keys differ: {sorted(keys ^ set(params))}"
        for k in keys:
            t = f.get_tensor(k)
            assert t.dtype == dtype, f"{name}: {k} stored as {t.dtype}"
            assert torch.equal(t.float(), sd[k]), f"{name}: {k} not exact"
        meta = f.metadata()
    assert all(k.startswith(("convbert.", "classifier.")) for k in keys)
    buffers = sorted(k for k in sd if k not in params)
    print(f"  {len(keys)} tensors {DTYPE_NAMES[dtype]}, metadata {meta}, non-persistent buffers not stored: {buffers}")
    saved_cfg = json.loads((folder / "config.json").read_text())
    assert saved_cfg["id2label"]["0"] == labels[0] and saved_cfg["vocab_size"] == vocab_size
    return model, folder


def run_cases(name, model, folder, vocab_size, cls_id, sep_id, gen):
    cfg = model.config
    reloaded = ConvBertForSequenceClassification.from_pretrained(folder, dtype=torch.float32).eval()
    assert all(p.dtype == torch.float32 for p in reloaded.parameters())
    sd = model.state_dict()
    cases, stats = {}, []
    gelu_in = []
    hook = model.convbert.encoder.layer[0].intermediate.dense.register_forward_hook(
        lambda m, i, o: gelu_in.append(o.detach()))
    for length in LENGTHS:
        if length > cfg.max_position_embeddings:
            print(f"  skip len{length}: max_position_embeddings {cfg.max_position_embeddings}")
            continue
        ids, types = make_inputs(name, length, vocab_size, cls_id, sep_id, gen)
        mask = torch.ones(1, length, dtype=torch.int64)
        with torch.no_grad():
            out = model(input_ids=ids[None], attention_mask=mask, token_type_ids=types[None], output_hidden_states=True)
            base = model.convbert(input_ids=ids[None], attention_mask=mask, token_type_ids=types[None])
            again = reloaded(input_ids=ids[None], attention_mask=mask, token_type_ids=types[None])
        hidden, logits = base.last_hidden_state[0], out.logits[0]
        hs = out.hidden_states
        assert len(hs) == cfg.num_hidden_layers + 1, len(hs)
        assert torch.equal(hs[-1][0], hidden), f"{name}: hidden_states[-1] != last_hidden_state"
        # Not always bit-identical: from_pretrained leaves weights at unaligned offsets of one
        # buffer, so BLAS may take another SIMD path (seen: 1.8e-7 on tiny-eh's logits).
        d_reload = rel_diff(again.logits[0].numpy(), logits.numpy())
        assert d_reload < 1e-6, f"{name}: reloaded logits differ by {d_reload:e}"
        for t in (hidden, logits):
            assert torch.isfinite(t).all(), f"{name} len{length}: NaN/Inf"
        e, layer_outs, ref_logits = np_reference(sd, cfg, ids.numpy(), types.numpy())
        d_ref = max(rel_diff(hidden.numpy(), layer_outs[-1]), rel_diff(logits.numpy(), ref_logits),
                    rel_diff(hs[0][0].numpy(), e))
        assert d_ref < 1e-5, f"{name} len{length}: numpy reference differs by {d_ref:e}"
        c = f"len{length}"
        cases[f"{c}.input_ids"] = ids.clone()
        cases[f"{c}.token_type_ids"] = types.clone()
        cases[f"{c}.last_hidden_state"] = hidden.float().contiguous().clone()
        cases[f"{c}.logits"] = logits.float().contiguous().clone()
        if length == HIDDEN_STATES_CASE:
            for i, t in enumerate(hs):
                cases[f"{c}.hidden_states.{i}"] = t[0].float().contiguous().clone()
        g = gelu_in[-1]
        stats.append(f"  {c:>6}: max|logit| {logits.abs().max():7.3f}  max|hidden| {hidden.abs().max():7.3f}  "
                     f"FFN act input [{g.min():+.2f}, {g.max():+.2f}] {(g < 0).float().mean():.0%} negative  "
                     f"types {'0..0 1..1' if types.any() else 'zeros'}  numpy ref {d_ref:.1e}  reload {d_reload:.0e}")
    hook.remove()
    print("\n".join(stats))
    return cases


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--only", nargs="*", help="config names to (re)generate (default: all)")
    ap.add_argument("--skip", nargs="*", default=[], help="config names to leave out")
    ap.add_argument("--vocab", type=pathlib.Path, default=VOCAB)
    ap.add_argument("--out", type=pathlib.Path, default=ROOT / "tests/golden", help="golden root (default tests/golden)")
    args = ap.parse_args()

    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    print(f"torch {torch.__version__}, transformers {transformers.__version__}, tokenizers {tokenizers.__version__}, "
          f"safetensors {safetensors.__version__}, numpy {np.__version__}")
    tokens = wait_for_vocab(args.vocab)
    vocab_size = len(tokens)
    index = {t: i for i, t in enumerate(tokens)}
    cls_id, sep_id, pad_id = index["[CLS]"], index["[SEP]"], index["[PAD]"]
    print(f"vocab {args.vocab}: {vocab_size} tokens, [PAD] {pad_id} [CLS] {cls_id} [SEP] {sep_id}")

    out_models, out_float, out_synth = args.out / "models", args.out / "float", args.out / "synthetic"
    out_float.mkdir(parents=True, exist_ok=True)
    names = [c[0] for c in CONFIGS]
    for n in (args.only or []) + args.skip:
        if n not in names:
            sys.exit(f"unknown config {n}; known: {names}")
    for idx, (name, kwargs, dtype, num_labels) in enumerate(CONFIGS):
        if (args.only and name not in args.only) or name in args.skip:
            continue
        synthetic = name in SYNTHETIC
        print(f"\n== {name}: {kwargs}, {'synthetic' if synthetic else DTYPE_NAMES[dtype]}, {num_labels} labels")
        torch.manual_seed(SEED + idx)
        gen = torch.Generator().manual_seed(SEED + idx)
        scratch = tempfile.TemporaryDirectory(prefix=f"golden-{name}-")
        if synthetic:
            model, folder = build_synthetic(name, kwargs, num_labels, vocab_size, pad_id, out_synth, out_models,
                                            args.vocab, pathlib.Path(scratch.name))
        else:
            model, folder = build(name, kwargs, dtype, num_labels, vocab_size, pad_id, out_models, args.vocab, gen)
        cases = run_cases(name, model, folder, vocab_size, cls_id, sep_id, gen)
        path = out_float / f"{name}.safetensors"
        # One metadata key: safetensors writes the metadata map in random order, so several
        # keys would make the file differ from run to run.
        safetensors.torch.save_file(cases, path, metadata={"source": (
            f"tools/golden/make_float_golden.py {name} seed {SEED + idx} torch {torch.__version__} "
            f"transformers {transformers.__version__}")})
        tok = AutoTokenizer.from_pretrained(folder)
        enc = tok("Book a flight to Paris tomorrow, please!")["input_ids"]
        unk = sum(i == tok.unk_token_id for i in enc)
        print(f"  tokenizer {type(tok).__name__}: {enc} ({unk} [UNK])")
        assert enc[0] == cls_id and enc[-1] == sep_id
        scratch.cleanup()

    print("\nfile                                                  bytes")
    total = 0
    for f in sorted(list(out_models.glob("*/*")) + list(out_synth.glob("*/*")) + list(out_float.glob("*.safetensors"))):
        size = f.stat().st_size
        total += size
        print(f"{str(f.relative_to(args.out.parent)):<50} {size:>11,}")
    print(f"{'total':<50} {total:>11,}  ({total / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
