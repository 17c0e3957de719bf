"""Side-by-side host latency: our int8 engine and f32 reference against ONNX Runtime (int8 and
fp32) and PyTorch fp32, one thread each, on the same checkpoints and the same tokens.

Run through tools/bench-host.sh (it builds `convbert` first). For each model the checkpoint is
exported to ONNX and dynamically quantized (`quantize_dynamic`, the usual ORT int8 recipe for
BERT-like models), and every runtime's logits are checked against PyTorch once before timing.

Timing is interleaved because the machine is shared: each round visits every (model, length,
runtime) case once, in a rotated runtime order, and times a batch of runs (about
--batch-seconds) after a short warm-up; a case's figure is the median over rounds of the
batch medians, so a burst of load from another process lands on every runtime alike. Each
run's thread CPU time is reported too: it leaves out the time spent waiting for a core.
"""

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch
from onnxruntime.quantization import QuantType, quantize_dynamic
from transformers import AutoTokenizer, ConvBertForSequenceClassification

REPO = Path(__file__).resolve().parents[2]

# Words that are one WordPiece each in the checkpoints' vocabulary and in the pruned SNIPS
# blobs' (all occur in the SNIPS train split), so every runtime sees the same tokens.
WORDS = "play the music on my playlist please find a movie for this weather in book table".split()

RUNTIMES = ["ours int8", "ours f32", "ORT int8", "ORT fp32", "PyTorch fp32"]

# What each batch reports: median and mean wall time per run, and the median CPU time of the
# running thread (it stops while other processes hold the core, so load inflates it least).
STATS = ["median", "mean", "cpu"]

# Logits closer than this to PyTorch's count as the same float model (f16-stored weights are
# widened to f32 by both sides; only summation order differs).
FLOAT_TOLERANCE = 1e-3


def text_of(length):
    """[CLS] + length - 2 words + [SEP]."""
    return " ".join(WORDS[i % len(WORDS)] for i in range(length - 2))


def one_thread_session(path):
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


class Peers:
    """PyTorch and ONNX Runtime (fp32 and int8) for one checkpoint folder."""

    def __init__(self, folder, workdir):
        self.tokenizer = AutoTokenizer.from_pretrained(folder)
        self.torch = ConvBertForSequenceClassification.from_pretrained(folder, dtype=torch.float32).eval()
        fp32, int8 = workdir / "model.onnx", workdir / "model.int8.onnx"
        ids = torch.tensor([self.ids(16)])
        seq = torch.export.Dim("seq", min=2, max=self.torch.config.max_position_embeddings)
        torch.onnx.export(
            self.torch, (ids, torch.ones_like(ids)), str(fp32),
            input_names=["input_ids", "attention_mask"], output_names=["logits"],
            dynamic_shapes=({1: seq}, {1: seq}), dynamo=True, verbose=False,
        )
        quantize_dynamic(str(fp32), str(int8), weight_type=QuantType.QInt8)
        self.sessions = {"ORT fp32": one_thread_session(fp32), "ORT int8": one_thread_session(int8)}

    def ids(self, length):
        ids = self.tokenizer(text_of(length))["input_ids"]
        assert len(ids) == length, f"{length} tokens wanted, the tokenizer gave {len(ids)}"
        return ids

    def runner(self, runtime, ids):
        """A function running one inference of `ids` and returning its logits."""
        if runtime == "PyTorch fp32":
            tensor = torch.tensor([ids])
            mask = torch.ones_like(tensor)

            def run():
                with torch.inference_mode():
                    return self.torch(input_ids=tensor, attention_mask=mask).logits[0].numpy()
            return run
        session = self.sessions[runtime]
        feed = {"input_ids": np.array([ids], dtype=np.int64), "attention_mask": np.ones((1, len(ids)), dtype=np.int64)}
        return lambda: session.run(None, feed)[0][0]


def time_python(run, iters, warmup):
    """(median wall ms, mean wall ms, median thread-CPU ms) of `iters` runs, after checking
    that the runtime stayed on this thread (the process used no more CPU than the thread)."""
    for _ in range(warmup):
        run()
    wall, cpu = [], []
    process_start, thread_start = time.process_time(), time.thread_time()
    for _ in range(iters):
        start, start_cpu = time.perf_counter(), time.thread_time()
        run()
        cpu.append((time.thread_time() - start_cpu) * 1e3)
        wall.append((time.perf_counter() - start) * 1e3)
    process, thread = time.process_time() - process_start, time.thread_time() - thread_start
    assert process < 1.1 * thread + 0.01, f"{process:.3f} s of process CPU for {thread:.3f} s on this thread: not one thread"
    return statistics.median(wall), statistics.fmean(wall), statistics.median(cpu)


def ours(convbert, model, length, iters, warmup):
    """((median wall ms, mean wall ms, median thread-CPU ms), logits) from one `convbert bench`."""
    out = subprocess.run(
        [convbert, "bench", "--model", str(model), "--iters", str(iters), "--warmup", str(warmup), text_of(length)],
        check=True, capture_output=True, text=True,
    ).stdout
    result = json.loads(out)
    assert result["tokens"] == length, f"{model}: {length} tokens wanted, convbert gave {result['tokens']}"
    return (result["median_ms"], result["mean_ms"], result["cpu_median_ms"]), np.array(result["logits"])


