#!/usr/bin/env python3
"""Checks that bench/make-eval.py reproduces the shipped eval set: with the recipe's seed (2024,
100 per task, lengths 128..1700) every sample's task, segments and answer must equal
eval-shared.jsonl's. Exits 1 on the first difference.

    python3 bench/make-eval-check.py [--shared ../shared/refmodel/eval-shared.jsonl]
"""
import argparse, json, os, subprocess, sys, tempfile

here = os.path.dirname(os.path.abspath(__file__))
p = argparse.ArgumentParser()
p.add_argument("--shared", default=os.path.join(here, "..", "..", "shared", "refmodel", "eval-shared.jsonl"))
a = p.parse_args()
with tempfile.TemporaryDirectory() as tmp:
    out = os.path.join(tmp, "seed-2024.jsonl")
    subprocess.run([sys.executable, os.path.join(here, "make-eval.py"), "--seed", "2024", "--n", "100",
                    "--lo", "128", "--hi", "1700", "--out", out], check=True)
    made = [json.loads(l) for l in open(out)]
shared = [json.loads(l) for l in open(a.shared)]
if len(made) != len(shared):
    sys.exit(f"{len(made)} samples made, {len(shared)} shipped")
for i, (m, s) in enumerate(zip(made, shared)):
    for field in ("task", "segments", "answer"):
        if m[field] != s[field]:
            sys.exit(f"sample {i}: {field} differs")
    if set(m) != {"task", "segments", "answer"}:
        sys.exit(f"sample {i}: unexpected fields {sorted(m)}")
print(f"make-eval-check: all {len(made)} samples equal eval-shared.jsonl's task, segments and answer")
