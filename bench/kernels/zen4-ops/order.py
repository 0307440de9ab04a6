"""Writes order.c: how the order of 512-bit multiplies and the adds that consume them changes their
throughput on this machine (docs/benchmarks.md, twenty-first stop). Eight independent chains; each
line is one variant's loop body, cycles at the clock given (default 3.65 GHz).

    python3 order.py > /tmp/order.c && gcc -O2 -mavx512f -mavx512bw -o /tmp/order /tmp/order.c && /tmp/order [GHz]
"""
import timing


def body(kind):
    lines = []
    if kind == "pairs":
        # mul then the add of its product, eight times: what C2 emits for u = w.mul(x).add(u)
        for i in range(8):
            lines.append(f'"vpmullw %%zmm{23 + i}, %%zmm22, %%zmm{10 + i}\\n"')
            lines.append(f'"vpaddw %%zmm{10 + i}, %%zmm{2 + i}, %%zmm{2 + i}\\n"')
    elif kind == "grouped":
        for i in range(8):
            lines.append(f'"vpmullw %%zmm{23 + i}, %%zmm22, %%zmm{10 + i}\\n"')
        for i in range(8):
            lines.append(f'"vpaddw %%zmm{10 + i}, %%zmm{2 + i}, %%zmm{2 + i}\\n"')
    elif kind == "independent":
        for i in range(8):
            lines.append(f'"vpmullw %%zmm{23 + i}, %%zmm{10 + i}, %%zmm{10 + i}\\n"')
        for i in range(8):
            lines.append(f'"vpaddw %%zmm22, %%zmm{2 + i}, %%zmm{2 + i}\\n"')
    elif kind == "madd":
        for i in range(8):
            lines.append(f'"vpmaddwd %%zmm{23 + i}, %%zmm22, %%zmm{10 + i}\\n"')
            lines.append(f'"vpaddd %%zmm{10 + i}, %%zmm{2 + i}, %%zmm{2 + i}\\n"')
    elif kind == "fma":
        for i in range(8):
            lines.append(f'"vfmadd231ps %%zmm{23 + i}, %%zmm22, %%zmm{2 + i}\\n"')
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
