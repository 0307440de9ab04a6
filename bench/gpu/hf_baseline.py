#!/usr/bin/env python3
"""The Hugging Face transformers side of the GPU benchmark (issue #5, docs/gpu.md).

Loads a folder that `kvstream synth --hf DIR` wrote (model.safetensors + config.json, F16) with
transformers on CUDA and measures, for each attention implementation asked for (eager, sdpa):

- prefill tokens/s of one prompt of each --prefill-len (one forward with use_cache=True, only the
  last position's logits where transformers allows it, as kvstream computes them);
- decode tokens/s at each --batch: greedy generate() of --gen new tokens after a --prompt-len
  prompt, timed as generate(gen + 1) - generate(1), so that the prefill and its first token cancel
  out; min_new_tokens = max_new_tokens, so an EOS never ends a sequence early.

With --calibrate it also measures the device's two ceilings in the same process: memory bandwidth
(a device-to-device copy, bytes read + written over the time, best of several) and the dense
tensor-core rate (a large fp16 and bf16 torch.matmul). A batch that runs out of device memory is
recorded as "oom" and the run goes on.

transformers has no Q8_0: the baseline for kvstream's q8_0 rows is this F16 model (the JSON says
so in "note"). --dry-run checks the arguments and writes the JSON shape without torch.
"""

import argparse
import gc
import json
import math
import os
import platform
import statistics
import sys
import time

FORMAT = "kvstream-hf-baseline/1"
DEVICE = "cuda"
NOTE = ("transformers has no Q8_0 format: the baseline for kvstream's q8_0 rows is this F16 model "
        "(the same random weights before quantization).")


def int_list(text):
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError("expected comma-separated integers, got %r" % text)
    if not values or min(values) <= 0:
        raise argparse.ArgumentTypeError("expected positive integers, got %r" % text)
    return values


def impl_list(text):
    impls = [v.strip() for v in text.split(",") if v.strip()]
    for impl in impls:
        if impl not in ("eager", "sdpa"):
            raise argparse.ArgumentTypeError("attention implementations: eager, sdpa; got %r" % impl)
    return impls


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", help="folder with model.safetensors + config.json (kvstream synth --hf); "
                                    "leave out with --calibrate to measure the device only")
    p.add_argument("--label", default=None, help="name of the model in the output (default: the folder's name)")
    p.add_argument("--impl", type=impl_list, default=["eager", "sdpa"],
                   help="attention implementations, one row each (default: eager,sdpa)")
    p.add_argument("--batch", type=int_list, default=[1, 8, 64, 256], help="decode batch sizes (default: 1,8,64,256)")
    p.add_argument("--prompt-len", type=int, default=128, help="prompt tokens before decode (default: 128)")
    p.add_argument("--gen", type=int, default=32, help="decode tokens timed per sequence (default: 32)")
    p.add_argument("--prefill-len", type=int_list, default=[512, 2048],
                   help="prompt lengths for prefill at batch 1 (default: 512,2048)")
    p.add_argument("--repeat", type=int, default=3, help="timed runs of each measurement; medians (default: 3)")
    p.add_argument("--warmup", type=int, default=1, help="untimed runs before each measurement (default: 1)")
    p.add_argument("--calibrate", action="store_true",
                   help="also measure device memory bandwidth and fp16/bf16 matmul rate")
    p.add_argument("--copy-mib", type=int, default=2048, help="bytes copied for the bandwidth (default: 2048 MiB)")
    p.add_argument("--matmul-n", type=int, default=8192, help="n of the n x n x n matmul (default: 8192)")
    p.add_argument("--budget-s", type=float, default=0,
                   help="skip measurements that would start after this many seconds (0: no limit); "
                        "keeps a phase inside the device tool's per-command limit")
    p.add_argument("--seed", type=int, default=0, help="seed of the random prompts (default: 0)")
    p.add_argument("--json", help="write the results here")
    p.add_argument("--device", choices=("cuda", "cpu"), default="cuda",
                   help="cuda (default); cpu only to check this script on a machine without a GPU")
    p.add_argument("--dry-run", action="store_true",
                   help="no torch: parse arguments, read config.json if there, write the JSON shape with nulls")
    a = p.parse_args(argv)
    global DEVICE
    DEVICE = a.device
    if a.model is None and not a.calibrate:
        p.error("--model DIR is needed unless --calibrate measures the device alone")
    if a.prompt_len <= 0 or a.gen <= 0 or a.repeat <= 0 or a.warmup < 0:
        p.error("--prompt-len, --gen and --repeat must be positive, --warmup not negative")
    return a


