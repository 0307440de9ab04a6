package io.kvstream.testing;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Locates the reference model and golden outputs ({@code shared/refmodel}); tests that need
 * them are skipped, not failed, where they are absent.
 */
public final class RefModel {

    /** System property surefire sets to the refmodel folder. */
    public static final String PROPERTY = "kvstream.refmodel";

    private RefModel() {}

    /** The refmodel folder; skips the calling test when it does not exist. */
    public static Path dir() {
        String configured = System.getProperty(PROPERTY);
        Path dir =
                configured != null
                        ? Paths.get(configured)
                        : Paths.get("..", "..", "shared", "refmodel");
        dir = dir.toAbsolutePath().normalize();
        assumeTrue(Files.isDirectory(dir), "reference model folder not found: " + dir);
        return dir;
    }

    /** A file under the refmodel folder; skips the calling test when it does not exist. */
    public static Path file(String relative) {
        Path file = dir().resolve(relative);
        assumeTrue(Files.exists(file), "reference model file not found: " + file);
        return file;
    }
}
