package io.kvstream.pipeline;

import io.kvstream.pipeline.testing.CheckpointFiles;

import static org.assertj.core.api.Assertions.assertThat;

import io.kvstream.connect.serde.SingleObjectTypeInfo;
import io.kvstream.kv.state.KvRocksDbOptionsFactory;
import io.kvstream.pipeline.operator.OperatorHarnessRun;
import io.kvstream.schema.FinalResponse;
import io.kvstream.schema.ResponseEvent;
import io.kvstream.schema.SessionEvent;

import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.common.functions.FlatMapFunction;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.api.connector.source.util.ratelimit.RateLimiterStrategy;
import org.apache.flink.configuration.CheckpointingOptions;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.PipelineOptions;
import org.apache.flink.configuration.RestartStrategyOptions;
import org.apache.flink.configuration.StateBackendOptions;
import org.apache.flink.configuration.StateRecoveryOptions;
import org.apache.flink.connector.datagen.source.DataGeneratorSource;
import org.apache.flink.core.execution.JobClient;
import org.apache.flink.core.execution.SavepointFormatType;
import org.apache.flink.runtime.testutils.MiniClusterResourceConfiguration;
import org.apache.flink.state.rocksdb.RocksDBOptions;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.test.junit5.MiniClusterExtension;
import org.apache.flink.util.CloseableIterator;
import org.apache.flink.util.Collector;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Sessions whose KV caches live in RocksDB state: the job is stopped with a savepoint after the
 * first turns, a fresh job restores from it and continues the sessions; they answer as sessions
 * that never left memory. Prints the sizes of the incremental checkpoints and of the savepoint.
 */
class RocksDbRestoreTest {

    @RegisterExtension
    static final MiniClusterExtension CLUSTER = new MiniClusterExtension(
            new MiniClusterResourceConfiguration.Builder()
                    .setNumberTaskManagers(1)
                    .setNumberSlotsPerTaskManager(1)
                    .build());

    private static final String FILLER = filler();

    /** session|event id|kind|text|max new tokens; kind c: context message, t: user turn. */
    private static final String[] FIRST = {
        "a|a0|c|" + FILLER + "|0",
        "a|a1|t|my favorite color is white.|8",
        "b|b0|c|" + FILLER + "|0",
        "b|b1|t|my lucky number is 94842.|8",
    };

    private static final String[] SECOND = {
        "a|a2|t|what is my favorite color?|8",
        "b|b2|t|what is my lucky number?|8",
    };

