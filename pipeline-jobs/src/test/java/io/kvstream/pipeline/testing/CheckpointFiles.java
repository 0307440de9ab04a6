package io.kvstream.pipeline.testing;

import java.io.IOException;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.attribute.BasicFileAttributes;

/**
 * Reads a checkpoint folder while Flink writes and deletes in it: files and folders that vanish
 * during the walk (subsumed checkpoints) are skipped instead of failing the walk.
 */
public final class CheckpointFiles {

    private CheckpointFiles() {}

    /** Completed checkpoints (and savepoints) under {@code dir}: folders with their metadata. */
    public static long completed(Path dir) throws IOException {
        long[] count = new long[1];
        walk(dir, (file, attrs) -> count[0] += file.getFileName().toString().equals("_metadata") ? 1 : 0);
        return count[0];
    }

    /** Bytes of the files under {@code dir}. */
    public static long bytes(Path dir) throws IOException {
        long[] total = new long[1];
        walk(dir, (file, attrs) -> total[0] += attrs.size());
        return total[0];
    }

    private interface Visit {
        void file(Path file, BasicFileAttributes attrs);
    }

    private static void walk(Path dir, Visit visit) throws IOException {
        if (!Files.isDirectory(dir)) {
            return;
        }
        Files.walkFileTree(dir, new SimpleFileVisitor<>() {
            @Override
            public FileVisitResult visitFile(Path file, BasicFileAttributes attrs) {
                visit.file(file, attrs);
                return FileVisitResult.CONTINUE;
            }

            @Override
            public FileVisitResult visitFileFailed(Path file, IOException e) {
                return FileVisitResult.CONTINUE;
            }
        });
    }
}
