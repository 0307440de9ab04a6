package io.kvstream.model;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.stream.Stream;

/**
 * Which weights a KV cache was computed with, so that stored caches are never fed to another
 * model: cached keys and values are only meaningful to the weights that produced them, and two
 * models of one shape (a fine-tune, another quantization) would read each other's caches without
 * any error.
 *
 * <p>A SHA-256 over each file's length, its head (where GGUF and safetensors keep their metadata
 * and tensor table) and evenly spaced samples of its tensor data: cheap to compute from the
 * memory-mapped file however large it is, and different for any two files that differ in their
 * metadata or in more than a vanishing share of their weights.
 */
public final class ModelFingerprint {

    private static final int HEAD_BYTES = 4 << 20;
    private static final int SAMPLES = 32;
    private static final int SAMPLE_BYTES = 64 << 10;

    private ModelFingerprint() {}

    /**
     * @param files the model and whatever else shapes its caches (the vision projector, a
     *     tokenizer override); a folder counts as its files, by name
     * @return 32 hex digits
     */
    public static String of(Path... files) throws IOException {
        MessageDigest sha = sha256();
        for (Path file : files) {
            for (Path f : expand(file)) {
                digestFile(sha, f);
            }
        }
        return HexFormat.of().formatHex(sha.digest(), 0, 16);
    }

    private static List<Path> expand(Path path) throws IOException {
        if (!Files.isDirectory(path)) {
            return List.of(path);
        }
        try (Stream<Path> files = Files.list(path)) {
            List<Path> all = new ArrayList<>(files.filter(Files::isRegularFile).sorted().toList());
            return all;
        }
    }

    private static void digestFile(MessageDigest sha, Path file) throws IOException {
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.READ)) {
            long length = channel.size();
            sha.update(file.getFileName().toString().getBytes(StandardCharsets.UTF_8));
            sha.update(ByteBuffer.allocate(Long.BYTES).putLong(0, length));
            ByteBuffer buffer = ByteBuffer.allocate(SAMPLE_BYTES);
            digestRange(sha, channel, 0, Math.min(length, HEAD_BYTES), buffer);
            if (length > HEAD_BYTES) {
                long stride = (length - HEAD_BYTES) / SAMPLES;
                for (int i = 0; i < SAMPLES; i++) {
                    long at = HEAD_BYTES + i * stride;
                    digestRange(sha, channel, at, Math.min(SAMPLE_BYTES, length - at), buffer);
                }
            }
        }
    }

    private static void digestRange(MessageDigest sha, FileChannel channel, long from, long n, ByteBuffer buffer)
            throws IOException {
        long done = 0;
        while (done < n) {
            buffer.clear().limit((int) Math.min(buffer.capacity(), n - done));
            int read = channel.read(buffer, from + done);
            if (read < 0) {
                throw new IOException("Unexpected end of file while fingerprinting at " + (from + done));
            }
            buffer.flip();
            sha.update(buffer);
            done += read;
        }
    }

    private static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
