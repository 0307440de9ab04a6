"""Checks of the GPU benchmark's Python parts that need no GPU and no torch:

    python3 -m unittest discover -s bench/gpu -p 'test_*.py'

table.py's arithmetic on the hand-made testdata/summary-example.json (made-up numbers; the
expected ratios below are worked out by hand from them), collect's file naming, and
hf_baseline.py's arguments and JSON shape (--dry-run).
"""

import io
import json
import os
import shutil
import tempfile
import unittest
import unittest.mock

import hf_baseline
import table

HERE = os.path.dirname(os.path.abspath(__file__))
EXAMPLE = os.path.join(HERE, "testdata", "summary-example.json")


class TableTest(unittest.TestCase):

    def markdown(self, *summaries):
        out = io.StringIO()
        table.markdown(list(summaries), out)
        return out.getvalue()

    def test_ratios_of_the_example(self):
        with open(EXAMPLE) as f:
            text = self.markdown(json.load(f))
        self.assertIn("FORMAT EXAMPLE, NOT A RESULT", text)
        # 3.0e12 B/s over 2,471,493,632 B/token = 1213.8 tok/s; 800 of it = 65.9%.
        self.assertIn("| 1b-f16 (2357.0 MiB/token; bound 1214 tok/s) | 1 | 800.0 | 65.9% | 200.0 | 250.0 | 4.00x | 3.20x |", text)
        # q8_0 has no transformers model of its own: the f16 one stands in, marked.
        self.assertIn("| 200.0 (f16) | 250.0 (f16) | 7.50x | 6.00x |", text)
        # 1B prefill of 512: (2 * 973,078,528 * 512 + 16 * 2 * 512^2 * 2048 + 2 * 128256 * 2048) FLOPs
        # / 512 tokens * 50,000 tok/s / 7e14 FLOP/s = 14.1%.
        self.assertIn("| 1b-f16 | 512 | 50000 | 14.1% | 20000 | 30000 | 2.50x | 1.67x |", text)
        self.assertIn("| 256 | 50000.0 | - | oom | skipped: time budget | - | - |", text)
        self.assertIn("| 1b-f16 | kivi2 | 64 | 2000 | 667.6 | 8201.6 | 3000.0 |", text)
        self.assertIn("1b-f16: batch-1 decode >= 3x transformers eager: met (4.00x)", text)
        self.assertIn("1b-q8_0: tokens/s grows with batch up to 64: NOT met (1500 < 9000 < 8000)", text)
        self.assertIn("Steps that did not finish: ks-1b-q8_0-prefill (rc 124)", text)

    def test_prefill_flops_count_matrices_attention_and_one_logit_row(self):
        cfg = {"dim": 4, "hidden_dim": 8, "layers": 2, "heads": 2, "kv_heads": 1, "head_dim": 2, "vocab": 10}
        # Per layer: q 4x4, k and v 4x2 each, o 4x4, gate/up/down 4x8 each.
        self.assertEqual(table.matrix_params(cfg), 2 * (16 + 16 + 16 + 96))
        self.assertEqual(table.prefill_flops(cfg, 3), 2 * 288 * 3 + 2 * 2 * 9 * 4 + 2 * 10 * 4)

    def test_collect_files_by_name(self):
        raw = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, raw)
        report = {"rows": [], "config": {}, "weight_bytes_per_token": 1}
        for name in ("ks-8b-q8_0-decode.json", "ks-8b-q8_0-prefill.json", "kv-1b-f16-kivi2.json", "hf-8b-f16.json"):
            with open(os.path.join(raw, name), "w") as f:
                json.dump(report, f)
        with open(os.path.join(raw, "device.json"), "w") as f:
            json.dump({"device": {"bandwidth_bytes_per_s": 1.0}, "versions": {"torch": "x"}}, f)
        with open(os.path.join(raw, "ks-1b-f16-decode.json"), "w") as f:
            f.write('{"rows": [')  # what a killed step leaves
        with open(os.path.join(raw, "steps.tsv"), "w") as f:
            f.write("calibrate\t0\t12\nhf-8b-f16\tskipped\t0\n")
        s = table.collect(raw, ["8b-q8", "kv"])
        self.assertEqual(sorted(s["kvstream"]["8b-q8_0"]), ["decode", "prefill"])
        self.assertEqual(list(s["kv"]["1b-f16"]), ["kivi2"])
        self.assertEqual(list(s["hf"]), ["8b-f16"])
        self.assertEqual(s["device"], {"bandwidth_bytes_per_s": 1.0})
        self.assertEqual(len(s["unreadable"]), 1)
        self.assertEqual(s["steps"][1], {"step": "hf-8b-f16", "rc": "skipped", "seconds": 0})


class HfBaselineDryRunTest(unittest.TestCase):

    def test_dry_run_writes_the_shape_of_the_results(self):
        tmp = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, tmp)
        model = os.path.join(tmp, "1b-hf")
        os.mkdir(model)
        with open(os.path.join(model, "config.json"), "w") as f:
            json.dump({"hidden_size": 2048, "intermediate_size": 8192, "num_hidden_layers": 16,
                       "num_attention_heads": 32, "num_key_value_heads": 8, "head_dim": 64,
                       "vocab_size": 128256, "tie_word_embeddings": True}, f)
        out = os.path.join(tmp, "hf.json")
        with unittest.mock.patch("sys.stdout", new=io.StringIO()):
            hf_baseline.main(["--model", model, "--label", "1b-f16", "--batch", "1,8", "--calibrate",
                              "--dry-run", "--json", out])
        with open(out) as f:
            r = json.load(f)
        self.assertTrue(r["dry_run"])
        self.assertEqual(r["label"], "1b-f16")
        # The same bytes per token as kvstream's bench counts for the 1B f16 GGUF (2357 MiB).
        self.assertEqual(r["weight_bytes_per_token"], 2471493632)
        self.assertEqual([d["batch"] for d in r["impls"]["eager"]["decode"]], [1, 8])
        self.assertEqual(sorted(r["impls"]), ["eager", "sdpa"])
        self.assertIn("Q8_0", r["note"])

    def test_bad_arguments_are_refused(self):
        for argv in (["--dry-run"], ["--calibrate", "--batch", "1,x"], ["--calibrate", "--impl", "flash"]):
            with unittest.mock.patch("sys.stderr", new=io.StringIO()), self.assertRaises(SystemExit):
                hf_baseline.parse_args(argv)


if __name__ == "__main__":
    unittest.main()
