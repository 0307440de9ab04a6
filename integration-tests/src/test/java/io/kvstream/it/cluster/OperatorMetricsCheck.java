package io.kvstream.it.cluster;

import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The inference operator's metrics as an operator of kvstream sees them: scraped from the
 * Prometheus reporter of each TaskManager (what a Prometheus server would collect), with the names
 * that {@code InferenceMetrics} registers under the group {@code kvstream}.
 */
final class OperatorMetricsCheck {

    private OperatorMetricsCheck() {}

    /**
     * Scrapes the Prometheus endpoint of every TaskManager running the inference operator and
     * checks that the operator's metrics (group {@code kvstream}, see {@code InferenceMetrics})
     * are there with sane values. Returns {@code sessionsRestoredFromState} over all subtasks.
     */
    static double check(FlinkProcessCluster flink, String job) throws Exception {
        String vertex = flink.rest().vertexId(job, "inference");
        Set<String> tms = flink.rest().taskManagersOf(job, vertex);
        assertThat(tms).isNotEmpty();
        String p = "flink_taskmanager_job_task_operator_kvstream_";
        double restored = 0;
        double generated = 0;
        double tokensPerSecond = 0;
        for (String tmId : tms) {
            PrometheusScrape scrape = PrometheusScrape.scrape(flink.taskManager(tmId).prometheusPort());
            for (String name : List.of("timeToFirstTokenMs", "timeToFirstTokenMs_count", "generatedTokens",
                    "tokensPerSecond", "batchSequences", "batchTokens", "hotBytes", "hotSessions",
                    "kvStoredBytesPerSession", "cachedTokenRatio", "sessionsRestoredFromState", "sessionsLost")) {
                assertThat(scrape.named(p + name)).as("%s on %s", p + name, tmId).isNotEmpty();
            }
            assertThat(scrape.named(p + "timeToFirstTokenMs")).allSatisfy(s ->
                    assertThat(s.value()).as("ttft %s", s.labels()).satisfiesAnyOf(
                            v -> assertThat(v).isNaN(), v -> assertThat(v).isBetween(0.0, 120_000.0)));
            assertThat(scrape.max(p + "timeToFirstTokenMs_count").orElse(0)).as("ttft count on %s", tmId).isPositive();
            assertThat(scrape.max(p + "batchSequences").orElse(0)).as("batch sequences on %s", tmId).isBetween(1.0, 64.0);
            assertThat(scrape.max(p + "batchTokens").orElse(0)).as("batch tokens on %s", tmId).isPositive();
            assertThat(scrape.max(p + "kvStoredBytesPerSession").orElse(0)).as("stored bytes on %s", tmId).isPositive();
            assertThat(scrape.max(p + "hotBytes").orElse(-1)).as("hot bytes on %s", tmId).isGreaterThanOrEqualTo(0);
            assertThat(scrape.max(p + "cachedTokenRatio").orElse(-1)).as("cached ratio on %s", tmId)
                    .isGreaterThan(0).isLessThanOrEqualTo(1);
            assertThat(scrape.sum(p + "sessionsLost").orElse(-1)).as("sessions lost on %s", tmId).isZero();
            restored += scrape.sum(p + "sessionsRestoredFromState").orElse(0);
            generated += scrape.sum(p + "generatedTokens").orElse(0);
            tokensPerSecond += scrape.sum(p + "tokensPerSecond").orElse(0);
            System.out.printf("prometheus %s: %d kvstream samples, ttft p50 %s ms, cachedTokenRatio %.3f%n", tmId,
                    scrape.samples().stream().filter(s -> s.name().startsWith(p)).count(),
                    scrape.named(p + "timeToFirstTokenMs").stream().filter(s -> s.labels().contains("quantile=\"0.5\""))
                            .map(s -> String.format("%.0f", s.value())).toList(),
                    scrape.max(p + "cachedTokenRatio").orElse(0));
        }
        System.out.printf("METRIC prometheus job %s on %s: generatedTokens=%.0f tokensPerSecond=%.2f"
                + " sessionsRestoredFromState=%.0f%n", job, tms, generated, tokensPerSecond, restored);
        assertThat(generated).isPositive();
        // A meter's rate is a 60 s window that Flink updates every 5 s: right after a turn it may
        // still read 0; scrape again for a while.
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (tokensPerSecond <= 0 && System.nanoTime() < deadline) {
            Thread.sleep(1_000);
            tokensPerSecond = 0;
            for (String tmId : tms) {
                tokensPerSecond += PrometheusScrape.scrape(flink.taskManager(tmId).prometheusPort())
                        .sum(p + "tokensPerSecond").orElse(0);
            }
        }
        System.out.printf("METRIC prometheus tokensPerSecond=%.2f%n", tokensPerSecond);
        assertThat(tokensPerSecond).as("tokensPerSecond over the TaskManagers").isPositive();
        return restored;
    }
}
