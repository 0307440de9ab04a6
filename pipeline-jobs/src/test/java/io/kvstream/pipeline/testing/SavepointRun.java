package io.kvstream.pipeline.testing;

import static org.assertj.core.api.Assertions.assertThat;

import io.kvstream.connect.serde.SingleObjectTypeInfo;
import io.kvstream.kv.state.KvRocksDbOptionsFactory;
import io.kvstream.pipeline.Events;
import io.kvstream.pipeline.InferenceJob;
import io.kvstream.pipeline.PipelineConfig;
import io.kvstream.schema.FinalResponse;
import io.kvstream.schema.ResponseEvent;
import io.kvstream.schema.SessionEvent;

import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.common.functions.FlatMapFunction;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.api.connector.source.util.ratelimit.RateLimiterStrategy;
import org.apache.flink.configuration.CheckpointingOptions;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.MemorySize;
import org.apache.flink.configuration.PipelineOptions;
import org.apache.flink.configuration.RestartStrategyOptions;
import org.apache.flink.configuration.StateBackendOptions;
import org.apache.flink.configuration.StateRecoveryOptions;
import org.apache.flink.connector.datagen.source.DataGeneratorSource;
import org.apache.flink.core.execution.JobClient;
import org.apache.flink.core.execution.SavepointFormatType;
import org.apache.flink.state.rocksdb.RocksDBOptions;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.util.CloseableIterator;
import org.apache.flink.util.Collector;

import java.net.URI;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.locks.LockSupport;

/**
 * Runs the job on a MiniCluster with RocksDB state in two phases: the first phase's events, a
 * stop with a native savepoint, then a fresh job restored from it with the second phase's events.
 *
 * <p>Events are written as {@code session|event id|kind|text|max new tokens}, kind {@code c} for a
 * context message and {@code t} for a user turn.
 */
public final class SavepointRun {

    /** What both phases answered, and the sizes of the first phase's state. */
    public record Result(List<ResponseEvent> responses, long checkpointBytes, long savepointBytes) {}

    private SavepointRun() {}

    /**
     * @param firstFinals final responses the first phase gives before it is stopped
     * @param secondFinals final responses the second phase gives
     * @param optionsFactory whether RocksDB runs with {@link KvRocksDbOptionsFactory}
     */
    public static Result run(
            PipelineConfig config, String[] first, int firstFinals, String[] second, int secondFinals, Path dir,
            boolean optionsFactory) throws Exception {
        Path checkpoints = dir.resolve("checkpoints");
        Path savepoints = dir.resolve("savepoints");
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment(conf(checkpoints, optionsFactory));
        CloseableIterator<ResponseEvent> results = job(env, "first", first, config).collectAsync();
        JobClient firstJob = env.executeAsync("kvstream-first");
        List<ResponseEvent> out;
        long checkpointBytes;
        String savepoint;
        try {
            out = new ArrayList<>(read(results, firstFinals));
            // Measure once a periodic incremental checkpoint has completed after the state was written.
            awaitCompletedCheckpoint(checkpoints, Duration.ofSeconds(60));
            checkpointBytes = CheckpointFiles.bytes(checkpoints);
            savepoint = firstJob.stopWithSavepoint(false, savepoints.toUri().toString(), SavepointFormatType.NATIVE)
                    .get();
        } catch (Exception | AssertionError e) {
            // Free the mini cluster's slots for the next case, whatever failed here.
            firstJob.cancel();
            throw e;
        } finally {
            results.close();
        }
        long savepointBytes = CheckpointFiles.bytes(Path.of(URI.create(savepoint)));

        Configuration restore = conf(checkpoints, optionsFactory);
        restore.set(StateRecoveryOptions.SAVEPOINT_PATH, savepoint);
        restore.set(StateRecoveryOptions.SAVEPOINT_IGNORE_UNCLAIMED_STATE, true);
        StreamExecutionEnvironment env2 = StreamExecutionEnvironment.getExecutionEnvironment(restore);
        CloseableIterator<ResponseEvent> results2 = job(env2, "second", second, config).collectAsync();
        JobClient secondJob = env2.executeAsync("kvstream-second");
        try {
            out.addAll(read(results2, secondFinals));
        } finally {
            secondJob.cancel().get();
            results2.close();
        }
        return new Result(out, checkpointBytes, savepointBytes);
    }

