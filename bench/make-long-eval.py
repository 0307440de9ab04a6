#!/usr/bin/env python3
"""Writes a fresh set of long sessions shaped like ../shared/refmodel/eval-long-shared.jsonl.gz.

The shared long set cannot be redrawn (its generator is not in the recipe), so a retrieval
setting chosen on it would be chosen on the very sessions it is measured on. This draws sessions
of the same shape from the recipe's own tasks.py at a seed of your choice, numpy only:

- samples come from tasks.py's chat, passkey and video samplers, and are kept when their length
  (tasks.approx_tokens, after the step below) is within lo..hi: by default 3000..7000, the shared
  set's range by that measure (samplers overshoot or undershoot their target by task, so targets
  are drawn from lo..2*hi);
- every earlier question is removed (a fact asked again late in the session, or a frame asked
  about, would sit in the recent window and need no memory), so the last question is the only
  one, as in the shared set;
- a sample is kept only when what its last question asks about (the fact's statement, the pass
  key, the frame) lies in the first fifth of the session, as in the shared set; others are
  drawn again.

    python3 bench/make-long-eval.py --seed 4242 --n 60 --out /work/evalsets/long-4242.jsonl

Writes JSONL (gzip when the name ends in .gz) with task, segments and answer (the ground truth).
"""
import argparse
import gzip
import importlib.util
import json
import os
import random
import re
import sys


def load(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def is_question(seg):
    return seg[0] == "text" and re.match(r"<\|user\|>what (is my|was shown|is shown)", seg[1]) is not None


def drop_earlier_questions(segs):
    """Removes every question turn (prompt and reply) but the last (a passkey asks in its one turn)."""
    asked = [i for i, s in enumerate(segs) if is_question(s)]
    if not asked:
        return segs
    last = asked[-1]
    out = []
    i = 0
    while i < len(segs):
        if i < last and is_question(segs[i]):
            i += 2
            continue
        out.append(segs[i])
        i += 1
    return out


def asked_within(tasks, name, segs, fraction):
    """Whether what the last question asks about lies within the first `fraction` of the session."""
    total = tasks.approx_tokens(segs)
    question = segs[-2][1]
    if name == "chat":
        attr = re.match(r"<\|user\|>what is my (.+)\?<\|end\|>", question).group(1)
        where = next(i for i, s in enumerate(segs) if s[0] == "text" and s[1].startswith(f"<|user|>my {attr} is "))
        return tasks.approx_tokens(segs[:where + 1]) <= fraction * total
    if name == "passkey":
        text = segs[1][1]
        return text.index("the pass key is ") <= fraction * len(text)
    t = int(re.search(r"t=(\d+)\?", question).group(1))
    where = next(i for i, s in enumerate(segs) if s[0] == "frame" and s[1] == t)
    return tasks.approx_tokens(segs[:where + 1]) <= fraction * total


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seed", type=int, required=True, help="random.Random seed of the whole set")
    p.add_argument("--n", type=int, default=60, help="sessions per task (default 60, as the shared set)")
    p.add_argument("--lo", type=int, default=3000, help="shortest session kept, in tasks.approx_tokens")
    p.add_argument("--hi", type=int, default=7000, help="longest session kept")
    p.add_argument("--fraction", type=float, default=0.2, help="where the asked item must lie (default 0.2)")
    p.add_argument("--out", required=True, help="JSONL file to write (.gz for gzip)")
    p.add_argument("--recipe", default=os.path.join(here, "..", "..", "shared", "refmodel", "recipe"),
                   help="folder holding the recipe's tasks.py (default: ../shared/refmodel/recipe)")
    a = p.parse_args()
    short = load(os.path.join(here, "make-eval.py"), "make_eval")
    tasks = short.load_tasks(a.recipe)
    r = random.Random(a.seed)
    rows = []
    for name in ["chat", "passkey", "video"]:
        drawn = 0
        while sum(1 for row in rows if row[0] == name) < a.n:
            drawn += 1
            segs = drop_earlier_questions(tasks.TASKS[name](r, r.randint(a.lo, 2 * a.hi)))
            if not a.lo <= tasks.approx_tokens(segs) <= a.hi or not asked_within(tasks, name, segs, a.fraction):
                continue
            rows.append((name, *short.final_prompt(segs)))
        print(f"make-long-eval: {name}: {a.n} sessions kept of {drawn} drawn", file=sys.stderr, flush=True)
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    opener = gzip.open if a.out.endswith(".gz") else open
    with opener(a.out, "wt") as f:
        for name, segs, ans in rows:
            f.write(json.dumps({"task": name, "segments": short.segs_json(segs), "answer": ans}) + "\n")
    print(f"make-long-eval: wrote {len(rows)} sessions (seed {a.seed}) to {a.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
