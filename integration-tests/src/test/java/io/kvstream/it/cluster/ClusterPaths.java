package io.kvstream.it.cluster;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * Where the cluster test finds what it runs, from system properties that the integration-tests
 * pom gives surefire (each with a default relative to the repository root, for runs from an IDE):
 *
 * <ul>
 *   <li>{@code kvstream.it.flink.lib}: the Flink distribution's lib directory, assembled by the
 *       {@code kvstream-it-flink-dist} module ({@code integration-tests/flink-dist/target/lib});
 *   <li>{@code kvstream.it.kafka.lib}: the Kafka broker's libs ({@code integration-tests/kafka-dist/target/lib});
 *   <li>{@code kvstream.it.job.jar}: the job jar users submit ({@code pipeline-jobs/target/kvstream-job.jar});
 *   <li>{@code kvstream.it.models}: the reference model files ({@code models/});
 *   <li>{@code kvstream.it.work}: logs, configuration, checkpoints ({@code integration-tests/target/cluster-it}).
 * </ul>
 */
public final class ClusterPaths {

    private ClusterPaths() {}

    public static Path root() {
        Path here = Path.of("").toAbsolutePath();
        // Surefire runs in the module directory; an IDE may run in the repository root.
        return Files.isDirectory(here.resolve("integration-tests")) ? here : here.getParent();
    }

    public static Path flinkLib() {
        return dir("kvstream.it.flink.lib", "integration-tests/flink-dist/target/lib");
    }

    public static Path kafkaLib() {
        return dir("kvstream.it.kafka.lib", "integration-tests/kafka-dist/target/lib");
    }

    public static Path jobJar() {
        return path("kvstream.it.job.jar", "pipeline-jobs/target/kvstream-job.jar");
    }

    public static Path model() {
        return path("kvstream.it.models", "models").resolve("refmodel-q8_0.gguf");
    }

    public static Path mmproj() {
        return path("kvstream.it.models", "models").resolve("refmodel-mmproj-f16.gguf");
    }

    public static Path work() {
        return path("kvstream.it.work", "integration-tests/target/cluster-it");
    }

    /** The classpath of a directory of jars, as the distribution's scripts build it. */
    public static List<String> classpathOf(Path lib) {
        return List.of(lib.toAbsolutePath() + "/*");
    }

    private static Path dir(String property, String fallback) {
        Path p = path(property, fallback);
        if (!Files.isDirectory(p)) {
            throw new IllegalStateException(p + " (" + property + ") is not a directory: build with"
                    + " ./mvnw -B -ntp -pl integration-tests -am verify, which assembles it");
        }
        return p;
    }

    private static Path path(String property, String fallback) {
        String v = System.getProperty(property);
        return (v == null || v.isBlank() ? root().resolve(fallback) : Path.of(v)).toAbsolutePath().normalize();
    }
}
