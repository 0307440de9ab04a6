#!/usr/bin/env python3
"""Results of bench/gpu/h100.sh: one summary.json per device command, markdown for docs/benchmarks.md.

  table.py collect RAW_DIR --out summary.json [--phases "1b kv"]
      gathers what h100.sh's steps wrote into RAW_DIR (kvstream bench --json, hf_baseline.py
      --json, the device calibration, steps.tsv, meta.json) into one file.
  table.py markdown summary.json [summary.json ...]
      prints the tables with the ratios issue #5 asks for: decode at batch 1 against the
      bandwidth bound (weight bytes per token over the copy bandwidth measured in the same
      command), prefill against the fp16 matmul rate measured in the same command, and kvstream
      against transformers (eager and sdpa) on the same weights. Several files (the phases of
      several commands) make one set of tables; each row uses its own command's ceilings.

Standard library only: it runs on the device machine and here alike.
"""

import argparse
import datetime
import json
import os
import re
import sys

FORMAT = "kvstream-gpu-summary/1"

# Raw file names h100.sh writes (model names such as 1b-f16 contain dashes, kinds and specs do not).
KS = re.compile(r"^ks-(?P<model>.+)-(?P<kind>decode|prefill)\.json$")
KV = re.compile(r"^kv-(?P<model>.+)-(?P<spec>[^-]+)\.json$")
HF = re.compile(r"^hf-(?P<model>.+)\.json$")


def load(path):
    with open(path) as f:
        return json.load(f)


def collect(raw, phases):
    summary = {
        "format": FORMAT,
        "example": False,
        "phases": phases,
        "written": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "meta": None,
        "device": None,
        "kvstream": {},
        "hf": {},
        "kv": {},
        "steps": [],
        "unreadable": [],
    }
    for name in sorted(os.listdir(raw)):
        path = os.path.join(raw, name)
        if name == "steps.tsv":
            with open(path) as f:
                for line in f:
                    parts = line.rstrip("\n").split("\t")
                    if len(parts) == 3:
                        summary["steps"].append({"step": parts[0], "rc": parts[1], "seconds": int(parts[2])})
            continue
        if not name.endswith(".json"):
            continue
        try:
            data = load(path)
        except (OSError, ValueError) as e:
            # A file a killed step left half-written: say so and keep the rest.
            summary["unreadable"].append("%s: %s" % (name, e))
            continue
        if name == "meta.json":
            summary["meta"] = data
        elif name == "device.json":
            summary["device"] = data.get("device")
            summary["device_versions"] = data.get("versions")
        elif KS.match(name):
            m = KS.match(name)
            summary["kvstream"].setdefault(m["model"], {})[m["kind"]] = data
        elif KV.match(name):
            m = KV.match(name)
            summary["kv"].setdefault(m["model"], {})[m["spec"]] = data
        elif HF.match(name):
            summary["hf"][HF.match(name)["model"]] = data
    return summary


# ------------------------------------------------------------------------------------ arithmetic

def matrix_params(cfg):
    """Parameters of the matrices one token multiplies through, the output matrix not included."""
    q = cfg["heads"] * cfg["head_dim"]
    kv = cfg["kv_heads"] * cfg["head_dim"]
    d = cfg["dim"]
    return cfg["layers"] * (d * q + 2 * d * kv + q * d + 3 * d * cfg["hidden_dim"])


def prefill_flops(cfg, length):
    """FLOPs of a prefill of `length` tokens as kvstream computes it: every layer matrix for every
    token, causal attention (QK^T and AV over half the square), logits of the last token only."""
    attention = cfg["layers"] * 2 * length * length * cfg["heads"] * cfg["head_dim"]
    return 2 * matrix_params(cfg) * length + attention + 2 * cfg["vocab"] * cfg["dim"]


def shape_and_quant(model):
    """'1b-q8_0' -> ('1b', 'q8_0')."""
    shape, _, quant = model.partition("-")
    return shape, quant


def hf_for(model, summaries):
    """The transformers result for a kvstream model, and whether it is the f16 stand-in for q8_0."""
    shape, quant = shape_and_quant(model)
    for s in summaries:
        if model in s["hf"]:
            return s["hf"][model], False
    for s in summaries:
        if shape + "-f16" in s["hf"]:
            return s["hf"][shape + "-f16"], quant != "f16"
    return None, False


