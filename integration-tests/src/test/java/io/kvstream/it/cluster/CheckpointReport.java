package io.kvstream.it.cluster;

import java.util.Comparator;
import java.util.List;

/**
 * What a job's checkpoints cost per session, from the REST API's checkpoint statistics, printed
 * as {@code METRIC} lines for the cluster test's report (integration-tests/README.md).
 */
final class CheckpointReport {

    private CheckpointReport() {}

    /**
     * Checkpoint size and duration per session: the latest checkpoint's whole state (every
     * session's KV, as a restore reads it), and the largest incremental upload in the history (a
     * turn's new KV blocks), each divided by the number of sessions.
     */
    public static void print(FlinkRest rest, String job, int sessions) throws Exception {
        List<FlinkRest.CheckpointStats> history = rest.completedCheckpoints(job);
        FlinkRest.CheckpointStats latest = rest.latestCheckpoint(job);
        FlinkRest.CheckpointStats largest = history.stream()
                .max(Comparator.comparingLong(FlinkRest.CheckpointStats::checkpointedSize)).orElse(latest);
        double meanMs = history.stream().mapToLong(FlinkRest.CheckpointStats::durationMs).average().orElse(0);
        long maxMs = history.stream().mapToLong(FlinkRest.CheckpointStats::durationMs).max().orElse(0);
        System.out.printf("METRIC checkpoint full state %d B = %d B/session (checkpoint %d)%n",
                latest.stateSize(), latest.stateSize() / sessions, latest.id());
        System.out.printf("METRIC checkpoint largest incremental upload %d B = %d B/session, %d ms (checkpoint %d)%n",
                largest.checkpointedSize(), largest.checkpointedSize() / sessions, largest.durationMs(), largest.id());
        System.out.printf("METRIC checkpoint duration over the last %d: mean %.0f ms, max %d ms = %.2f ms/session%n",
                history.size(), meanMs, maxMs, maxMs / (double) sessions);
    }
}