class Case:
    """One (model, length): how to run each runtime once, and what the rounds measured."""

    def __init__(self, name, length, peers, convbert):
        self.name, self.length = name, length
        ids = peers.ids(length)
        self.python = {r: peers.runner(r, ids) for r in ("ORT int8", "ORT fp32", "PyTorch fp32")}
        self.blob = {"ours int8": REPO / "weights" / f"{name}.cbq", "ours f32": REPO / "weights" / name}
        self.convbert = convbert
        # Per statistic and runtime, one value per round.
        self.rounds = {stat: {r: [] for r in RUNTIMES} for stat in STATS}

    def measure(self, runtime, iters, warmup):
        """One batch's statistics, in the order of STATS."""
        if runtime in self.blob:
            return ours(self.convbert, self.blob[runtime], self.length, iters, warmup)[0]
        return time_python(self.python[runtime], iters, warmup)

    def logits(self, runtime):
        if runtime in self.blob:
            return ours(self.convbert, self.blob[runtime], self.length, 1, 0)[1]
        return np.asarray(self.python[runtime]())

    def ms(self, runtime, stat):
        """The mean over rounds of the batch means, else the median over rounds."""
        values = self.rounds[stat][runtime]
        return statistics.fmean(values) if stat == "mean" else statistics.median(values)


def check_agreement(case):
    """Max |logit - PyTorch logit| of each other runtime; fails if a float one is not the
    same model (the int8 ones are only reported: their quantization noise is expected)."""
    reference = case.logits("PyTorch fp32")
    diffs = {}
    for runtime in RUNTIMES[:-1]:
        diffs[runtime] = float(np.abs(case.logits(runtime) - reference).max())
        if runtime in ("ours f32", "ORT fp32"):
            assert diffs[runtime] < FLOAT_TOLERANCE, f"{case.name} {case.length}: {runtime} differs from PyTorch by {diffs[runtime]}"
    return diffs


def table(cases, stat):
    header = ["model", "tokens", *[f"{r} ms" for r in RUNTIMES],
              "ORT int8 / ours int8", "ORT fp32 / ours int8", "PyTorch / ours int8", "ORT fp32 / ours f32"]
    rows = []
    for c in cases:
        ms = {r: c.ms(r, stat) for r in RUNTIMES}
        rows.append([c.name, str(c.length), *[f"{ms[r]:.2f}" for r in RUNTIMES],
                     f"{ms['ORT int8'] / ms['ours int8']:.2f}x", f"{ms['ORT fp32'] / ms['ours int8']:.2f}x",
                     f"{ms['PyTorch fp32'] / ms['ours int8']:.2f}x", f"{ms['ORT fp32'] / ms['ours f32']:.2f}x"])
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def uptime():
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def cpu_model():
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--convbert", required=True, help="the release `convbert` binary")
    parser.add_argument("--models", nargs="+", default=["snips-small", "snips-tiny"])
    parser.add_argument("--lengths", nargs="+", type=int, default=[16, 32, 64])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--batch-seconds", type=float, default=0.4)
    parser.add_argument("--markdown", type=Path, help="also write the report here")
    args = parser.parse_args()

    torch.set_num_threads(1)
    torch.set_num_interop_threads(1)
    started, load_before = datetime.datetime.now(datetime.timezone.utc), uptime()
    cases, agreement = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models:
            print(f"exporting and quantizing {name} ...", file=sys.stderr)
            workdir = Path(tmp) / name
            workdir.mkdir()
            peers = Peers(REPO / "weights" / name, workdir)
            for length in args.lengths:
                case = Case(name, length, peers, args.convbert)
                agreement[(name, length)] = check_agreement(case)
                cases.append(case)

        # One untimed visit sizes each case's batch; the rounds then run in rotated order.
        iters = {}
        for case in cases:
            for runtime in RUNTIMES:
                ms = case.measure(runtime, 3, 2)[0]
                iters[(case.name, case.length, runtime)] = max(5, round(args.batch_seconds * 1e3 / ms))
        for n in range(args.rounds):
            print(f"round {n + 1}/{args.rounds}", file=sys.stderr)
            for case in cases:
                for runtime in RUNTIMES[n % len(RUNTIMES):] + RUNTIMES[:n % len(RUNTIMES)]:
                    batch = case.measure(runtime, iters[(case.name, case.length, runtime)], 3)
                    for stat, value in zip(STATS, batch):
                        case.rounds[stat][runtime].append(value)

    load_after = uptime()
    checks = "\n".join(
        f"- {name} {length} tokens, max |logit - PyTorch|: "
        + ", ".join(f"{r} {d:.1e}" for r, d in diffs.items())
        for (name, length), diffs in agreement.items()
    )
    report = f"""Host latency, one thread each, ms per inference: median over {args.rounds} interleaved rounds of batch medians.

{table(cases, "median")}

Thread CPU time instead of wall time (median over rounds of batch medians; what each inference
costs with the wait for the shared cores taken out):

{table(cases, "cpu")}

Wall time means (over rounds of batch means), for the spread that load adds:

{table(cases, "mean")}

- {started:%Y-%m-%d %H:%M} UTC, {cpu_model()}, {os.cpu_count()} logical CPUs
- uptime before: {load_before}
- uptime after: {load_after}
- onnxruntime {ort.__version__} (int8: quantize_dynamic, QInt8 weights), torch {torch.__version__}
- same tokens for all: [CLS] + ({" ".join(WORDS[:4])} ...) + [SEP], attention mask all ones
{checks}
"""
    print(report)
    if args.markdown:
        args.markdown.write_text(report)


if __name__ == "__main__":
    main()
