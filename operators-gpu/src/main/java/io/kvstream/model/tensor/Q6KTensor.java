package io.kvstream.model.tensor;

import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;

import java.nio.ByteBuffer;

/**
 * GGML Q6_K: super-blocks of 256 elements, 210 bytes: 128 bytes {@code ql} (low 4 bits), 64
 * bytes {@code qh} (high 2 bits), 16 int8 scales (one per 16 elements), fp16 {@code d}. Each half
 * of 128 elements uses 64 bytes of {@code ql}, 32 of {@code qh} and 8 scales; element {@code =
 * d * scale * (q - 32)}, evaluated as {@code (d * scale) * q} like ggml's
 * {@code dequantize_row_q6_K}.
 */
public final class Q6KTensor extends BlockTensor {

    private static final int BLOCK = 256;
    private static final int BLOCK_BYTES = BLOCK / 2 + BLOCK / 4 + BLOCK / 16 + 2;
    private static final int QH = 128;
    private static final int SC = 192;
    private static final int D = 208;

    public Q6KTensor(String name, int rows, int cols, ByteBuffer data) {
        super(name, rows, cols, data);
    }

    @Override
    public GgmlType type() {
        return GgmlType.Q6_K;
    }

    @Override
    void dequantizeRowScalar(int row, float[] out, int offset) {
        int blocks = cols() / BLOCK;
        int pos = row * blocks * BLOCK_BYTES;
        int o = offset;
        for (int b = 0; b < blocks; b++, pos += BLOCK_BYTES) {
            float d = Float16.toFloat(data.getShort(pos + D));
            int ql = pos;
            int qh = pos + QH;
            int sc = pos + SC;
            for (int half = 0; half < 2; half++, ql += 64, qh += 32, sc += 8, o += 128) {
                for (int l = 0; l < 32; l++) {
                    int is = l / 16;
                    int lo0 = data.get(ql + l) & 0xFF;
                    int lo32 = data.get(ql + 32 + l) & 0xFF;
                    int h = data.get(qh + l) & 0xFF;
                    int q1 = ((lo0 & 0x0F) | ((h & 3) << 4)) - 32;
                    int q2 = ((lo32 & 0x0F) | (((h >>> 2) & 3) << 4)) - 32;
                    int q3 = ((lo0 >>> 4) | (((h >>> 4) & 3) << 4)) - 32;
                    int q4 = ((lo32 >>> 4) | (((h >>> 6) & 3) << 4)) - 32;
                    out[o + l] = d * data.get(sc + is) * q1;
                    out[o + l + 32] = d * data.get(sc + is + 2) * q2;
                    out[o + l + 64] = d * data.get(sc + is + 4) * q3;
                    out[o + l + 96] = d * data.get(sc + is + 6) * q4;
                }
            }
        }
    }

    @Override
    void dequantizeRowVector(int row, float[] out, int offset) {
        int blocks = cols() / BLOCK;
        int rowBytes = blocks * BLOCK_BYTES;
        byte[] bytes = Simd.copyRow(data, row * rowBytes, rowBytes);
        int o = offset;
        for (int b = 0, pos = 0; b < blocks; b++, pos += BLOCK_BYTES) {
            float d = Float16.toFloat(Simd.getShort(bytes, pos + D));
            int ql = pos;
            int qh = pos + QH;
            int sc = pos + SC;
            for (int half = 0; half < 2; half++, ql += 64, qh += 32, sc += 8, o += 128) {
                for (int l = 0; l < 32; l += Simd.F.length()) {
                    // A chunk of eight never straddles the 16-element scale boundary.
                    int is = l / 16;
                    ByteVector lo0 = ByteVector.fromArray(Simd.B, bytes, ql + l);
                    ByteVector lo32 = ByteVector.fromArray(Simd.B, bytes, ql + 32 + l);
                    ByteVector h = ByteVector.fromArray(Simd.B, bytes, qh + l);
                    ByteVector q1 =
                            lo0.and((byte) 0x0F)
                                    .or(h.and((byte) 3).lanewise(VectorOperators.LSHL, 4))
                                    .sub((byte) 32);
                    ByteVector q2 =
                            lo32.and((byte) 0x0F)
                                    .or(
                                            h.lanewise(VectorOperators.LSHR, 2)
                                                    .and((byte) 3)
                                                    .lanewise(VectorOperators.LSHL, 4))
                                    .sub((byte) 32);
                    ByteVector q3 =
                            lo0.lanewise(VectorOperators.LSHR, 4)
                                    .or(
                                            h.lanewise(VectorOperators.LSHR, 4)
                                                    .and((byte) 3)
                                                    .lanewise(VectorOperators.LSHL, 4))
                                    .sub((byte) 32);
                    ByteVector q4 =
                            lo32.lanewise(VectorOperators.LSHR, 4)
                                    .or(
                                            h.lanewise(VectorOperators.LSHR, 6)
                                                    .lanewise(VectorOperators.LSHL, 4))
                                    .sub((byte) 32);
                    store(q1, d * bytes[sc + is], out, o + l);
                    store(q2, d * bytes[sc + is + 2], out, o + l + 32);
                    store(q3, d * bytes[sc + is + 4], out, o + l + 64);
                    store(q4, d * bytes[sc + is + 6], out, o + l + 96);
                }
            }
        }
    }

    private static void store(ByteVector q, float scale, float[] out, int at) {
        ((FloatVector) q.convertShape(VectorOperators.B2F, Simd.F, 0)).mul(scale).intoArray(out, at);
    }
}
