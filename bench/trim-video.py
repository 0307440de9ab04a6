#!/usr/bin/env python3
"""Cuts long video sessions down to chosen frames, to see what the model itself can answer.

Each session keeps <|bos|>, the frames a mode selects, and its final question ("what was shown at
t=K?"). Run the result with a full cache (`bin/kvstream eval --kv full`): every kept frame is in
attention, so a wrong answer is the model's, not a cache's. Modes (K is the asked frame):

  upto:N        frames 0 .. K+N                   (a session as the model was trained on)
  near:N        frames K-N .. K+N
  upto:N+last:M frames 0 .. K+N, then the session's last M frames (what a window keeps)
  near:N+last:M frames K-N .. K+N, then the last M frames

    python3 bench/trim-video.py --data long-video.jsonl --mode upto:2+last:12 --out trimmed.jsonl
"""
import argparse
import json
import re


def select(frames, asked, mode):
    keep = []
    for part in mode.split("+"):
        name, n = part.split(":")
        n = int(n)
        if name == "upto":
            keep += [f for f in frames if f["frame"] <= asked + n]
        elif name == "near":
            keep += [f for f in frames if abs(f["frame"] - asked) <= n]
        elif name == "last":
            keep += [f for f in frames[-n:] if f not in keep]
        else:
            raise SystemExit(f"unknown mode part {part}")
    return keep


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, help="eval JSONL with video sessions (others are skipped)")
    p.add_argument("--mode", required=True, help="which frames to keep, e.g. upto:2+last:12")
    p.add_argument("--out", required=True)
    args = p.parse_args()
    written = 0
    with open(args.data) as src, open(args.out, "w") as out:
        for line in src:
            sample = json.loads(line)
            if sample["task"] != "video":
                continue
            segments = sample["segments"]
            question = segments[-1]["text"]
            asked = int(re.search(r"t=(\d+)", question).group(1))
            frames = [s for s in segments if "frame" in s]
            sample["segments"] = [segments[0]] + select(frames, asked, args.mode) + [segments[-1]]
            out.write(json.dumps(sample) + "\n")
            written += 1
    print(f"{written} sessions written to {args.out}")


if __name__ == "__main__":
    main()