# ------------------------------------------------------------------------------------ model facts

def read_config(model_dir):
    """config.json as written by synth; None when there is no model or no such file (dry run)."""
    if model_dir is None:
        return None
    path = os.path.join(model_dir, "config.json")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def shape_of(cfg):
    heads = cfg["num_attention_heads"]
    head_dim = cfg.get("head_dim") or cfg["hidden_size"] // heads
    return {
        "dim": cfg["hidden_size"],
        "hidden_dim": cfg["intermediate_size"],
        "layers": cfg["num_hidden_layers"],
        "heads": heads,
        "kv_heads": cfg.get("num_key_value_heads", heads),
        "head_dim": head_dim,
        "vocab": cfg["vocab_size"],
        "tied": bool(cfg.get("tie_word_embeddings", False)),
    }


def weight_bytes_per_token(shape, bytes_per_weight=2):
    """Bytes of weights one decode token reads, counted as kvstream's bench counts them: every
    layer matrix and the output matrix (the embedding when tied), not the one embedding row."""
    d, h, q, kv = shape["dim"], shape["hidden_dim"], shape["heads"] * shape["head_dim"], shape["kv_heads"] * shape["head_dim"]
    per_layer = d * q + 2 * d * kv + q * d + 3 * d * h
    return (shape["layers"] * per_layer + shape["vocab"] * d) * bytes_per_weight


# ------------------------------------------------------------------------------------ measuring

class Budget:
    def __init__(self, seconds):
        self.start = time.monotonic()
        self.seconds = seconds

    def spent(self):
        return self.seconds > 0 and time.monotonic() - self.start > self.seconds


def is_oom(e):
    import torch
    return isinstance(e, torch.cuda.OutOfMemoryError) or "out of memory" in str(e).lower()


def free_memory():
    import torch
    gc.collect()
    torch.cuda.empty_cache()


def cuda_seconds(fn):
    """Seconds from the GPU's start of fn's work to its end. The GPU is idle at the start
    (synchronized), so the start event fires when the host gets there, and host work inside fn
    (generate's bookkeeping) counts, as it does for a user."""
    import torch
    if DEVICE != "cuda":
        t0 = time.perf_counter()
        result = fn()
        return time.perf_counter() - t0, result
    torch.cuda.synchronize()
    start = torch.cuda.Event(enable_timing=True)
    end = torch.cuda.Event(enable_timing=True)
    start.record()
    result = fn()
    end.record()
    end.synchronize()
    return start.elapsed_time(end) / 1e3, result


