package io.kvstream.runtime;

import io.kvstream.model.RopeStyle;

import java.util.Arrays;

/**
 * Rotary position embedding with cos/sin computed the way Hugging Face does (fp32 inverse
 * frequencies, fp32 angle), cached per position and grown on demand.
 */
public final class RopeTable {

    private final int headDim;
    private final int half;
    private final RopeStyle style;
    private final float[] invFreq;
    private float[] cos = new float[0];
    private float[] sin = new float[0];
    private int positions;

    public RopeTable(int headDim, float theta, RopeStyle style) {
        this.headDim = headDim;
        this.half = headDim / 2;
        this.style = style;
        this.invFreq = new float[half];
        for (int i = 0; i < half; i++) {
            float exponent = (float) (2 * i) / headDim;
            invFreq[i] = (float) (1.0 / (float) Math.pow(theta, exponent));
        }
    }

    /** Makes positions {@code [0, n)} available; call before rotating from several threads. */
    public void ensure(int n) {
        if (n <= positions) {
            return;
        }
        int cap = Math.max(n, Math.max(1024, positions * 2));
        cos = Arrays.copyOf(cos, cap * half);
        sin = Arrays.copyOf(sin, cap * half);
        for (int p = positions; p < cap; p++) {
            for (int i = 0; i < half; i++) {
                float angle = (float) p * invFreq[i];
                cos[p * half + i] = (float) Math.cos(angle);
                sin[p * half + i] = (float) Math.sin(angle);
            }
        }
        positions = cap;
    }

    /**
     * The cosines of positions {@code [0, n)}, {@code [position][headDim / 2]}: for backends
     * that rotate with their own copy and must match these values exactly.
     */
    public float[] cosTable(int n) {
        ensure(n);
        return Arrays.copyOf(cos, n * half);
    }

    /** The sines, laid out as {@link #cosTable}. */
    public float[] sinTable(int n) {
        ensure(n);
        return Arrays.copyOf(sin, n * half);
    }

    /** Rotates {@code heads} consecutive heads at {@code x[offset ..]} to position {@code pos}. */
    public void rotate(float[] x, int offset, int heads, int pos) {
        int base = pos * half;
        for (int h = 0; h < heads; h++) {
            int o = offset + h * headDim;
            if (style == RopeStyle.HALF) {
                for (int i = 0; i < half; i++) {
                    float c = cos[base + i];
                    float s = sin[base + i];
                    float a = x[o + i];
                    float b = x[o + i + half];
                    x[o + i] = a * c - b * s;
                    x[o + i + half] = b * c + a * s;
                }
            } else {
                for (int i = 0; i < half; i++) {
                    float c = cos[base + i];
                    float s = sin[base + i];
                    float a = x[o + 2 * i];
                    float b = x[o + 2 * i + 1];
                    x[o + 2 * i] = a * c - b * s;
                    x[o + 2 * i + 1] = b * c + a * s;
                }
            }
        }
    }
}
