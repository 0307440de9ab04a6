package io.kvstream.pipeline.model;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

class ModelFilesTest {

    @Test
    void plainPathsAreUsedWhereTheyAre() throws Exception {
        assertThat(ModelFiles.isUri("models/x.gguf")).isFalse();
        assertThat(ModelFiles.isUri("/opt/models/x.gguf")).isFalse();
        assertThat(ModelFiles.isUri("C:\\models\\x.gguf")).isFalse();
        assertThat(ModelFiles.isUri("s3://bucket/x.gguf")).isTrue();
        assertThat(ModelFiles.isUri("file:///tmp/x.gguf")).isTrue();
        assertThat(ModelFiles.localize("/opt/models/x.gguf")).isEqualTo(Path.of("/opt/models/x.gguf"));
    }

    @Test
    void aUriIsFetchedOncePerTaskManagerBySubtasksAtOnce(@TempDir Path tmp) throws Exception {
        Path remote = Files.createDirectories(tmp.resolve("remote")).resolve("model.gguf");
        byte[] bytes = new byte[3 << 20];
        new java.util.Random(7).nextBytes(bytes);
        Files.write(remote, bytes);
        Path cache = tmp.resolve("cache");
        ExecutorService pool = Executors.newFixedThreadPool(4);
        try {
            List<Future<Path>> fetched = new ArrayList<>();
            for (int i = 0; i < 8; i++) {
                fetched.add(pool.submit(() -> ModelFiles.fetch(remote.toUri(), cache)));
            }
            Set<Path> copies = new HashSet<>();
            for (Future<Path> f : fetched) {
                copies.add(f.get());
            }
            assertThat(copies).hasSize(1);
            Path copy = copies.iterator().next();
            assertThat(copy).startsWith(cache).hasFileName("model.gguf");
            assertThat(Files.readAllBytes(copy)).isEqualTo(bytes);
            FileTime firstCopy = Files.getLastModifiedTime(copy);
            assertThat(ModelFiles.fetch(remote.toUri(), cache)).isEqualTo(copy);
            assertThat(Files.getLastModifiedTime(copy)).as("not copied again").isEqualTo(firstCopy);
            try (var files = Files.walk(cache)) {
                assertThat(files.filter(p -> p.toString().endsWith(".partial"))).isEmpty();
            }
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void aReplacedObjectIsFetchedAgain(@TempDir Path tmp) throws Exception {
        Path remote = tmp.resolve("model.gguf");
        Files.writeString(remote, "first");
        Path first = ModelFiles.fetch(remote.toUri(), tmp.resolve("cache"));
        Files.writeString(remote, "second, longer");
        Path second = ModelFiles.fetch(remote.toUri(), tmp.resolve("cache"));
        assertThat(second).isNotEqualTo(first);
        assertThat(Files.readString(second)).isEqualTo("second, longer");
    }

    @Test
    void missingObjectsAndFoldersAreNamed(@TempDir Path tmp) {
        assertThatThrownBy(() -> ModelFiles.fetch(tmp.resolve("nothing.gguf").toUri(), tmp.resolve("c")))
                .hasMessageContaining("nothing.gguf");
        assertThatThrownBy(() -> ModelFiles.fetch(tmp.toUri(), tmp.resolve("c")))
                .hasMessageContaining("is a folder");
    }
}
