#!/usr/bin/env python3
"""Writes a fresh eval set in the format of ../shared/refmodel/eval-shared.jsonl.

It draws samples exactly as the reference model's recipe does (recipe/build.py: make_eval,
final_prompt, segs_json), from the recipe's own tasks.py, so a set from another seed is data the
model and the codecs' defaults have never seen. Needs only numpy: it writes no `tokens` (that
takes the tokenizer) and no `reference_answer` (that takes Hugging Face); `answer` is the ground
truth. With --seed 2024 --n 100 it reproduces eval-shared.jsonl's samples.

    python3 bench/make-eval.py --seed 31337 --n 100 --out /work/evalsets/fresh-31337.jsonl

--n is samples per task (the sets hold chat, then passkey, then video), as in make_eval.
build.py's second set, seed 777 (eval-hidden), is the one the recipe already used: pick others.
"""
import argparse
import base64
import importlib.util
import json
import os
import random
import sys


def load_tasks(recipe):
    path = os.path.join(recipe, "tasks.py")
    spec = importlib.util.spec_from_file_location("refmodel_tasks", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# The three functions below are build.py's, line for line (that file imports torch, so it cannot
# be imported here).
def final_prompt(segs):
    """Split a sample at its last assistant answer: (prompt segments, answer)."""
    i = max(k for k, s in enumerate(segs) if s[0] == "text" and s[2])
    return segs[:i], segs[i][1][:-len("<|end|>")]


def make_eval(tasks, seed, n, lo, hi, progress=None):
    r = random.Random(seed)
    rows = []
    for name in ["chat", "passkey", "video"]:
        for _ in range(n):
            segs = tasks.TASKS[name](r, r.randint(lo, hi))
            rows.append((name, *final_prompt(segs)))
            if progress:
                progress(len(rows))
    return rows


def segs_json(segs):
    out = []
    for s in segs:
        if s[0] == "text":
            out.append({"text": s[1]})
        else:
            out.append({"frame": s[1], "rgb": base64.b64encode(s[2].tobytes()).decode()})
    return out


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seed", type=int, required=True, help="random.Random seed of the whole set")
    p.add_argument("--n", type=int, default=100, help="samples per task (default 100: 300 in all)")
    p.add_argument("--lo", type=int, default=128, help="shortest target length, approx. tokens (default 128)")
    p.add_argument("--hi", type=int, default=1700, help="longest target length, approx. tokens (default 1700)")
    p.add_argument("--out", required=True, help="JSONL file to write")
    p.add_argument("--recipe", default=os.path.join(here, "..", "..", "shared", "refmodel", "recipe"),
                   help="folder holding the recipe's tasks.py (default: ../shared/refmodel/recipe)")
    a = p.parse_args()
    tasks = load_tasks(a.recipe)
    total = 3 * a.n

    def progress(done):
        if done % 50 == 0 or done == total:
            print(f"make-eval: {done}/{total} samples", file=sys.stderr, flush=True)

    rows = make_eval(tasks, a.seed, a.n, a.lo, a.hi, progress)
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    with open(a.out, "w") as f:
        for name, segs, ans in rows:
            f.write(json.dumps({"task": name, "segments": segs_json(segs), "answer": ans}) + "\n")
    print(f"make-eval: wrote {len(rows)} samples (seed {a.seed}, lengths {a.lo}..{a.hi}) to {a.out}",
          file=sys.stderr)


if __name__ == "__main__":
    main()
