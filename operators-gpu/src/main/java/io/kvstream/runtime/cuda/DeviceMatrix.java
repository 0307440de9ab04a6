package io.kvstream.runtime.cuda;

import io.kvstream.model.tensor.F16Tensor;
import io.kvstream.model.tensor.Float16;
import io.kvstream.model.tensor.FloatTensor;
import io.kvstream.model.tensor.Q8_0Tensor;

import javax.annotation.Nullable;

import java.nio.ByteBuffer;

/**
 * A weight matrix resident on the device, in one of the two formats the matrix kernels read:
 * F16 as stored, or Q8_0 split into int8 quants {@code [rows][cols]} and fp16 scales {@code
 * [rows][cols / 32]} (a GGUF block of 34 bytes is not 4-byte aligned, so vector loads need the
 * two apart). Every other format is expanded to F16 on upload.
 */
final class DeviceMatrix implements AutoCloseable {

    enum Format {
        F16,
        Q8_0
    }

    /** Rows converted and copied together, so that huge matrices never sit whole on the heap. */
    private static final int CHUNK_ROWS = 1024;

    private static final int Q8_BLOCK = 32;
    private static final int Q8_BLOCK_BYTES = 34;

    private final Format format;
    private final int rows;
    private final int cols;
    /** F16: the halves; Q8_0: the quants. */
    private final DeviceBuffer data;
    @Nullable private final DeviceBuffer scales;

    private DeviceMatrix(Format format, int rows, int cols, DeviceBuffer data, @Nullable DeviceBuffer scales) {
        this.format = format;
        this.rows = rows;
        this.cols = cols;
        this.data = data;
        this.scales = scales;
    }

    static DeviceMatrix upload(FloatTensor t) {
        if (t instanceof Q8_0Tensor) {
            return uploadQ8((Q8_0Tensor) t);
        }
        int rows = t.rows();
        int cols = t.cols();
        DeviceBuffer data = new DeviceBuffer((long) rows * cols * 2);
        int chunk = Math.min(rows, CHUNK_ROWS);
        short[] halves = new short[chunk * cols];
        if (t instanceof F16Tensor) {
            ByteBuffer src = ((F16Tensor) t).halves();
            for (int r0 = 0; r0 < rows; r0 += chunk) {
                int n = Math.min(chunk, rows - r0);
                src.position((int) ((long) r0 * cols * 2));
                src.asShortBuffer().get(halves, 0, n * cols);
                data.uploadAt((long) r0 * cols * 2, halves, n * cols);
            }
        } else {
            // F32, BF16 and the other quantized formats: through fp32 to the nearest half.
            float[] row = new float[cols];
            for (int r0 = 0; r0 < rows; r0 += chunk) {
                int n = Math.min(chunk, rows - r0);
                for (int r = 0; r < n; r++) {
                    t.dequantizeRow(r0 + r, row, 0);
                    for (int c = 0; c < cols; c++) {
                        halves[r * cols + c] = Float16.fromFloat(row[c]);
                    }
                }
                data.uploadAt((long) r0 * cols * 2, halves, n * cols);
            }
        }
        return new DeviceMatrix(Format.F16, rows, cols, data, null);
    }

    private static DeviceMatrix uploadQ8(Q8_0Tensor t) {
        int rows = t.rows();
        int cols = t.cols();
        int blocksPerRow = cols / Q8_BLOCK;
        DeviceBuffer qs = new DeviceBuffer((long) rows * cols);
        DeviceBuffer d = new DeviceBuffer((long) rows * blocksPerRow * 2);
        ByteBuffer src = t.blocks();
        int chunk = Math.min(rows, CHUNK_ROWS);
        byte[] quants = new byte[chunk * cols];
        short[] scales = new short[chunk * blocksPerRow];
        for (int r0 = 0; r0 < rows; r0 += chunk) {
            int n = Math.min(chunk, rows - r0);
            for (int b = 0; b < n * blocksPerRow; b++) {
                int pos = (int) (((long) r0 * blocksPerRow + b) * Q8_BLOCK_BYTES);
                scales[b] = src.getShort(pos);
                src.position(pos + 2);
                src.get(quants, b * Q8_BLOCK, Q8_BLOCK);
            }
            qs.uploadAt((long) r0 * cols, quants, n * cols);
            d.uploadAt((long) r0 * blocksPerRow * 2, scales, n * blocksPerRow);
        }
        return new DeviceMatrix(Format.Q8_0, rows, cols, qs, d);
    }

    Format format() {
        return format;
    }

    int rows() {
        return rows;
    }

    int cols() {
        return cols;
    }

    DeviceBuffer data() {
        return data;
    }

    /** The Q8_0 scales; only for {@link Format#Q8_0}. */
    DeviceBuffer scales() {
        if (scales == null) {
            throw new IllegalStateException("an F16 matrix has no scales");
        }
        return scales;
    }

    long bytes() {
        return data.bytes() + (scales != null ? scales.bytes() : 0);
    }

    @Override
    public void close() {
        data.close();
        if (scales != null) {
            scales.close();
        }
    }
}
