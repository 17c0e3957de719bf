"""Tests of train.py's data handling (--data DIR, the stratified split, the error messages) and
two smoke runs (a 1-layer model from scratch, --init weights/snips-tiny) on tiny folders.

  .venv/bin/python -m unittest discover tools/train/tests

Standalone (the Rust test command does not run Python); about half a minute on 2 cores, most of
it importing torch/transformers in the subprocesses.
"""
import importlib.util
import json
import os
import random
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
TRAIN_PY = os.path.join(HERE, "..", "train.py")
ROOT = os.path.normpath(os.path.join(HERE, "..", "..", ".."))
SNIPS_TINY = os.path.join(ROOT, "weights", "snips-tiny")

spec = importlib.util.spec_from_file_location("train", TRAIN_PY)
train = importlib.util.module_from_spec(spec)
spec.loader.exec_module(train)


def write(folder, name, text, mode="w"):
    path = os.path.join(folder, name)
    with open(path, mode, **({} if "b" in mode else dict(encoding="utf-8", newline=""))) as f:
        f.write(text)
    return path


def tsv(rows):
    return "".join("%s\t%s\n" % r for r in rows)


# 3 labels x 10 lines, texts distinct (so set comparisons below are exact).
ROWS = [(l, "%s example number %d" % (w, i)) for i in range(10)
        for l, w in (("greet", "hello"), ("bye", "goodbye"), ("weather", "rain"))]


