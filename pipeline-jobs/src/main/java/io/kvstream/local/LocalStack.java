package io.kvstream.local;

import io.kvstream.connect.KvstreamKafkaConfig;
import io.kvstream.connect.KvstreamTopics;
import org.apache.flink.api.common.JobID;
import org.apache.flink.api.common.JobStatus;
import org.apache.flink.configuration.CheckpointingOptions;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.ExecutionOptions;
import org.apache.flink.configuration.PipelineOptions;
import org.apache.flink.configuration.RestOptions;
import org.apache.flink.configuration.RestartStrategyOptions;
import org.apache.flink.configuration.StateBackendOptions;
import org.apache.flink.core.execution.SavepointFormatType;
import org.apache.flink.configuration.TaskManagerOptions;
import org.apache.flink.runtime.checkpoint.CheckpointStatsSnapshot;
import org.apache.flink.runtime.checkpoint.CompletedCheckpointStats;
import org.apache.flink.runtime.checkpoint.FailedCheckpointStats;
import org.apache.flink.runtime.execution.ExecutionState;
import org.apache.flink.runtime.executiongraph.AccessExecutionGraph;
import org.apache.flink.runtime.executiongraph.AccessExecutionVertex;
import org.apache.flink.core.execution.SavepointFormatType;
import org.apache.flink.runtime.jobgraph.JobGraph;
import org.apache.flink.runtime.jobgraph.SavepointRestoreSettings;
import org.apache.flink.runtime.jobmaster.JobResult;
import org.apache.flink.runtime.minicluster.MiniCluster;
import org.apache.flink.runtime.minicluster.MiniClusterConfiguration;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import javax.annotation.Nullable;

import static org.apache.flink.util.Preconditions.checkState;