    @ParameterizedTest(name = "kv={0}, options factory={1}")
    @CsvSource({"kivi2, true", "full, true", "kivi2, false", "full, false"})
    void sessionsContinueFromASavepointOfRocksDbState(String kv, boolean optionsFactory, @TempDir Path dir)
            throws Exception {
        PipelineConfig config = TestModels.refmodel(kv).build();
        Path checkpoints = dir.resolve("checkpoints");
        Path savepoints = dir.resolve("savepoints");

        Configuration conf = conf(checkpoints, optionsFactory);
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment(conf);
        CloseableIterator<ResponseEvent> results = job(env, "first", FIRST, config).collectAsync();
        JobClient first = env.executeAsync("kvstream-first");
        List<ResponseEvent> out;
        long checkpointBytes;
        String savepoint;
        try {
            out = new ArrayList<>(read(results, 2));
            // Measure once a periodic incremental checkpoint has completed after the state was written.
            awaitCompletedCheckpoint(checkpoints, java.time.Duration.ofSeconds(60));
            checkpointBytes = CheckpointFiles.bytes(checkpoints);
            savepoint = first.stopWithSavepoint(false, savepoints.toUri().toString(), SavepointFormatType.NATIVE)
                    .get();
        } catch (Exception | AssertionError e) {
            // Free the mini cluster's slots for the next case, whatever failed here.
            first.cancel();
            throw e;
        } finally {
            results.close();
        }
        long savepointBytes = CheckpointFiles.bytes(Path.of(java.net.URI.create(savepoint)));

        Configuration restore = conf(checkpoints, optionsFactory);
        restore.set(StateRecoveryOptions.SAVEPOINT_PATH, savepoint);
        restore.set(StateRecoveryOptions.SAVEPOINT_IGNORE_UNCLAIMED_STATE, true);
        StreamExecutionEnvironment env2 = StreamExecutionEnvironment.getExecutionEnvironment(restore);
        CloseableIterator<ResponseEvent> results2 = job(env2, "second", SECOND, config).collectAsync();
        JobClient second = env2.executeAsync("kvstream-second");
        try {
            out.addAll(read(results2, 2));
        } finally {
            second.cancel().get();
            results2.close();
        }

        System.out.printf(
                "RocksDB state, kv=%s, KvRocksDbOptionsFactory=%s: checkpoint dir %,d bytes, native savepoint %,d bytes%n",
                kv, optionsFactory, checkpointBytes, savepointBytes);

        Map<String, FinalResponse> expected = Responses.finals(OperatorHarnessRun.run(config, events(FIRST), events(SECOND)));
        Map<String, FinalResponse> actual = Responses.finals(out);
        assertThat(actual.keySet()).containsExactlyInAnyOrder("a1", "b1", "a2", "b2");
        for (String id : expected.keySet()) {
            assertThat(actual.get(id).getText()).as(id).isEqualTo(expected.get(id).getText());
        }
        assertThat(actual.get("a2").getText()).isEqualTo("white");
        // The restored job served the sessions from their stored blocks, not by prefilling again.
        assertThat(actual.get("a2").getUsage().getCachedTokens()).isGreaterThan(100);
        assertThat(actual.get("b2").getUsage().getCachedTokens()).isGreaterThan(100);
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
        conf.set(CheckpointingOptions.FS_SMALL_FILE_THRESHOLD, org.apache.flink.configuration.MemorySize.ZERO);
        if (optionsFactory) {
            conf.set(RocksDBOptions.OPTIONS_FACTORY, KvRocksDbOptionsFactory.class.getName());
        }
        return conf;
    }

    private static org.apache.flink.streaming.api.datastream.DataStream<ResponseEvent> job(
            StreamExecutionEnvironment env, String name, String[] events, PipelineConfig config) {
        env.setParallelism(1);
        // Numbers at a slow rate, turned into the phase's events and then nothing: an unbounded
        // source, so the job runs until it is stopped.
        DataGeneratorSource<Long> numbers = new DataGeneratorSource<>(
                i -> i, Long.MAX_VALUE, RateLimiterStrategy.perSecond(50), Types.LONG);
        org.apache.flink.streaming.api.datastream.DataStream<SessionEvent> input = env
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

    static SessionEvent[] events(String[] specs) {
        SessionEvent[] out = new SessionEvent[specs.length];
        for (int i = 0; i < specs.length; i++) {
            out[i] = ToEvents.parse(specs[i]);
        }
        return out;
    }

    private static String filler() {
        StringBuilder sb = new StringBuilder();
        String[] words = {"guni", "rocode", "vo", "te", "nabo", "kohare", "lorola", "kaha", "suco"};
        for (int i = 0; i < 120; i++) {
            sb.append(words[i % words.length]).append(i % 10 == 9 ? ". " : " ");
        }
        return sb.toString().strip();
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

    /** Waits for a checkpoint folder with its metadata written, i.e. a completed checkpoint. */
    private static void awaitCompletedCheckpoint(Path checkpoints, java.time.Duration timeout) throws Exception {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (CheckpointFiles.completed(checkpoints) == 0) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("no completed checkpoint in " + checkpoints + " after " + timeout);
            }
            java.util.concurrent.locks.LockSupport.parkNanos(50_000_000L);
        }
    }
}