    /** The events a phase's specs describe. */
    public static SessionEvent[] events(String[] specs) {
        SessionEvent[] out = new SessionEvent[specs.length];
        for (int i = 0; i < specs.length; i++) {
            out[i] = ToEvents.parse(specs[i]);
        }
        return out;
    }

    private static Configuration conf(Path checkpoints, boolean optionsFactory) {
        Configuration conf = new Configuration();
        conf.set(PipelineOptions.GENERIC_TYPES, false);
        conf.set(RestartStrategyOptions.RESTART_STRATEGY, "none");
        conf.set(StateBackendOptions.STATE_BACKEND, "rocksdb");
        conf.set(CheckpointingOptions.CHECKPOINTS_DIRECTORY, checkpoints.toUri().toString());
        conf.set(CheckpointingOptions.INCREMENTAL_CHECKPOINTS, true);
        conf.set(CheckpointingOptions.CHECKPOINTING_INTERVAL, Duration.ofMillis(300));
        // Everything in files, so that sizes are what a checkpoint really writes.
        conf.set(CheckpointingOptions.FS_SMALL_FILE_THRESHOLD, MemorySize.ZERO);
        if (optionsFactory) {
            conf.set(RocksDBOptions.OPTIONS_FACTORY, KvRocksDbOptionsFactory.class.getName());
        }
        return conf;
    }

    private static DataStream<ResponseEvent> job(
            StreamExecutionEnvironment env, String name, String[] events, PipelineConfig config) {
        env.setParallelism(1);
        // Numbers at a slow rate, turned into the phase's events and then nothing: an unbounded
        // source, so the job runs until it is stopped.
        DataGeneratorSource<Long> numbers = new DataGeneratorSource<>(
                i -> i, Long.MAX_VALUE, RateLimiterStrategy.perSecond(50), Types.LONG);
        DataStream<SessionEvent> input = env
                .fromSource(numbers, WatermarkStrategy.noWatermarks(), name)
                .uid("numbers-" + name)
                .flatMap(new ToEvents(events), SingleObjectTypeInfo.forRecord(SessionEvent.class))
                .uid("events-" + name);
        return InferenceJob.buildForTest(env, input, config);
    }

    private static List<ResponseEvent> read(CloseableIterator<ResponseEvent> results, int finals) {
        List<ResponseEvent> out = new ArrayList<>();
        int seen = 0;
        while (seen < finals && results.hasNext()) {
            ResponseEvent r = results.next();
            out.add(r);
            if (r.getPayload() instanceof FinalResponse) {
                seen++;
            }
        }
        assertThat(seen).isEqualTo(finals);
        return out;
    }

    /** Waits for a checkpoint folder with its metadata written, i.e. a completed checkpoint. */
    private static void awaitCompletedCheckpoint(Path checkpoints, Duration timeout) throws Exception {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (CheckpointFiles.completed(checkpoints) == 0) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("no completed checkpoint in " + checkpoints + " after " + timeout);
            }
            LockSupport.parkNanos(50_000_000L);
        }
    }

    /** Maps the first numbers of the source to the phase's events. */
    private static final class ToEvents implements FlatMapFunction<Long, SessionEvent> {
        private static final long serialVersionUID = 1L;

        private final String[] events;

        ToEvents(String[] events) {
            this.events = events;
        }

        @Override
        public void flatMap(Long i, Collector<SessionEvent> out) {
            if (i < events.length) {
                out.collect(parse(events[(int) (long) i]));
            }
        }

        static SessionEvent parse(String spec) {
            String[] f = spec.split("\\|");
            return f[2].equals("c")
                    ? Events.context(f[0], f[1], "user", f[3])
                    : Events.turn(f[0], f[1], f[3], Integer.parseInt(f[4]));
        }
    }
}
