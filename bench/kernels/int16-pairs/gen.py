"""Writes P<R>x<T>.java: the int16 pair kernel (Q4_0Pairs' arithmetic) with R weight vectors
(16 rows each) and T tokens per register block, 2048 columns in cache, one thread.

    python3 gen.py 4 5 && javac --add-modules jdk.incubator.vector -d cls P4x5.java \
        && java --add-modules jdk.incubator.vector -cp cls P4x5
"""
import sys
R=int(sys.argv[1]); T=int(sys.argv[2]); name=f"P{R}x{T}"
decl="\n".join(f"            ShortVector u{r}_{t} = ShortVector.zero(S);" for r in range(R) for t in range(T))
body=[]
for r in range(R): body.append(f"                ShortVector w{r} = ShortVector.fromArray(S, wp, wb + j * {32*R} + {32*r});")
body.append(f"                int xo = xb + j * {T}; ShortVector x;")
for t in range(T):
    body.append(f"                x = IntVector.broadcast(I, xp[xo + {t}]).reinterpretAsShorts(); " + " ".join(f"u{r}_{t} = w{r}.mul(x).add(u{r}_{t});" for r in range(R)))
fold=[]
for r in range(R): fold.append(f"            FloatVector d{r} = FloatVector.fromArray(F, ds, b * {16*R} + {16*r});")
for t in range(T):
    fold.append(f"            {{ FloatVector e = FloatVector.broadcast(F, xd[b * {T} + {t}]);")
    for r in range(R):
        o=t*16*R+16*r
        fold.append(f"              {{ IntVector iu = u{r}_{t}.reinterpretAsInts(); IntVector su = iu.add(iu.lanewise(VectorOperators.LSHL, 16)).lanewise(VectorOperators.ASHR, 16);")
        fold.append(f"                ((FloatVector) su.convert(VectorOperators.I2F, 0)).fma(d{r}.mul(e), FloatVector.fromArray(F, acc, {o})).intoArray(acc, {o}); }}")
    fold.append("            }")
src=f"""import jdk.incubator.vector.*;
public class {name} {{
    static final VectorSpecies<Float> F = FloatVector.SPECIES_512;
    static final VectorSpecies<Short> S = ShortVector.SPECIES_512;
    static final VectorSpecies<Integer> I = IntVector.SPECIES_512;
    static final int COLS = 2048, BLOCKS = COLS / 32;
    static void pair(short[] wp, int[] xp, float[] ds, float[] xd, float[] acc) {{
        for (int b = 0; b < BLOCKS; b++) {{
{decl}
            int wb = b * 16 * {32*R}, xb = b * 16 * {T};
            for (int j = 0; j < 16; j++) {{
{chr(10).join(body)}
            }}
{chr(10).join(fold)}
        }}
    }}
    public static void main(String[] a) {{
        java.util.Random r = new java.util.Random(1);
        short[] wp = new short[BLOCKS * 16 * {32*R}]; for (int i = 0; i < wp.length; i++) wp[i] = (short) (r.nextInt(16) - 8);
        int[] xp = new int[BLOCKS * 16 * {T}]; for (int i = 0; i < xp.length; i++) xp[i] = ((r.nextInt(255) - 127) & 0xffff) | ((r.nextInt(255) - 127) << 16);
        float[] ds = new float[BLOCKS * {16*R}]; for (int i = 0; i < ds.length; i++) ds[i] = r.nextFloat();
        float[] xd = new float[BLOCKS * {T}]; for (int i = 0; i < xd.length; i++) xd[i] = r.nextFloat();
        float[] acc = new float[{T*16*R}];
        double macs = {16*R}.0 * COLS * {T};
        for (int round = 0; round < 6; round++) {{
            int n = 20000;
            long t0 = System.nanoTime();
            for (int i = 0; i < n; i++) pair(wp, xp, ds, xd, acc);
            long t1 = System.nanoTime();
            if (round >= 3) System.out.printf("{name} %.1f GMAC/s (%f)%n", macs * n / (t1 - t0), acc[5]);
        }}
    }}
}}
"""
open(name+'.java','w').write(src)
print(name)
