package io.kvstream.pipeline.bench;

import io.kvstream.connect.serde.SingleObjectTypeSerializer;
import io.kvstream.pipeline.InferenceJob;
import io.kvstream.pipeline.PipelineConfig;
import io.kvstream.pipeline.operator.SessionInferenceOperatorFactory;
import io.kvstream.schema.ResponseEvent;
import io.kvstream.schema.SessionEvent;
import io.kvstream.schema.UserTurn;

import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.runtime.state.StateBackend;
import org.apache.flink.state.rocksdb.EmbeddedRocksDBStateBackend;
import org.apache.flink.state.rocksdb.RocksDBOptionsFactory;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;
import org.apache.flink.streaming.runtime.tasks.mailbox.Mail;
import org.apache.flink.streaming.runtime.tasks.mailbox.TaskMailbox;
import org.apache.flink.streaming.util.KeyedOneInputStreamOperatorTestHarness;
import org.rocksdb.ColumnFamilyOptions;
import org.rocksdb.DBOptions;
import org.rocksdb.Statistics;
import org.rocksdb.TickerType;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Collection;
import java.util.Optional;

/**
 * Bytes one chat turn writes into RocksDB, for sessions whose history is 1k, 4k and 16k tokens
 * long: the real operator in Flink's keyed test harness on the RocksDB state backend, with a
 * RocksDB {@link Statistics} object attached, read as {@code rocksdb.bytes.written} (keys and
 * values put or merged, before RocksDB's own flushes and compactions).
 *
 * <p>The session holds a sliding window of 1,024 tokens ({@code kivi2+window:sink=4,recent=1024}),
 * so its KV state stays bounded while its history grows past the model's context: what grows
 * with the session is what a turn rewrites besides its KV blocks.
 *
 * <pre>
 * ./mvnw -B -ntp -o -q -pl pipeline-jobs test-compile dependency:build-classpath \
 *     -Dmdep.outputFile=target/bench.cp -Dmdep.includeScope=test
 * java --add-modules jdk.incubator.vector -cp pipeline-jobs/target/test-classes:pipeline-jobs/target/classes:$(cat pipeline-jobs/target/bench.cp) \
 *     io.kvstream.pipeline.bench.TurnStateWrites ../shared/refmodel/refmodel-q8_0.gguf
 * </pre>
 */
public final class TurnStateWrites {

    private static final int[] HISTORIES = {1024, 4096, 16384};
    private static final String FILLER = "the quick brown fox jumps over the lazy dog and keeps on running. ";

    private TurnStateWrites() {}

    public static void main(String[] args) throws Exception {
        String model = args.length > 0 ? args[0] : "../shared/refmodel/refmodel-q8_0.gguf";
        PipelineConfig config = PipelineConfig.builder(Path.of(model).toAbsolutePath().toString())
                .threads(2)
                .device("cpu")
                .kvSpec("kivi2+window:sink=4,recent=1024")
                // The harness fires no timers by itself: steps start at once.
                .maxWait(java.time.Duration.ZERO)
                .build();
        Path dir = Files.createTempDirectory("turn-state-writes");
        System.out.printf("%-14s %-16s %s%n", "history", "turn writes", "(rocksdb.bytes.written, one user turn of 8 new tokens)");
        try (Run run = new Run(config, dir)) {
            int turn = 0;
            for (int target : HISTORIES) {
                // Long turns (a reply of one token each) until the history reaches the target.
                while (run.historyTokens() < target) {
                    run.send(filler("f" + turn++));
                    System.err.printf("  history %d tokens%n", run.historyTokens());
                }
                long before = StatsFactory.bytesWritten();
                run.send(userTurn("q" + turn++));
                long written = StatsFactory.bytesWritten() - before;
                System.out.printf("%-14d %,d bytes%n", run.historyTokens(), written);
            }
        }
    }

    private static SessionEvent filler(String id) {
        return event(id, UserTurn.newBuilder().setText(FILLER.repeat(40)).setMaxNewTokens(1).build());
    }

    private static SessionEvent userTurn(String id) {
        return event(id, UserTurn.newBuilder().setText("what did the fox do?").setMaxNewTokens(8).build());
    }

    private static SessionEvent event(String id, Object payload) {
        return SessionEvent.newBuilder().setEventId(id).setSessionId("s").setTimestampMs(0L).setPayload(payload).build();
    }

    /** The operator in the harness on RocksDB, run to completion after each event. */
    private static final class Run implements AutoCloseable {
        private final KeyedOneInputStreamOperatorTestHarness<String, SessionEvent, ResponseEvent> harness;
        private int history;

        Run(PipelineConfig config, Path dir) throws Exception {
            harness = new KeyedOneInputStreamOperatorTestHarness<>(
                    new SessionInferenceOperatorFactory(config), new InferenceJob.SessionKey(), Types.STRING,
                    new SingleObjectTypeSerializer<>(SessionEvent.class));
            EmbeddedRocksDBStateBackend backend = new EmbeddedRocksDBStateBackend(false);
            backend.setDbStoragePath(dir.toString());
            backend.setRocksDBOptions(new StatsFactory());
            harness.setStateBackend((StateBackend) backend);
            harness.setup(new SingleObjectTypeSerializer<>(ResponseEvent.class));
            harness.open();
        }

        void send(SessionEvent event) throws Exception {
            harness.processElement(new StreamRecord<>(event));
            Optional<Mail> mail;
            while ((mail = harness.getTaskMailbox().tryTake(TaskMailbox.MIN_PRIORITY)).isPresent()) {
                mail.get().run();
            }
            for (ResponseEvent r : harness.extractOutputValues()) {
                if (r.getPayload() instanceof io.kvstream.schema.ErrorEvent e) {
                    throw new IllegalStateException("Event " + r.getEventId() + " failed: " + e);
                }
                if (r.getPayload() instanceof io.kvstream.schema.FinalResponse f) {
                    history = f.getUsage().getCachedTokens() + f.getUsage().getPromptTokens()
                            + f.getUsage().getGeneratedTokens();
                }
            }
            harness.getOutput().clear();
        }

        int historyTokens() {
            return history;
        }

        @Override
        public void close() throws Exception {
            harness.close();
        }
    }

    /** Attaches one shared {@link Statistics} to the backend's RocksDB instance. */
    public static final class StatsFactory implements RocksDBOptionsFactory {
        private static final long serialVersionUID = 1L;
        private static Statistics statistics;

        static synchronized long bytesWritten() {
            return statistics == null ? 0 : statistics.getTickerCount(TickerType.BYTES_WRITTEN);
        }

        @Override
        public synchronized DBOptions createDBOptions(DBOptions current, Collection<AutoCloseable> handles) {
            statistics = new Statistics();
            handles.add(statistics);
            return current.setStatistics(statistics);
        }

        @Override
        public ColumnFamilyOptions createColumnOptions(ColumnFamilyOptions current, Collection<AutoCloseable> handles) {
            return current;
        }
    }
}
