"""Writes order.c: how the order of 512-bit multiplies and the adds that consume them changes their
throughput on this machine (docs/benchmarks.md, twenty-first stop). Eight independent chains; each
line is one variant's loop body, cycles at the clock given (default 3.65 GHz).

    python3 order.py > /tmp/order.c && gcc -O2 -mavx512f -mavx512bw -o /tmp/order /tmp/order.c && /tmp/order [GHz]
"""
import timing


def mul(op, i, src="zmm22"):
    """Product i into zmm10+i: weights in zmm23+i times src."""
    return f'"{op} %%zmm{23 + i}, %%{src}, %%zmm{10 + i}\\n"'


def add(op, i, src=None):
    """Accumulator zmm2+i plus src (product i, zmm10+i, by default)."""
    return f'"{op} %%{src or f"zmm{10 + i}"}, %%zmm{2 + i}, %%zmm{2 + i}\\n"'


def body(kind):
    r = range(8)
    if kind == "pairs":
        # each multiply then the add of its product: what C2 emits for u = w.mul(x).add(u)
        lines = [line for i in r for line in (mul("vpmullw", i), add("vpaddw", i))]
    elif kind == "grouped":
        lines = [mul("vpmullw", i) for i in r] + [add("vpaddw", i) for i in r]
    elif kind == "independent":
        lines = [mul("vpmullw", i, f"zmm{10 + i}") for i in r] + [add("vpaddw", i, "zmm22") for i in r]
    elif kind == "madd":
        lines = [line for i in r for line in (mul("vpmaddwd", i), add("vpaddd", i))]
    else:
        lines = [f'"vfmadd231ps %%zmm{23 + i}, %%zmm22, %%zmm{2 + i}\\n"' for i in r]
    return "\n        ".join(lines)


KINDS = (("8 vpmullw + 8 vpaddw, independent", "independent"),
         ("8 (vpmullw, vpaddw of it)", "pairs"),
         ("8 vpmullw, then 8 vpaddw of them", "grouped"),
         ("8 (vpmaddwd, vpaddd of it)", "madd"),
         ("8 vfmadd231ps", "fma"))
print(timing.program(
    [(name, body(kind)) for name, kind in KINDS],
    clobber='"xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", '
            '"xmm12", "xmm13", "xmm14", "xmm15", "xmm16", "xmm17"',
    unit="iteration"))
