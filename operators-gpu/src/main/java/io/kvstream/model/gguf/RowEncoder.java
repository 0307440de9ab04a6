package io.kvstream.model.gguf;

import io.kvstream.model.tensor.Float16;
import io.kvstream.model.tensor.GgmlType;

import java.nio.ByteBuffer;

/**
 * Encodes rows of floats in the GGML types that files are written in: F32, F16, BF16, Q8_0 and
 * Q4_0. Quantization is ggml's reference ({@code quantize_row_q8_0_ref}, {@code
 * quantize_row_q4_0_ref}), which is what {@code llama-quantize} runs without an importance
 * matrix, so rows encoded here are byte for byte what llama.cpp writes for the same values.
 */
public final class RowEncoder {

    private static final int BLOCK = 32;

    private RowEncoder() {}

    public static boolean canEncode(GgmlType type) {
        return type == GgmlType.F32
                || type == GgmlType.F16
                || type == GgmlType.BF16
                || type == GgmlType.Q8_0
                || type == GgmlType.Q4_0;
    }

    /** Appends {@code row} encoded as {@code type} to {@code out} (little-endian). */
    public static void encodeRow(GgmlType type, float[] row, ByteBuffer out) {
        switch (type) {
            case F32:
                for (float v : row) {
                    out.putFloat(v);
                }
                break;
            case F16:
                for (float v : row) {
                    out.putShort(Float16.fromFloat(v));
                }
                break;
            case BF16:
                for (float v : row) {
                    out.putShort(Float16.bf16FromFloat(v));
                }
                break;
            case Q8_0:
                quantizeQ8_0(row, out);
                break;
            case Q4_0:
                quantizeQ4_0(row, out);
                break;
            default:
                throw new IllegalArgumentException("cannot encode " + type);
        }
    }

    /** ggml {@code quantize_row_q8_0_ref}: scale from the block's max magnitude, roundf. */
    private static void quantizeQ8_0(float[] row, ByteBuffer out) {
        for (int b = 0; b < row.length; b += BLOCK) {
            float amax = 0f;
            for (int j = 0; j < BLOCK; j++) {
                amax = Math.max(amax, Math.abs(row[b + j]));
            }
            float d = amax / 127f;
            float id = d != 0f ? 1f / d : 0f;
            out.putShort(Float16.fromFloat(d));
            for (int j = 0; j < BLOCK; j++) {
                float x = row[b + j] * id;
                // C roundf: halves away from zero (Math.round would send -2.5 to -2).
                out.put((byte) Math.copySign(Math.floor(Math.abs((double) x) + 0.5), x));
            }
        }
    }

    /**
     * ggml {@code quantize_row_q4_0_ref}: the scale maps the element of largest magnitude, with its
     * sign, to -8, so that element is exact and the other side gets 7 steps; nibble {@code
     * j} of the 16 bytes is element {@code j} (low) and {@code j + 16} (high).
     */
    private static void quantizeQ4_0(float[] row, ByteBuffer out) {
        for (int b = 0; b < row.length; b += BLOCK) {
            float amax = 0f;
            float max = 0f;
            for (int j = 0; j < BLOCK; j++) {
                float v = row[b + j];
                // Strictly greater: the first of equal magnitudes wins, as in ggml.
                if (amax < Math.abs(v)) {
                    amax = Math.abs(v);
                    max = v;
                }
            }
            float d = max / -8f;
            float id = d != 0f ? 1f / d : 0f;
            out.putShort(Float16.fromFloat(d));
            for (int j = 0; j < BLOCK / 2; j++) {
                int lo = nibble(row[b + j] * id);
                int hi = nibble(row[b + BLOCK / 2 + j] * id);
                out.put((byte) (lo | hi << 4));
            }
        }
    }

    /** {@code MIN(15, (int8_t)(x + 8.5f))}: C's cast truncates toward zero, as Java's does. */
    private static int nibble(float x) {
        return Math.min(15, (int) (x + 8.5f));
    }
}
