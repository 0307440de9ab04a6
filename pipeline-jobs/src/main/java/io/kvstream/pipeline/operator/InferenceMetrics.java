package io.kvstream.pipeline.operator;

import org.apache.flink.metrics.Counter;
import org.apache.flink.metrics.Histogram;
import org.apache.flink.metrics.Meter;
import org.apache.flink.metrics.MeterView;
import org.apache.flink.metrics.MetricGroup;
import org.apache.flink.runtime.metrics.DescriptiveStatisticsHistogram;

import java.util.function.LongSupplier;

/**
 * The inference operator's metrics, under the group {@code kvstream}: time to first token, tokens
 * per second, batch sizes, the hot set, stored bytes per session and the share of prompt tokens
 * served from a session's cache.
 */
final class InferenceMetrics {

    private static final int WINDOW = 1024;

    final Histogram timeToFirstTokenMs;
    final Counter generatedTokens;
    final Meter tokensPerSecond;
    final Counter steps;
    final Histogram batchSequences;
    final Histogram batchTokens;
    final Histogram storedBytesPerSession;
    final Counter restoredSessions;
    final Counter recomputedSessions;
    /** Sessions whose stored state could not be read nor recomputed, and so were reset. */
    final Counter lostSessions;
    final Counter expiredSessions;
    final Counter duplicates;
    final Counter errors;
    private long cachedTokens;
    private long promptTokens;

    InferenceMetrics(MetricGroup parent, LongSupplier hotSessions, LongSupplier hotBytes) {
        MetricGroup g = parent.addGroup("kvstream");
        timeToFirstTokenMs = g.histogram("timeToFirstTokenMs", new DescriptiveStatisticsHistogram(WINDOW));
        generatedTokens = g.counter("generatedTokens");
        tokensPerSecond = g.meter("tokensPerSecond", new MeterView(generatedTokens));
        steps = g.counter("steps");
        batchSequences = g.histogram("batchSequences", new DescriptiveStatisticsHistogram(WINDOW));
        batchTokens = g.histogram("batchTokens", new DescriptiveStatisticsHistogram(WINDOW));
        storedBytesPerSession =
                g.histogram("kvStoredBytesPerSession", new DescriptiveStatisticsHistogram(WINDOW));
        restoredSessions = g.counter("sessionsRestoredFromState");
        recomputedSessions = g.counter("sessionsRecomputed");
        lostSessions = g.counter("sessionsLost");
        expiredSessions = g.counter("sessionsExpired");
        duplicates = g.counter("duplicateEvents");
        errors = g.counter("errorEvents");
        g.gauge("hotSessions", hotSessions::getAsLong);
        g.gauge("hotBytes", hotBytes::getAsLong);
        g.gauge("cachedTokenRatio", this::cachedTokenRatio);
    }

    void countPrompt(int cached, int prompt) {
        cachedTokens += cached;
        promptTokens += prompt;
    }

    /** Of the tokens requests needed in their cache, the share that was already there. */
    double cachedTokenRatio() {
        long all = cachedTokens + promptTokens;
        return all == 0 ? 0.0 : (double) cachedTokens / all;
    }
}