def calibrate(args):
    """The two ceilings of METHOD.md, measured here: copy bandwidth and dense matmul rate."""
    import torch
    out = {}
    n_bytes = args.copy_mib << 20
    src = torch.empty(n_bytes, dtype=torch.uint8, device=DEVICE)
    src.random_(0, 256)  # not zeros: METHOD.md saw zeros run faster
    dst = torch.empty_like(src)
    for _ in range(3):
        dst.copy_(src)
    runs = [cuda_seconds(lambda: dst.copy_(src))[0] for _ in range(10)]
    out["copy_bytes"] = n_bytes
    out["bandwidth_runs_bytes_per_s"] = [2 * n_bytes / t for t in runs]
    # Best of several, the ceiling a kernel could reach; the median beside it for the spread.
    out["bandwidth_bytes_per_s"] = max(out["bandwidth_runs_bytes_per_s"])
    out["bandwidth_median_bytes_per_s"] = statistics.median(out["bandwidth_runs_bytes_per_s"])
    del src, dst
    free_memory()
    n = args.matmul_n
    for name, dtype in (("fp16", torch.float16), ("bf16", torch.bfloat16)):
        a = torch.randn(n, n, device=DEVICE, dtype=dtype)
        b = torch.randn(n, n, device=DEVICE, dtype=dtype)
        c = torch.empty(n, n, device=DEVICE, dtype=dtype)
        for _ in range(3):
            torch.matmul(a, b, out=c)
        runs = [2.0 * n ** 3 / cuda_seconds(lambda: torch.matmul(a, b, out=c))[0] for _ in range(10)]
        out["matmul_%s_runs_flops_per_s" % name] = runs
        out["matmul_%s_flops_per_s" % name] = statistics.median(runs)
        del a, b, c
        free_memory()
    out["matmul_n"] = n
    out["fp16_reduced_precision_reduction"] = bool(torch.backends.cuda.matmul.allow_fp16_reduced_precision_reduction)
    return out


def load_model(model_dir, impl):
    import torch
    from transformers import AutoModelForCausalLM
    t0 = time.monotonic()
    # transformers 5 takes dtype=, 4.x torch_dtype=; device_map needs accelerate.
    # A transformers that does not know dtype= passes it on to the config and loads float32, so
    # the dtype is checked rather than trusted.
    last = None
    for kwargs in ({"dtype": torch.float16, "device_map": DEVICE}, {"dtype": torch.float16},
                   {"torch_dtype": torch.float16, "device_map": DEVICE}, {"torch_dtype": torch.float16}):
        try:
            model = AutoModelForCausalLM.from_pretrained(model_dir, attn_implementation=impl, **kwargs)
        except (TypeError, ValueError, ImportError) as e:
            last = e
            continue
        if next(model.parameters()).dtype == torch.float16:
            return model.to(DEVICE).eval(), time.monotonic() - t0
        last = RuntimeError("loaded as %s with %s" % (next(model.parameters()).dtype, sorted(kwargs)))
        del model
        free_memory()
    raise RuntimeError("could not load %s as float16: %s" % (model_dir, last))


def switch_impl(model, model_dir, impl):
    """The attention implementation of a loaded model, changed in place when transformers can
    (it dispatches on config._attn_implementation at run time), else by loading again."""
    if getattr(model.config, "_attn_implementation", None) == impl:
        return model, 0.0
    if hasattr(model, "set_attn_implementation"):
        try:
            model.set_attn_implementation(impl)
            if model.config._attn_implementation == impl:
                return model, 0.0
        except Exception as e:  # an older transformers: load again below
            print("hf_baseline: set_attn_implementation(%s) failed (%s); loading again" % (impl, e), flush=True)
    del model
    free_memory()
    return load_model(model_dir, impl)


def logits_kwargs(model):
    """Only the last position's logits in prefill, as kvstream and generate() compute them."""
    import inspect
    params = inspect.signature(model.forward).parameters
    for name in ("logits_to_keep", "num_logits_to_keep"):
        if name in params:
            return {name: 1}
    return {}


def random_ids(generator, batch, length, vocab):
    import torch
    # Below Llama 3's special tokens; the weights are random, so which ids does not matter otherwise.
    return torch.randint(0, min(vocab, 128000), (batch, length), generator=generator, device="cpu").to(DEVICE)


def measure_prefill(model, args, shape, length, generator, keep):
    import torch
    ids = random_ids(generator, 1, length, shape["vocab"])

    def once():
        with torch.inference_mode():
            return model(input_ids=ids, use_cache=True, **keep)

    for _ in range(args.warmup):
        once()
    runs = [cuda_seconds(once)[0] for _ in range(args.repeat)]
    t = statistics.median(runs)
    return {"prompt_len": length, "tok_s": length / t, "seconds_runs": runs}


