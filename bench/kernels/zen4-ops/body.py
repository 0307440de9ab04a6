"""Writes body.c: the loop body of Q4_0xQ8_0Dot.eightTokens (one element pair of a block, eight
tokens: a 32-byte load widened to shorts, the low nibbles masked, the high ones shifted, and per
token and nibble a broadcast activation, a 16-bit multiply and an add) in assembly, three ways:
activations broadcast 32 bits wide from memory (what the kernel does), 16 bits wide from memory
(Q8_0Tokens.q's shorts), and half of them loaded to a general register first (what Java 25 compiled
for one loop over both nibbles). docs/benchmarks.md, twentieth stop.

    python3 body.py > /tmp/body.c && gcc -O2 -mavx512f -mavx512bw -o /tmp/body /tmp/body.c && /tmp/body [GHz]
"""
import timing


def body(kind):
    lines = ['"vmovdqu (%1), %%ymm1\\n"', '"vpmovsxbw %%ymm1, %%zmm7\\n"', '"vpandd %%zmm16, %%zmm7, %%zmm22\\n"']
    for half, (src, base) in enumerate((("zmm22", 16), ("zmm7", 0x210))):
        if half == 1:
            lines.append('"vpsraw $4, %%zmm7, %%zmm7\\n"')
        for i in range(8):
            if kind == "word":
                lines.append(f'"vpbroadcastw {base + 2 * i}(%0), %%zmm1\\n"')
            elif kind == "gpr" and half == 0:
                lines.append(f'"movl {base + 4 * i}(%0), %%r10d\\n"')
                lines.append('"vpbroadcastd %%r10d, %%zmm1\\n"')
            else:
                lines.append(f'"vpbroadcastd {base + 4 * i}(%0), %%zmm1\\n"')
            lines.append(f'"vpmullw %%zmm1, %%{src}, %%zmm1\\n"')
            lines.append(f'"vpaddw %%zmm1, %%zmm{2 + i}, %%zmm{2 + i}\\n"')
    return "\n        ".join(lines)


KINDS = (("32-bit broadcasts from memory", "dword"), ("16-bit broadcasts from memory", "word"),
         ("half through a general register", "gpr"))
print(timing.program(
    [(name, body(kind)) for name, kind in KINDS],
    clobber='"r10", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm22", "memory"',
    unit="element pair",
    setup="""
    int *x = aligned_alloc(64, 1 << 16);
    char *w = aligned_alloc(64, 1 << 16);
    for (int i = 0; i < (1 << 14); i++) x[i] = i;
    for (int i = 0; i < (1 << 16); i++) w[i] = (char) i;""",
    operands=': "r"(x + (i & 63) * 8), "r"(w + (i & 63) * 32) ',
    rounds=3))
