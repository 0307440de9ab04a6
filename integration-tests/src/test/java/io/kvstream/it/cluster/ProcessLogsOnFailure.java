package io.kvstream.it.cluster;

import org.junit.jupiter.api.extension.ExtensionContext;
import org.junit.jupiter.api.extension.TestWatcher;

import java.util.function.Supplier;

/**
 * Prints the last lines of every cluster process's log when a test fails: the JobManager, each
 * TaskManager and the Kafka broker each write to a file of their own under target/, and a failure
 * in a test that drives them is rarely understood from the test's side alone.
 */
final class ProcessLogsOnFailure implements TestWatcher {

    private final Supplier<FlinkProcessCluster> flink;
    private final Supplier<KafkaBrokerProcess> kafka;

    ProcessLogsOnFailure(Supplier<FlinkProcessCluster> flink, Supplier<KafkaBrokerProcess> kafka) {
        this.flink = flink;
        this.kafka = kafka;
    }

    @Override
    public void testFailed(ExtensionContext context, Throwable cause) {
        System.out.println("===== " + context.getDisplayName() + " failed: process logs =====");
        if (flink.get() != null) {
            System.out.println(flink.get().diagnostics(80));
        }
        if (kafka.get() != null) {
            System.out.println(kafka.get().process().tail(40));
        }
    }
}