def measure_decode(model, args, shape, batch, generator):
    import torch
    ids = random_ids(generator, batch, args.prompt_len, shape["vocab"])
    # Prompts are of equal length, so there is no padding in the input; pad_token_id only keeps
    # generate() from guessing one (and warning), the mask says every position is real.
    mask = torch.ones_like(ids)
    pad = model.generation_config.pad_token_id
    if pad is None:
        pad = model.generation_config.eos_token_id
        pad = pad[0] if isinstance(pad, (list, tuple)) else (pad if pad is not None else 0)

    def generate(n):
        out = model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=n, min_new_tokens=n,
                             do_sample=False, num_beams=1, use_cache=True, pad_token_id=pad)
        assert out.shape == (batch, args.prompt_len + n), "generate stopped early: %s" % (tuple(out.shape),)
        return out

    for _ in range(args.warmup):
        generate(2)
    first = []
    full = []
    for _ in range(args.repeat):
        first.append(cuda_seconds(lambda: generate(1))[0])
        full.append(cuda_seconds(lambda: generate(args.gen + 1))[0])
    decode_s = statistics.median(full) - statistics.median(first)
    return {"batch": batch, "tok_s": batch * args.gen / decode_s if decode_s > 0 else None,
            "gen_seconds_runs": full, "first_token_seconds_runs": first}


def guarded(fn, key, value, budget):
    """fn's result, or the row with an error instead of a number: oom, skipped, or the message."""
    if budget.spent():
        return {key: value, "error": "skipped: time budget"}
    try:
        return fn()
    except Exception as e:
        if is_oom(e):
            free_memory()
            return {key: value, "error": "oom"}
        import traceback
        traceback.print_exc()
        free_memory()
        return {key: value, "error": "%s: %s" % (type(e).__name__, e)}


def run(args):
    import torch
    import transformers
    budget = Budget(args.budget_s)
    report = header(args)
    report["versions"] = {
        "torch": torch.__version__, "transformers": transformers.__version__, "cuda": torch.version.cuda,
        "gpu": torch.cuda.get_device_name(0) if DEVICE == "cuda" else "cpu (a check, not a measurement)",
        "python": platform.python_version(),
    }
    torch.manual_seed(args.seed)
    if args.calibrate:
        report["device"] = calibrate(args)
        print_device(report["device"])
        write(args, report)
    if args.model is None:
        return report
    model = None
    for impl in args.impl:
        if model is None:
            model, load_s = load_model(args.model, impl)
        else:
            model, load_s = switch_impl(model, args.model, impl)
        keep = logits_kwargs(model)
        report["settings"]["prefill_logits"] = "last position only (%s=1)" % next(iter(keep)) if keep else "all positions"
        row = {"load_s": load_s, "attn_implementation": model.config._attn_implementation,
               "prefill": [], "decode": []}
        report["impls"][impl] = row
        generator = torch.Generator().manual_seed(args.seed)
        for length in args.prefill_len:
            row["prefill"].append(guarded(
                lambda: measure_prefill(model, args, report["shape"], length, generator, keep),
                "prompt_len", length, budget))
            print_row(impl, "prefill", length, row["prefill"][-1])
            write(args, report)
        for batch in args.batch:
            row["decode"].append(guarded(
                lambda: measure_decode(model, args, report["shape"], batch, generator), "batch", batch, budget))
            print_row(impl, "decode", batch, row["decode"][-1])
            write(args, report)
    return report


