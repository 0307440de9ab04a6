package io.kvstream.pipeline.model;

import static org.apache.flink.util.Preconditions.checkNotNull;

import org.apache.flink.core.fs.FileStatus;
import org.apache.flink.core.fs.FileSystem;
import org.apache.flink.core.fs.FSDataInputStream;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.URI;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;

/**
 * Where a subtask finds its model files. A plain path is used where it is: it must exist on every
 * TaskManager. A URI ({@code file://}, {@code s3://}, {@code hdfs://}, anything a Flink {@link
 * FileSystem} reads) is copied once per TaskManager into a local cache, because the runtime
 * memory-maps its weights and a remote object cannot be mapped.
 *
 * <p>Subtasks of one TaskManager share the copy: the first takes a file lock and copies to a
 * temporary name, then moves it into place; the others wait on the lock and find it there. A copy
 * is keyed by the URI, the object's length and its modification time, so a replaced object is
 * fetched again rather than served stale.
 */
public final class ModelFiles {

    private static final Logger LOG = LoggerFactory.getLogger(ModelFiles.class);

    /** The cache folder, unless {@value #CACHE_PROPERTY} names another. */
    public static final String CACHE_PROPERTY = "kvstream.model.cache";

    private ModelFiles() {}

    /** True for {@code scheme://...}; a plain path (absolute or relative) is not a URI here. */
    public static boolean isUri(String location) {
        int colon = location.indexOf("://");
        return colon > 1 && location.substring(0, colon).chars().allMatch(Character::isLetterOrDigit);
    }

    /** A local path for {@code location}, fetching it into {@link #cacheDir()} when it is a URI. */
    public static Path localize(String location) throws IOException {
        checkNotNull(location, "location");
        return isUri(location) ? fetch(URI.create(location), cacheDir()) : Path.of(location);
    }

    public static Path cacheDir() {
        String configured = System.getProperty(CACHE_PROPERTY);
        return configured != null
                ? Path.of(configured)
                : Path.of(System.getProperty("java.io.tmpdir"), "kvstream-models");
    }

    /** Copies {@code uri} into {@code cacheDir} unless an identical copy is there already. */
    public static Path fetch(URI uri, Path cacheDir) throws IOException {
        org.apache.flink.core.fs.Path remote = new org.apache.flink.core.fs.Path(uri);
        FileSystem fs = remote.getFileSystem();
        FileStatus status = fs.getFileStatus(remote);
        if (status.isDir()) {
            throw new IOException("The model location " + uri + " is a folder; name the model file");
        }
        String name = remote.getName();
        String key = digest(uri + "|" + status.getLen() + "|" + status.getModificationTime());
        Path dir = cacheDir.resolve(key);
        Path target = dir.resolve(name);
        Files.createDirectories(dir);
        if (isComplete(target, status.getLen())) {
            return target;
        }
        // One copy per TaskManager: a file lock between processes, and between the threads of
        // this one (FileChannel.lock throws OverlappingFileLockException within a JVM).
        synchronized (ModelFiles.class) {
            try (FileChannel lockChannel = FileChannel.open(
                            dir.resolve(".lock"), StandardOpenOption.CREATE, StandardOpenOption.WRITE);
                    FileLock ignored = lockChannel.lock()) {
                if (isComplete(target, status.getLen())) {
                    return target;
                }
                long t0 = System.nanoTime();
                LOG.info("Fetching model file {} ({} bytes) into {}", uri, status.getLen(), target);
                Path partial = dir.resolve(name + ".partial");
                try (FSDataInputStream in = fs.open(remote);
                        OutputStream out = Files.newOutputStream(partial)) {
                    copy(in, out);
                }
                if (Files.size(partial) != status.getLen()) {
                    throw new IOException(String.format(
                            "Fetched %d bytes of %s, which has %d", Files.size(partial), uri, status.getLen()));
                }
                move(partial, target);
                LOG.info("Fetched {} in {} ms", uri, (System.nanoTime() - t0) / 1_000_000);
                return target;
            }
        }
    }

    private static boolean isComplete(Path file, long length) throws IOException {
        return Files.isRegularFile(file) && Files.size(file) == length;
    }

    private static void copy(InputStream in, OutputStream out) throws IOException {
        byte[] buffer = new byte[1 << 20];
        int n;
        while ((n = in.read(buffer)) > 0) {
            out.write(buffer, 0, n);
        }
    }

    private static void move(Path from, Path to) throws IOException {
        try {
            Files.move(from, to, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (AtomicMoveNotSupportedException e) {
            Files.move(from, to, StandardCopyOption.REPLACE_EXISTING);
        }
    }

    private static String digest(String text) {
        try {
            byte[] hash = MessageDigest.getInstance("SHA-256").digest(text.getBytes(StandardCharsets.UTF_8));
            return HexFormat.of().formatHex(hash, 0, 12);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