import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * The whole pipeline in one JVM: a Kafka broker, kvstream's topics, and a Flink job on a
 * MiniCluster with the RocksDB state backend and checkpoints in a local folder. What {@code
 * kvstream local} and the integration tests run; {@link #close()} takes it all down again.
 *
 * <p>Every start is a fresh stack: the broker's log lives in a temporary folder, so a new stack
 * has empty topics and its job starts without state. Checkpoints serve recovery within a run
 * (a failed task restarts from the last one), not across runs. Within a run, {@link
 * #stopWithSavepoint} and {@link #restart} stop the job and run it again from its state, at
 * another parallelism if wanted, as an operator rescaling a deployment would.
 */
public final class LocalStack implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(LocalStack.class);

    /** Builds the job's dataflow on the environment; Kafka settings point at the local broker. */
    @FunctionalInterface
    public interface JobDefinition {
        void build(StreamExecutionEnvironment env, KvstreamKafkaConfig kafka) throws Exception;
    }

    /** How to run the stack. */
    public static final class Settings {
        Path checkpointDir = Paths.get("kvstream-local", "checkpoints");
        Duration checkpointInterval = Duration.ofSeconds(10);
        int parallelism = 1;
        int slots = 0;
        int partitions = 4;
        int restartAttempts = 3;
        final Map<String, String> flinkConfig = new LinkedHashMap<>();
        final Map<String, String> kafkaConfig = new LinkedHashMap<>();

        public Settings checkpointDir(Path dir) {
            this.checkpointDir = dir;
            return this;
        }

        public Settings checkpointInterval(Duration interval) {
            this.checkpointInterval = interval;
            return this;
        }

        /** Parallelism of the job, and slots of the MiniCluster's one task manager. */
        public Settings parallelism(int parallelism) {
            this.parallelism = parallelism;
            return this;
        }

        /**
         * Slots of the MiniCluster's one task manager when more than the parallelism: room for
         * {@link LocalStack#restart} at a higher one.
         */
        public Settings slots(int slots) {
            this.slots = slots;
            return this;
        }

        int slotCount() {
            return Math.max(slots, parallelism);
        }

        /** Partitions of the events and responses topics. */
        public Settings partitions(int partitions) {
            this.partitions = partitions;
            return this;
        }

        /** Restarts of a failing job before the stack gives up; 0 fails at once (tests). */
        public Settings restartAttempts(int attempts) {
            this.restartAttempts = attempts;
            return this;
        }

        /** Any Flink setting, e.g. {@code pipeline.generic-types=false}. */
        public Settings flink(String key, String value) {
            flinkConfig.put(key, value);
            return this;
        }

        /** Any {@link KvstreamKafkaConfig} or Kafka client setting. */
        public Settings kafka(String key, String value) {
            kafkaConfig.put(key, value);
            return this;
        }
    }

    private final LocalKafka kafka;
    private final KvstreamKafkaConfig kafkaConfig;
    private final MiniCluster flink;
    private final Configuration conf;
    private final int parallelism;
    private volatile JobID jobId;
    private final Path checkpointDir;
    private final Duration startup;
    private volatile boolean closed;
    /** False between {@link #stopWithSavepoint} and {@link #restart}: nothing to cancel. */
    private volatile boolean running = true;

    private LocalStack(LocalKafka kafka, KvstreamKafkaConfig kafkaConfig, MiniCluster flink, Configuration conf,
                       int parallelism, JobID jobId, Path checkpointDir, Duration startup) {
        this.kafka = kafka;
        this.kafkaConfig = kafkaConfig;
        this.flink = flink;
        this.conf = conf;
        this.parallelism = parallelism;
        this.jobId = jobId;
        this.checkpointDir = checkpointDir;
        this.startup = startup;
    }

    /** Starts Kafka, creates the topics, starts Flink and submits the job; returns once it runs. */
    public static LocalStack start(Settings settings, JobDefinition job) throws Exception {
        long t0 = System.nanoTime();
        LocalKafka kafka = LocalKafka.start();
        long kafkaReady = System.nanoTime();
        MiniCluster flink = null;
        try {
            KvstreamKafkaConfig kafkaConfig = kafkaConfig(kafka.bootstrapServers(), settings);
            KvstreamTopics.ensure(kafkaConfig, Duration.ofSeconds(30));
            long topicsReady = System.nanoTime();
            Path checkpoints = settings.checkpointDir.toAbsolutePath().normalize();
            Files.createDirectories(checkpoints);
            Configuration conf = flinkConfiguration(settings, checkpoints);
            flink = new MiniCluster(new MiniClusterConfiguration.Builder()
                    .setConfiguration(conf)
                    .setNumTaskManagers(1)
                    .setNumSlotsPerTaskManager(settings.slotCount())
                    .build());
            flink.start();
            long flinkReady = System.nanoTime();
            JobID id = submit(flink, conf, job, kafkaConfig, settings.parallelism, null);
            long end = System.nanoTime();
            Duration startup = Duration.ofNanos(end - t0);
            LOG.info("Local stack up in {} ms (Kafka {} ms, topics {} ms, Flink {} ms, job and model {} ms):"
                            + " Kafka {}, checkpoints {}",
                    startup.toMillis(), (kafkaReady - t0) / 1_000_000, (topicsReady - kafkaReady) / 1_000_000,
                    (flinkReady - topicsReady) / 1_000_000, (end - flinkReady) / 1_000_000,
                    kafka.bootstrapServers(), checkpoints);
            return new LocalStack(kafka, kafkaConfig, flink, conf, settings.parallelism, id, checkpoints, startup);
        } catch (Exception | Error e) {
            if (flink != null) {
                closeQuietly(flink);
            }
            kafka.close();
            throw e;
        }
    }

    /** Builds the job, submits it (restoring {@code savepoint} when given) and waits until it runs. */
    private static JobID submit(MiniCluster flink, Configuration conf, JobDefinition job, KvstreamKafkaConfig kafka,
                                int parallelism, @Nullable String savepoint) throws Exception {
        StreamExecutionEnvironment env = new StreamExecutionEnvironment(conf);
        env.setParallelism(parallelism);
        job.build(env, kafka);
        JobGraph graph = env.getStreamGraph().getJobGraph(LocalStack.class.getClassLoader(), null);
        if (savepoint != null) {
            // Not allowing unrestored state: a savepoint whose operators the job lacks is an error.
            graph.setSavepointRestoreSettings(SavepointRestoreSettings.forPath(savepoint, false));
        }
        JobID id = flink.submitJob(graph).get(60, TimeUnit.SECONDS).getJobID();
        awaitRunning(flink, id, Duration.ofSeconds(60));
        return id;
    }

    /**
     * Stops the job with a savepoint in {@code dir}: sources stop, the sinks commit what they
     * wrote, and the state is written out. Returns the savepoint's path, for {@link #restart}.
     * The broker and the MiniCluster stay up.
     */
    public synchronized String stopWithSavepoint(Path dir) throws Exception {
        checkState(running, "The job is not running");
        Files.createDirectories(dir);
        String path = flink.stopWithSavepoint(jobId, dir.toAbsolutePath().toUri().toString(), false,
                SavepointFormatType.CANONICAL).get(120, TimeUnit.SECONDS);
        flink.requestJobResult(jobId).get(60, TimeUnit.SECONDS);
        running = false;
        LOG.info("Job {} stopped with savepoint {}", jobId, path);
        return path;
    }

    /**
     * Runs the job again after {@link #stopWithSavepoint}, from that savepoint, at {@code
     * parallelism} (at most the slots of the {@link Settings}); returns once it runs. The job may
     * be built anew, but its operators' uids must match the savepoint's.
     */
    public synchronized void restart(JobDefinition job, int parallelism, String savepoint) throws Exception {
        checkState(!running, "Stop the job first");
        jobId = submit(flink, conf, job, kafkaConfig, parallelism, savepoint);
        running = true;
        LOG.info("Job {} restored from {} at parallelism {}", jobId, savepoint, parallelism);
    }

    /**
     * Submits a job on this stack's Kafka and Flink, restored from {@code savepoint} at the
     * stack's parallelism, after {@link #stopWithSavepoint}; returns once it runs. The job may be
     * built differently (another model, another {@code --kv}): that is what tests use it for.
     */
    public synchronized void restore(JobDefinition job, String savepoint) throws Exception {
        restart(job, parallelism, savepoint);
    }

    static KvstreamKafkaConfig kafkaConfig(String bootstrap, Settings settings) {
        KvstreamKafkaConfig.Builder b = KvstreamKafkaConfig.builder()
                .bootstrapServers(bootstrap)
                .eventsPartitions(settings.partitions)
                .responsesPartitions(settings.partitions)
                .deadLettersPartitions(1)
                .replicationFactor((short) 1)
                .startingOffsets(KvstreamKafkaConfig.StartingOffsets.EARLIEST);
        if (settings.kafkaConfig.isEmpty()) {
            return b.build();
        }
        java.util.Properties props = new java.util.Properties();
        props.setProperty("bootstrap.servers", bootstrap);
        props.setProperty(KvstreamKafkaConfig.EVENTS_PARTITIONS, String.valueOf(settings.partitions));
        props.setProperty(KvstreamKafkaConfig.RESPONSES_PARTITIONS, String.valueOf(settings.partitions));
        props.setProperty(KvstreamKafkaConfig.REPLICATION_FACTOR, "1");
        props.setProperty(KvstreamKafkaConfig.STARTING_OFFSETS, "earliest");
        settings.kafkaConfig.forEach(props::setProperty);
        return KvstreamKafkaConfig.fromProperties(props);
    }

    static Configuration flinkConfiguration(Settings settings, Path checkpoints) {
        Configuration conf = new Configuration();
        conf.set(StateBackendOptions.STATE_BACKEND, "rocksdb");
        // Every stored type has its own serializer: Kryo falling in would be a bug, found here.
        conf.set(PipelineOptions.GENERIC_TYPES, false);
        conf.set(CheckpointingOptions.CHECKPOINTS_DIRECTORY, checkpoints.toUri().toString());
        conf.set(CheckpointingOptions.INCREMENTAL_CHECKPOINTS, true);
        conf.set(CheckpointingOptions.CHECKPOINTING_INTERVAL, settings.checkpointInterval);
        // The default strategy restarts forever: a job that cannot start would hang the command.
        if (settings.restartAttempts > 0) {
            conf.set(RestartStrategyOptions.RESTART_STRATEGY, "fixed-delay");
            conf.set(RestartStrategyOptions.RESTART_STRATEGY_FIXED_DELAY_ATTEMPTS, settings.restartAttempts);
            conf.set(RestartStrategyOptions.RESTART_STRATEGY_FIXED_DELAY_DELAY, Duration.ofSeconds(2));
        } else {
            conf.set(RestartStrategyOptions.RESTART_STRATEGY, "none");
        }
        // Tokens stream to the user: ship each network buffer within 5 ms, not Flink's default 100.
        conf.set(ExecutionOptions.BUFFER_TIMEOUT, Duration.ofMillis(5));
        // Several stacks (tests, other users) may share the machine: no fixed web UI port.
        conf.set(RestOptions.BIND_PORT, "0");
        conf.set(TaskManagerOptions.NUM_TASK_SLOTS, settings.slotCount());
        // Models and KV caches live on the heap of this one JVM, not in Flink's memory budget.
        conf.setString("taskmanager.memory.managed.fraction", "0.1");
        settings.flinkConfig.forEach(conf::setString);
        return conf;
    }

    private static void awaitRunning(MiniCluster flink, JobID id, Duration timeout) throws Exception {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (true) {
            JobStatus status = flink.getJobStatus(id).get(10, TimeUnit.SECONDS);
            if (status == JobStatus.RUNNING && allTasksRunning(flink, id)) {
                return;
            }
            if (status.isTerminalState()) {
                JobResult result = flink.requestJobResult(id).get(10, TimeUnit.SECONDS);
                Throwable cause = result.getSerializedThrowable()
                        .map(t -> (Throwable) t.deserializeError(LocalStack.class.getClassLoader())).orElse(null);
                throw new IllegalStateException("The job ended while starting: " + status
                        + (cause != null ? ": " + cause : ""), cause);
            }
            if (System.nanoTime() > deadline) {
                throw new TimeoutException("The job is still " + status + " after " + timeout.toSeconds() + " s");
            }
            Thread.sleep(50);
        }
    }

    // A task is RUNNING once its operators are open, i.e. once the model is loaded: only then can
    // the stack answer, so that is when start-up ends.
    private static boolean allTasksRunning(MiniCluster flink, JobID id) throws Exception {
        AccessExecutionGraph graph = flink.getExecutionGraph(id).get(10, TimeUnit.SECONDS);
        for (AccessExecutionVertex v : graph.getAllExecutionVertices()) {
            if (v.getExecutionState() != ExecutionState.RUNNING) {
                return false;
            }
        }
        return true;
    }

    public KvstreamKafkaConfig kafkaConfig() {
        return kafkaConfig;
    }

    public String bootstrapServers() {
        return kafka.bootstrapServers();
    }

    public Path checkpointDir() {
        return checkpointDir;
    }

    public Duration startupTime() {
        return startup;
    }

    public JobID jobId() {
        return jobId;
    }

    public MiniCluster miniCluster() {
        return flink;
    }

    /** The job's status now. */
    public JobStatus jobStatus() throws Exception {
        return flink.getJobStatus(jobId).get(10, TimeUnit.SECONDS);
    }

    /**
     * What the job's checkpoints did so far.
     *
     * @param lastStateBytes full state size of the newest completed checkpoint, 0 when none
     * @param lastCheckpointedBytes bytes that checkpoint uploaded (incremental), 0 when none
     * @param lastFailure why the newest failed checkpoint failed, null when none did
     */
    public record CheckpointCounts(long completed, long failed, long lastStateBytes, long lastCheckpointedBytes,
                                   long lastDurationMs, @Nullable String lastFailure) {

        @Override
        public String toString() {
            return String.format("%d completed, %d failed; newest %.1f MiB of state, %.1f MiB uploaded, in %d ms%s",
                    completed, failed, lastStateBytes / 1048576.0, lastCheckpointedBytes / 1048576.0,
                    lastDurationMs, lastFailure == null ? "" : "; last failure: " + lastFailure);
        }
    }

    /** The job's checkpoint statistics now, as Flink's web UI shows them. */
    public CheckpointCounts checkpoints() throws Exception {
        CheckpointStatsSnapshot stats =
                flink.getExecutionGraph(jobId).get(10, TimeUnit.SECONDS).getCheckpointStatsSnapshot();
        if (stats == null) {
            return new CheckpointCounts(0, 0, 0, 0, 0, null);
        }
        CompletedCheckpointStats last = stats.getHistory().getLatestCompletedCheckpoint();
        FailedCheckpointStats failed = stats.getHistory().getLatestFailedCheckpoint();
        return new CheckpointCounts(
                stats.getCounts().getNumberOfCompletedCheckpoints(),
                stats.getCounts().getNumberOfFailedCheckpoints(),
                last == null ? 0 : last.getStateSize(),
                last == null ? 0 : last.getCheckpointedSize(),
                last == null ? 0 : last.getEndToEndDuration(),
                failed == null ? null : failed.getFailureMessage());
    }

    /** Where things are, for the user. */
    public void printInfo(PrintStream out) {
        out.printf("kvstream local: up in %.1f s%n", startup.toMillis() / 1000.0);
        out.printf("  kafka        %s (topics %s, %s, %s)%n", bootstrapServers(), kafkaConfig.eventsTopic(),
                kafkaConfig.responsesTopic(), kafkaConfig.deadLettersTopic());
        out.printf("  checkpoints  %s%n", checkpointDir);
        flink.getRestAddress().thenAccept(uri -> out.printf("  flink web ui %s%n", uri)).getNow(null);
        out.printf("  other terminals: bin/kvstream chat --bootstrap %s%n", bootstrapServers());
    }

    /**
     * Closes the stack when the JVM exits (Ctrl-C included), unless closed before. The hook only
     * closes: the caller's own {@code close()} on the normal path stays the one that runs first.
     */
    public LocalStack closeOnShutdown() {
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            if (!closed) {
                System.err.println("kvstream local: shutting down");
                close();
            }
        }, "kvstream-local-shutdown"));
        return this;
    }

    /** Cancels the job, then stops Flink and Kafka; idempotent, never throws. */
    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        long t0 = System.nanoTime();
        try {
            // Cancel first, so the sinks stop writing before the broker goes.
            if (running) {
                flink.cancelJob(jobId).get(30, TimeUnit.SECONDS);
            }
            CompletableFuture<JobResult> result = flink.requestJobResult(jobId);
            result.get(30, TimeUnit.SECONDS);
        } catch (Exception e) {
            LOG.warn("Cancelling the job: {}", e.toString());
        }
        closeQuietly(flink);
        try {
            kafka.close();
        } catch (Exception e) {
            LOG.warn("Stopping Kafka: {}", e.toString());
        }
        LOG.info("Local stack down in {} ms", (System.nanoTime() - t0) / 1_000_000);
    }

    private static void closeQuietly(MiniCluster flink) {
        try {
            flink.closeAsync().get(60, TimeUnit.SECONDS);
        } catch (Exception e) {
            LOG.warn("Stopping Flink: {}", e.toString());
        }
    }
}