def header(args):
    cfg = read_config(args.model)
    shape = shape_of(cfg) if cfg else None
    return {
        "format": FORMAT,
        "dry_run": bool(args.dry_run),
        "model": args.model,
        "label": args.label or (os.path.basename(os.path.normpath(args.model)) if args.model else None),
        "note": NOTE,
        "shape": shape,
        "weight_bytes_per_token": weight_bytes_per_token(shape) if shape else None,
        "settings": {
            "batches": args.batch, "prompt_len": args.prompt_len, "gen": args.gen,
            "prefill_lens": args.prefill_len, "repeat": args.repeat, "warmup": args.warmup,
            "dtype": "float16", "device": args.device,
            "decode_timing": "generate(gen+1) - generate(1), medians, %s" % (
                "CUDA events" if args.device == "cuda" else "host clock"),
        },
        "device": None,
        "impls": {},
    }


def dry_run(args):
    """What run() writes, with nulls where numbers go: checks the arguments and the JSON shape."""
    report = header(args)
    report["versions"] = {"torch": None, "transformers": None, "cuda": None, "gpu": None,
                          "python": platform.python_version()}
    if args.calibrate:
        report["device"] = {"copy_bytes": args.copy_mib << 20, "bandwidth_bytes_per_s": None,
                            "bandwidth_median_bytes_per_s": None, "matmul_n": args.matmul_n,
                            "matmul_fp16_flops_per_s": None, "matmul_bf16_flops_per_s": None}
    if args.model is not None:
        for impl in args.impl:
            report["impls"][impl] = {
                "load_s": None, "attn_implementation": impl,
                "prefill": [{"prompt_len": n, "tok_s": None} for n in args.prefill_len],
                "decode": [{"batch": b, "tok_s": None} for b in args.batch],
            }
    return report


# ------------------------------------------------------------------------------------ output

def fmt(x, scale=1.0, digits=1):
    return "-" if x is None else "%.*f" % (digits, x / scale)


def print_device(dev):
    print("device: copy %s GB/s (best; median %s), matmul fp16 %s TFLOP/s, bf16 %s TFLOP/s (n=%d)" % (
        fmt(dev.get("bandwidth_bytes_per_s"), 1e9, 0), fmt(dev.get("bandwidth_median_bytes_per_s"), 1e9, 0),
        fmt(dev.get("matmul_fp16_flops_per_s"), 1e12, 0), fmt(dev.get("matmul_bf16_flops_per_s"), 1e12, 0),
        dev.get("matmul_n", 0)), flush=True)


def print_row(impl, kind, size, row):
    value = row.get("error") or fmt(row.get("tok_s"))
    print("hf %-6s %-8s %6s %12s tok/s" % (impl, kind, size, value), flush=True)


def print_table(report):
    if report["model"] is None:
        return  # --calibrate alone: its line is printed already
    print("hf_baseline %s: transformers %s, torch %s, %s%s" % (
        report["label"], report["versions"]["transformers"], report["versions"]["torch"],
        report["versions"]["gpu"], " (DRY RUN: no numbers)" if report["dry_run"] else ""))
    if report["weight_bytes_per_token"]:
        print("weights read per decode token: %.1f MiB (f16)" % (report["weight_bytes_per_token"] / 1048576))
    if report.get("device"):
        print_device(report["device"])
    print("%-6s %-8s %6s %12s" % ("impl", "kind", "size", "tok/s"))
    for impl, row in report["impls"].items():
        for r in row["prefill"]:
            print("%-6s %-8s %6s %12s" % (impl, "prefill", r["prompt_len"], r.get("error") or fmt(r.get("tok_s"))))
        for r in row["decode"]:
            print("%-6s %-8s %6s %12s" % (impl, "decode", "b=%d" % r["batch"], r.get("error") or fmt(r.get("tok_s"))))
    print(report["note"])


def finite(x):
    """JSON has no NaN or infinity: such a number is written as null."""
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {k: finite(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [finite(v) for v in x]
    return x


def write(args, report):
    if args.json:
        tmp = args.json + ".part"
        with open(tmp, "w") as f:
            json.dump(finite(report), f, indent=1, allow_nan=False)
        os.replace(tmp, args.json)  # a run killed mid-write leaves the last whole file


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    report = dry_run(args) if args.dry_run else run(args)
    write(args, report)
    print_table(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