class ReadTsv(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.d = self.tmp.name

    def tearDown(self):
        self.tmp.cleanup()

    def error(self, text, mode="w"):
        path = write(self.d, "train.tsv", text, mode)
        with self.assertRaises(train.DataError) as cm:
            train.read_tsv(path)
        return str(cm.exception)

    def test_rows_with_line_numbers(self):
        path = write(self.d, "train.tsv", "a\thello there\nb\tx\ty\n")
        self.assertEqual(train.read_tsv(path), [("a", "hello there", 1), ("b", "x\ty", 2)])

    def test_crlf_and_no_final_newline(self):
        path = write(self.d, "train.tsv", "a\thello\r\nb\tbye")
        self.assertEqual(train.read_tsv(path), [("a", "hello", 1), ("b", "bye", 2)])

    def test_no_tab(self):
        m = self.error("a\thello\nno tab here\n")
        self.assertIn("train.tsv:2: no TAB", m)

    def test_empty_label(self):
        self.assertIn("train.tsv:1: empty label", self.error("\thello\n"))

    def test_empty_text(self):
        m = self.error("a\thello\nb\t  \n")
        self.assertIn("train.tsv:2: empty text", m)
        self.assertIn("'b'", m)

    def test_blank_line(self):
        self.assertIn("train.tsv:2: blank line", self.error("a\thello\n\nb\tbye\n"))

    def test_label_with_spaces(self):
        self.assertIn("train.tsv:1: label 'a ' has spaces", self.error("a \thello\n"))

    def test_label_control_character(self):
        self.assertIn("U+0007", self.error("a\x07\thello\n"))

    def test_empty_file(self):
        self.assertIn("train.tsv: empty file", self.error(""))
        self.assertIn("train.tsv: empty file", self.error("\n"))

    def test_invalid_utf8(self):
        self.assertIn("train.tsv:2: invalid UTF-8", self.error(b"a\thi\nb\t\xff\n", "wb"))

    def test_bom(self):
        self.assertIn("byte-order mark", self.error("\ufeffa\thello\n"))


class StratifiedSplit(unittest.TestCase):
    def test_each_label_in_both_parts(self):
        rows = ROWS + [("rare", "rare one"), ("rare", "rare two")]
        tr, va = train.stratified_split(rows, 0.1, 42)
        self.assertEqual(sorted(tr + va), sorted(rows))
        count = lambda part, l: sum(r[0] == l for r in part)
        for l in ("greet", "bye", "weather"):
            self.assertEqual((count(tr, l), count(va, l)), (9, 1))
        self.assertEqual((count(tr, "rare"), count(va, "rare")), (1, 1))
        # Both parts keep the file order.
        self.assertEqual(tr, [r for r in rows if r in tr])
        self.assertEqual(va, [r for r in rows if r in va])

    def test_fraction_rounds_per_label(self):
        rows = [("a", "t%d" % i) for i in range(25)] + [("b", "u%d" % i) for i in range(3)]
        tr, va = train.stratified_split(rows, 0.2, 1)
        self.assertEqual(sum(r[0] == "a" for r in va), 5)
        self.assertEqual(sum(r[0] == "b" for r in va), 1)  # round(0.6) = 1

    def test_seeded(self):
        a = train.stratified_split(ROWS, 0.3, 42)
        self.assertEqual(a, train.stratified_split(list(ROWS), 0.3, 42))
        self.assertNotEqual(a, train.stratified_split(ROWS, 0.3, 7))

    def test_leaves_global_generators_alone(self):
        # The model's initialisation and the batch order must not depend on whether valid.tsv exists.
        random.seed(5)
        expect = random.random()
        random.seed(5)
        train.stratified_split(ROWS, 0.1, 42)
        self.assertEqual(random.random(), expect)


class LoadData(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.d = self.tmp.name

    def tearDown(self):
        self.tmp.cleanup()

    def error(self, **files):
        for name, text in files.items():
            write(self.d, name + ".tsv", text)
        with self.assertRaises(train.DataError) as cm:
            train.load_data(self.d)
        return str(cm.exception)

    def test_all_three_files(self):
        write(self.d, "train.tsv", tsv(ROWS))
        write(self.d, "valid.tsv", tsv(ROWS[:3]))
        write(self.d, "test.tsv", tsv(ROWS[3:9]))
        tr, va, te, info = train.load_data(self.d)
        self.assertEqual((tr, va, te), (ROWS, ROWS[:3], ROWS[3:9]))
        self.assertFalse(info["named"])
        self.assertEqual(info["valid_how"], "valid.tsv")
        self.assertEqual([s for s, _, _ in info["files"]], ["train", "valid", "test"])
        for _, path, h in info["files"]:
            self.assertRegex(h, "^[0-9a-f]{64}$")
            self.assertEqual(h, train.sha256_file(path))

    def test_train_only(self):
        write(self.d, "train.tsv", tsv(ROWS))
        tr, va, te, info = train.load_data(self.d, 0.1, 42)
        self.assertIsNone(te)
        self.assertEqual((len(tr), len(va)), (27, 3))
        self.assertEqual(sorted({l for l, _ in va}), ["bye", "greet", "weather"])
        self.assertIn("held out from train.tsv (the folder has no valid.tsv)", info["valid_how"])
        self.assertEqual([s for s, _, _ in info["files"]], ["train"])

    def test_missing_folder_and_train(self):
        with self.assertRaises(train.DataError) as cm:
            train.load_data(os.path.join(self.d, "nope"))
        self.assertIn("neither snips / clinc150 nor a folder", str(cm.exception))
        with self.assertRaises(train.DataError) as cm:
            train.load_data(self.d)
        self.assertIn("train.tsv: no such file", str(cm.exception))

    def test_single_example_label(self):
        m = self.error(train=tsv(ROWS + [("lonely", "only me")]))
        self.assertIn("train.tsv:31: label 'lonely' has only one example", m)
        m = self.error(train=tsv(ROWS + [("y", "1"), ("x", "2")]))
        self.assertIn("2 labels have only one example ('x' on line 32, 'y' on line 31)", m)

    def test_single_label(self):
        self.assertIn("only one label ('a')", self.error(train="a\tone\na\ttwo\n"))

    def test_empty_valid_and_test(self):
        self.assertIn("valid.tsv: empty file", self.error(train=tsv(ROWS), valid=""))
        os.remove(os.path.join(self.d, "valid.tsv"))
        self.assertIn("test.tsv: empty file", self.error(train=tsv(ROWS), test=""))

    def test_unknown_label_in_valid_and_test(self):
        m = self.error(train=tsv(ROWS), valid=tsv(ROWS[:2] + [("nope", "what")]))
        self.assertIn("valid.tsv:3: label 'nope' is not in", m)
        os.remove(os.path.join(self.d, "valid.tsv"))
        m = self.error(train=tsv(ROWS), test=tsv([("other", "x")]))
        self.assertIn("test.tsv:1: label 'other' is not in", m)

    def test_malformed_valid_line(self):
        m = self.error(train=tsv(ROWS), valid="greet\thi\nbroken\n")
        self.assertIn("valid.tsv:2: no TAB", m)

    def test_shared_datasets_read_as_before(self):
        # The names keep their meaning; rows equal the old reader's (skip blank lines, split at
        # the first TAB), so the seeded runs give the same models as before.
        for name in ("snips", "clinc150"):
            folder = os.path.join(train.DATASETS, name)
            if not os.path.isdir(folder):
                self.skipTest("no " + folder)
            tr, va, te, info = train.load_data(name)
            self.assertTrue(info["named"])
            for split, got in (("train", tr), ("valid", va), ("test", te)):
                with open(os.path.join(folder, split + ".tsv"), encoding="utf-8") as f:
                    old = [tuple(l.rstrip("\n").split("\t", 1)) for l in f if l.rstrip("\n")]
                self.assertEqual(got, old, (name, split))


def run_train(*args):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, TRAIN_PY] + list(args), capture_output=True, text=True,
                          env=env, cwd=ROOT)


