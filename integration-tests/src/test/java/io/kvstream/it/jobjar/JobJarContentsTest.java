package io.kvstream.it.jobjar;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.jar.JarFile;

/**
 * {@code kvstream-job.jar} is what {@code flink run} takes: it must not carry the distribution's
 * classes (two copies of Flink's runtime on one classpath break class identity), nor the
 * command-line tools and local mode, and it must carry what a stock distribution lacks.
 */
class JobJarContentsTest {

    static final Path JOB_JAR = Path.of("../pipeline-jobs/target/kvstream-job.jar");

    private static List<String> entries;
    private static String mainClass;

    @BeforeAll
    static void read() throws IOException {
        assertThat(JOB_JAR).as("built by the pipeline-jobs module's package phase").exists();
        entries = new ArrayList<>();
        try (JarFile jar = new JarFile(JOB_JAR.toFile())) {
            jar.stream().forEach(e -> entries.add(e.getName()));
            mainClass = jar.getManifest().getMainAttributes().getValue("Main-Class");
        }
    }

    @Test
    void itsMainClassBuildsTheJob() {
        assertThat(mainClass).isEqualTo("io.kvstream.pipeline.KvstreamJob");
        assertThat(entries).contains("io/kvstream/pipeline/KvstreamJob.class");
    }

    @Test
    void noFlinkDistributionClasses() {
        for (String prefix : List.of(
                "org/apache/flink/runtime/", "org/apache/flink/streaming/api/", "org/apache/flink/api/",
                "org/apache/flink/configuration/", "org/apache/flink/core/", "org/apache/flink/util/",
                "org/apache/flink/client/", "org/apache/flink/state/", "org/apache/flink/shaded/",
                "org/rocksdb/", "com/esotericsoftware/kryo/", "org/slf4j/", "org/apache/logging/log4j/")) {
            assertThat(entries).as("entries under %s", prefix).noneMatch(e -> e.startsWith(prefix));
        }
    }

    @Test
    void noCommandLineToolsLocalModeOrTestKits() {
        for (String prefix : List.of(
                "picocli/", "io/kvstream/app/", "io/kvstream/cli/", "io/kvstream/local/",
                "io/kvstream/client/", "io/kvstream/eval/", "kafka/server/", "org/apache/kafka/common/test/",
                "scala/", "org/junit/")) {
            assertThat(entries).as("entries under %s", prefix).noneMatch(e -> e.startsWith(prefix));
        }
    }

    @Test
    void whatTheDistributionLacksIsInside() {
        assertThat(entries).contains(
                "org/apache/flink/connector/kafka/source/KafkaSource.class",
                "org/apache/flink/connector/base/DeliveryGuarantee.class",
                "org/apache/kafka/clients/consumer/KafkaConsumer.class",
                "org/apache/avro/Schema.class",
                "com/fasterxml/jackson/databind/ObjectMapper.class",
                "jcuda/driver/JCudaDriver.class",
                "com/hubspot/jinjava/Jinjava.class",
                "io/kvstream/pipeline/operator/SessionInferenceOperator.class",
                "io/kvstream/kv/CompressedKvCache.class",
                "io/kvstream/runtime/cpu/CpuBackend.class");
        assertThat(entries).anyMatch(e -> e.startsWith("lib/") && e.contains("JCudaDriver"));
    }

    @Test
    void itIsSmallerThanTheCommandLineJar() throws IOException {
        Path cli = Path.of("../pipeline-jobs/target/kvstream.jar");
        assertThat(Files.size(JOB_JAR)).isLessThan(Files.size(cli) / 2);
    }
}
