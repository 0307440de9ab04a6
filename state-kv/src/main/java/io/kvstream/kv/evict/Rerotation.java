package io.kvstream.kv.evict;

import io.kvstream.kv.RopeSpec;

import java.util.Arrays;

/**
 * Moves RoPE-rotated keys by a position delta: rotations compose, so a key written at position
 * {@code p} becomes the key at {@code p + delta} after one more rotation by {@code delta}. Angles
 * are taken in double so that long sessions do not drift. cos/sin are cached per delta.
 */
public final class Rerotation {

    private final int headDim;
    private final int half;
    private final boolean interleaved;
    private final float[] invFreq;
    // Row |delta|: cos then sin of -|delta| * invFreq; deltas only move keys back.
    private float[] cos = new float[0];
    private float[] sin = new float[0];
    private int rows;

    public Rerotation(RopeSpec rope) {
        this.headDim = rope.headDim();
        this.half = headDim / 2;
        this.interleaved = rope.interleaved();
        this.invFreq = rope.inverseFrequencies();
    }

    /** Rotates {@code x[off, off + headDim)} by {@code delta} positions (any sign). */
    public void rotate(float[] x, int off, int delta) {
        if (delta == 0) {
            return;
        }
        int magnitude = Math.abs(delta);
        ensure(magnitude + 1);
        int base = magnitude * half;
        float sign = delta < 0 ? 1f : -1f;
        if (interleaved) {
            for (int i = 0; i < half; i++) {
                float c = cos[base + i];
                float s = sin[base + i] * sign;
                float a = x[off + 2 * i];
                float b = x[off + 2 * i + 1];
                x[off + 2 * i] = a * c - b * s;
                x[off + 2 * i + 1] = b * c + a * s;
            }
        } else {
            for (int i = 0; i < half; i++) {
                float c = cos[base + i];
                float s = sin[base + i] * sign;
                float a = x[off + i];
                float b = x[off + i + half];
                x[off + i] = a * c - b * s;
                x[off + i + half] = b * c + a * s;
            }
        }
    }

    private void ensure(int n) {
        if (n <= rows) {
            return;
        }
        int cap = Math.max(n, Math.max(256, rows * 2));
        cos = Arrays.copyOf(cos, cap * half);
        sin = Arrays.copyOf(sin, cap * half);
        for (int p = rows; p < cap; p++) {
            for (int i = 0; i < half; i++) {
                double angle = -(double) p * invFreq[i];
                cos[p * half + i] = (float) Math.cos(angle);
                sin[p * half + i] = (float) Math.sin(angle);
            }
        }
        rows = cap;
    }
}