def rows_by(report, key):
    return {r[key]: r for r in (report or {}).get("rows", [])}


def hf_rate(hf, impl, kind, key, value):
    if not hf or impl not in hf.get("impls", {}):
        return None
    for r in hf["impls"][impl][kind]:
        if r.get(key) == value:
            return r.get("error") or r.get("tok_s")
    return None


# ------------------------------------------------------------------------------------ formatting

def num(x, digits=1):
    if x is None:
        return "-"
    if isinstance(x, str):
        return x  # "oom", "skipped: time budget", an error
    return "%.*f" % (digits, x)


def ratio(a, b):
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and b > 0:
        return "%.2fx" % (a / b)
    return "-"


def pct(x):
    return "-" if x is None else "%.1f%%" % (100 * x)


def ceilings(s):
    dev = s.get("device") or {}
    return dev.get("bandwidth_bytes_per_s"), dev.get("matmul_fp16_flops_per_s")


def markdown(summaries, out=sys.stdout):
    w = lambda line="": print(line, file=out)
    if any(s.get("example") for s in summaries):
        w("> **FORMAT EXAMPLE, NOT A RESULT**: made-up numbers from bench/gpu/testdata.")
        w()
    for s in summaries:
        meta = s.get("meta") or {}
        bw, peak = ceilings(s)
        dv = s.get("device_versions") or {}
        w("- run %s (phases %s, commit %s): %s; copy bandwidth %s GB/s (best of 10, read + written), "
          "fp16 dense matmul %s TFLOP/s (n=%s); transformers %s, torch %s" % (
              s.get("written", "?"), " ".join(s.get("phases") or []), meta.get("git", "?"),
              meta.get("gpu") or dv.get("gpu") or "?", num(bw and bw / 1e9, 0), num(peak and peak / 1e12, 0),
              (s.get("device") or {}).get("matmul_n", "?"), dv.get("transformers", "?"), dv.get("torch", "?")))
    w()
    targets = []

    w("**Decode** (greedy, tokens/s of all sequences; %s)" % decode_settings(summaries))
    w()
    w("| model | batch | kvstream | of bandwidth bound | HF eager | HF sdpa | kvstream / eager | kvstream / sdpa |")
    w("|---|---:|---:|---:|---:|---:|---:|---:|")
    for s in summaries:
        bw, _ = ceilings(s)
        for model, reports in s["kvstream"].items():
            dec = reports.get("decode")
            if not dec:
                continue
            hf, standin = hf_for(model, summaries)
            wbytes = dec["weight_bytes_per_token"]
            bound = bw / wbytes if bw else None
            label = "%s (%.1f MiB/token%s)" % (model, wbytes / 1048576,
                                             "; bound %.0f tok/s" % bound if bound else "")
            growth = []
            for b, r in sorted(rows_by(dec, "batch").items()):
                tok = r.get("decode_tok_s")
                eager = hf_rate(hf, "eager", "decode", "batch", b)
                sdpa = hf_rate(hf, "sdpa", "decode", "batch", b)
                of_bound = tok / bound if (b == 1 and bound and tok) else None
                w("| %s | %d | %s | %s | %s%s | %s%s | %s | %s |" % (
                    label, b, num(tok), pct(of_bound), num(eager), " (f16)" if standin and eager else "",
                    num(sdpa), " (f16)" if standin and sdpa else "", ratio(tok, eager), ratio(tok, sdpa)))
                label = ""
                growth.append((b, tok))
                if b == 1:
                    targets.append(("%s: batch-1 decode at >= 60%% of the bandwidth bound" % model,
                                    of_bound is not None and of_bound >= 0.6, pct(of_bound)))
                    e = eager if isinstance(eager, (int, float)) else None
                    targets.append(("%s: batch-1 decode >= 3x transformers eager%s" % (model, " (f16)" if standin else ""),
                                    bool(e and tok and tok >= 3 * e), ratio(tok, e)))
            upto = [(b, t) for b, t in growth if b <= 64]
            grows = len(upto) > 1 and all(t is not None for _, t in upto) and all(
                upto[i][1] > upto[i - 1][1] for i in range(1, len(upto)))
            targets.append(("%s: tokens/s grows with batch up to 64" % model, grows,
                            " < ".join(num(t, 0) for _, t in upto)))
    w()

    w("**Prefill** (batch 1; FLOPs: every layer matrix per token, causal attention, last token's logits)")
    w()
    w("| model | prompt | kvstream tok/s | of fp16 matmul rate | HF eager | HF sdpa | kvstream / eager | kvstream / sdpa |")
    w("|---|---:|---:|---:|---:|---:|---:|---:|")
    for s in summaries:
        _, peak = ceilings(s)
        for model, reports in s["kvstream"].items():
            pre = reports.get("prefill")
            if not pre:
                continue
            hf, standin = hf_for(model, summaries)
            cfg = pre["config"]
            label = model
            for length, r in sorted(rows_by(pre, "prompt_len").items()):
                tok = r.get("prefill_tok_s")
                frac = tok * prefill_flops(cfg, length) / length / peak if (tok and peak) else None
                eager = hf_rate(hf, "eager", "prefill", "prompt_len", length)
                sdpa = hf_rate(hf, "sdpa", "prefill", "prompt_len", length)
                w("| %s | %d | %s | %s | %s%s | %s%s | %s | %s |" % (
                    label, length, num(tok, 0), pct(frac), num(eager, 0), " (f16)" if standin and eager else "",
                    num(sdpa, 0), " (f16)" if standin and sdpa else "", ratio(tok, eager), ratio(tok, sdpa)))
                label = ""
    w()

    kv_rows = [(model, spec, rep) for s in summaries for model, specs in s["kv"].items() for spec, rep in specs.items()]
    if kv_rows:
        w("**Compressed KV on the device** (`bench --kv`; bytes summed over the batch at the end of the run)")
        w()
        w("| model | kv | batch | prompt | KV stored (MiB) | KV attention reads per step (MiB) | decode tok/s |")
        w("|---|---|---:|---:|---:|---:|---:|")
        for model, spec, rep in kv_rows:
            for r in rep.get("rows", []):
                w("| %s | %s | %d | %d | %s | %s | %s |" % (
                    model, spec, r["batch"], r["prompt_len"], num(r["kv_stored_bytes"] / 1048576),
                    num(r["kv_attended_bytes"] / 1048576), num(r.get("decode_tok_s"))))
        w()
        w("Attention reads fp32 rows whatever the codec: the CUDA page pool holds the rows the codec "
          "reproduced (docs/gpu.md), so until dequantization is fused into attention kivi2 saves stored "
          "bytes, not bytes read per step.")
        w()

    failed = [st for s in summaries for st in s.get("steps", []) if st["rc"] not in ("0", "dry")]
    if targets:
        w("**Targets of issue #5**")
        w()
        for name, ok, value in targets:
            w("- %s: %s (%s)" % (name, "met" if ok else "NOT met", value))
        w()
    if failed:
        w("Steps that did not finish: " + ", ".join("%s (rc %s)" % (st["step"], st["rc"]) for st in failed))


def decode_settings(summaries):
    for s in summaries:
        for reports in s["kvstream"].values():
            dec = reports.get("decode")
            if dec and dec.get("rows"):
                r = dec["rows"][0]
                return "%d-token prompts, %d timed steps after %d warm-up" % (r["prompt_len"], r["gen"], dec["warmup"])
    return "no decode rows"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    c = sub.add_parser("collect", help="raw step outputs -> summary.json")
    c.add_argument("raw")
    c.add_argument("--out", required=True)
    c.add_argument("--phases", default="")
    m = sub.add_parser("markdown", help="summary.json files -> markdown tables")
    m.add_argument("summaries", nargs="+")
    a = p.parse_args(argv)
    if a.command == "collect":
        summary = collect(a.raw, a.phases.split())
        tmp = a.out + ".part"
        with open(tmp, "w") as f:
            json.dump(summary, f, indent=1)
        os.replace(tmp, a.out)
    else:
        summaries = [load(path) for path in a.summaries]
        for path, s in zip(a.summaries, summaries):
            if s.get("format") != FORMAT:
                p.error("%s is not a %s file" % (path, FORMAT))
        markdown(summaries)
    return 0


if __name__ == "__main__":
    sys.exit(main())