class CommandLine(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.d = self.tmp.name

    def tearDown(self):
        self.tmp.cleanup()

    def test_data_error_is_one_line_exit_1(self):
        data = os.path.join(self.d, "data")
        os.makedirs(data)
        write(data, "train.tsv", tsv(ROWS) + "greet hello without tab\n")
        out = os.path.join(self.d, "out")
        os.makedirs(out)
        keep = write(out, "model.safetensors", "old model")
        r = run_train("--data", data, "--out", out, "--threads", "1")
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertNotIn("Traceback", r.stderr)
        self.assertIn("error: %s:31: no TAB" % os.path.join(data, "train.tsv"), r.stderr)
        self.assertTrue(os.path.exists(keep), "a data error must not empty --out")

    def test_init_flags(self):
        r = run_train("--data", self.d, "--out", self.d + "/o", "--init", SNIPS_TINY, "--layers", "2")
        self.assertEqual(r.returncode, 2)
        self.assertIn("--layers cannot be used with --init", r.stderr)
        write(self.d, "train.tsv", tsv(ROWS))
        r = run_train("--data", self.d, "--out", self.d + "/o", "--init", self.d)
        self.assertEqual(r.returncode, 1)
        self.assertIn("no config.json", r.stderr)
        self.assertNotIn("Traceback", r.stderr)
        bert = os.path.join(self.d, "bert")
        os.makedirs(bert)
        write(bert, "config.json", json.dumps({"model_type": "bert"}))
        write(bert, "vocab.txt", "[PAD]\n")
        write(bert, "model.safetensors", "")
        r = run_train("--data", self.d, "--out", self.d + "/o", "--init", bert)
        self.assertEqual(r.returncode, 1)
        self.assertIn("model_type is 'bert', not 'convbert'", r.stderr)
        os.makedirs(self.d + "/ckpt")  # not weights/: a bug here must not empty a shipped model
        r = run_train("--data", self.d, "--out", self.d + "/ckpt/", "--init", self.d + "/ckpt")
        self.assertEqual(r.returncode, 1)
        self.assertIn("--init and --out are the same folder", r.stderr)


class SmokeRuns(unittest.TestCase):
    """End to end on 30 lines, a few seconds of training each: the files written, the card."""

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.data = os.path.join(self.tmp.name, "data")
        os.makedirs(self.data)
        write(self.data, "train.tsv", tsv(ROWS))

    def tearDown(self):
        self.tmp.cleanup()

    def check(self, out, r):
        self.assertEqual(r.returncode, 0, r.stdout[-2000:] + r.stderr[-2000:])
        self.assertEqual(sorted(os.listdir(out)), ["MODEL_CARD.md", "config.json",
                                                   "model.safetensors", "tokenizer_config.json",
                                                   "vocab.txt"])
        with open(os.path.join(out, "config.json")) as f:
            cfg = json.load(f)
        self.assertEqual(cfg["id2label"], {"0": "bye", "1": "greet", "2": "weather"})
        with open(os.path.join(out, "MODEL_CARD.md")) as f:
            card = f.read()
        self.assertIn("SHA-256 `%s`" % train.sha256_file(os.path.join(self.data, "train.tsv")), card)
        self.assertIn("no test.tsv", card)
        self.assertIn("held out from train.tsv (the folder has no valid.tsv)", card)
        self.assertIn("not evaluated", r.stdout)
        return cfg, card

    def test_from_scratch(self):
        out = os.path.join(self.tmp.name, "out")
        r = run_train("--data", self.data, "--out", out, "--threads", "1", "--epochs", "2",
                      "--layers", "1", "--hidden", "32", "--embedding", "16", "--intermediate", "32",
                      "--heads", "2", "--max-positions", "16", "--vocab-size", "100",
                      "--min-frequency", "1")
        cfg, card = self.check(out, r)
        self.assertEqual(cfg["num_hidden_layers"], 1)
        self.assertIn("trained from scratch", card)

    @unittest.skipUnless(os.path.isdir(SNIPS_TINY), "no weights/snips-tiny")
    def test_init(self):
        out = os.path.join(self.tmp.name, "out")
        r = run_train("--data", self.data, "--out", out, "--threads", "1", "--epochs", "1",
                      "--init", SNIPS_TINY)
        cfg, card = self.check(out, r)
        self.assertEqual(cfg["num_hidden_layers"], 4)
        self.assertEqual(cfg["vocab_size"], 4000)
        with open(os.path.join(out, "vocab.txt"), "rb") as a, \
                open(os.path.join(SNIPS_TINY, "vocab.txt"), "rb") as b:
            self.assertEqual(a.read(), b.read())
        self.assertIn("fine-tuned from", card)
        self.assertIn(train.sha256_file(os.path.join(SNIPS_TINY, "model.safetensors")), card)
        self.assertIn("new output layer `classifier.out_proj` (3 labels, was 7)", card)


if __name__ == "__main__":
    unittest.main()
