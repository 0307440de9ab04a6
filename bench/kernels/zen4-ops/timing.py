"""The C program body.py and order.py write: each variant's inline assembly run N times, best of
three, reported in cycles at the clock given on the command line (default 3.65 GHz, what
FmaPeak's 117 GFLOP/s a thread implies)."""


def program(variants, clobber, unit, setup="", operands=":", rounds=2):
    """variants: (name, assembly lines joined for one asm statement) pairs; operands: the asm
    statement's input list after its empty output list (":" for none)."""
    out = [f"""#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#define N 20000000L
#define CLOBBER {clobber}
static double now(void) {{ struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec * 1e-9; }}
int main(int argc, char **argv) {{
    double ghz = argc > 1 ? atof(argv[1]) : 3.65;{setup}
    for (int rep = 0; rep < {rounds}; rep++) {{"""]
    for name, asm in variants:
        out.append(f"""    {{
      double best = 1e9;
      for (int r = 0; r < 3; r++) {{
        double t = now();
        for (long i = 0; i < N; i++) {{
          __asm__ volatile(
        {asm}
            :{operands}: CLOBBER);
        }}
        double m = now() - t;
        if (m < best) best = m;
      }}
      printf("%-38s %6.2f cycles per {unit}\\n", "{name}", best / N * 1e9 * ghz);
    }}""")
    out.append("""    }
    return 0;
}""")
    return "\n".join(out)
